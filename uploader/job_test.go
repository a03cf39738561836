package uploader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"hotfolder/ratelimit"
)

func TestSubmitBody(t *testing.T) {
	src := source()
	rb := func(o RemoveBackground, format string) Step {
		s := Step{Op: OpRemoveBackground, RemoveBackground: &o}
		if format != "" {
			s.Outputs = []Rendition{{Format: format}}
		}
		return s
	}
	tests := []struct {
		name string
		step Step
		want string
	}{
		{"cutout png", rb(RemoveBackground{Mode: "cutout"}, "png"),
			`{"image":{"source":{"url":"` + src.URL + `"}},"mode":"cutout","output":{"mediaType":"image/png"}}`},
		{"mask jpeg on white", rb(RemoveBackground{Mode: "mask", BackgroundColor: &Color{255, 255, 255, 1}}, "jpeg"),
			`{"image":{"source":{"url":"` + src.URL + `"}},"mode":"mask","output":{"mediaType":"image/jpeg"},
			  "backgroundColor":{"red":255,"green":255,"blue":255,"alpha":1}}`},
		{"half-transparent red psd", rb(RemoveBackground{Mode: "psd", BackgroundColor: &Color{255, 0, 0, 0.5}}, "psd"),
			`{"image":{"source":{"url":"` + src.URL + `"}},"mode":"psd","output":{"mediaType":"image/vnd.adobe.photoshop"},
			  "backgroundColor":{"red":255,"green":0,"blue":0,"alpha":0.5}}`},
		{"trimmed webp, decontaminated by half", rb(RemoveBackground{Trim: true, ColorDecontamination: new(0.5)}, "webp"),
			`{"image":{"source":{"url":"` + src.URL + `"}},"output":{"mediaType":"image/webp"},"trim":true,"colorDecontamination":0.5}`},
		{"no decontamination is sent as 0", rb(RemoveBackground{ColorDecontamination: new(0.0)}, "png"),
			`{"image":{"source":{"url":"` + src.URL + `"}},"output":{"mediaType":"image/png"},"colorDecontamination":0}`},
		{"Adobe's defaults", rb(RemoveBackground{}, ""),
			`{"image":{"source":{"url":"` + src.URL + `"}}}`},
		{"no options at all", Step{Op: OpRemoveBackground},
			`{"image":{"source":{"url":"` + src.URL + `"}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.adobe.on("POST /v2/remove-background", acceptedReply)
			if _, err := e.c.Submit(context.Background(), tc.step, src.URL); err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(e.adobe.requests("POST /v2/remove-background")[0].body, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body\n%v\nwant\n%v", got, want)
			}
		})
	}
}

func TestSubmitAnswers(t *testing.T) {
	tests := []struct {
		name       string
		reply      reply
		wantID     string
		wantStatus string // "" : built from the id under the fake server
	}{
		{"202 without statusUrl: built, id escaped", reply{status: 202, body: `{"jobId":"` + jobID + `"}`}, jobID, ""},
		// A statusUrl on the configured API host ({api}) is polled as it is;
		// one on another host would get the credentials: the URL is built
		// from the id on the configured host instead.
		{"201 with statusUrl", reply{status: 201, body: `{"jobId":"j1","statusUrl":"{api}/v2/status/j1?t=1"}`},
			"j1", "/v2/status/j1?t=1"},
		{"statusUrl on another host", reply{status: 201, body: `{"jobId":"j1","statusUrl":"https://elsewhere.example/v2/status/j1"}`},
			"j1", ""},
		{"200 with a relative statusUrl", reply{status: 200, body: `{"jobId":"j2","statusUrl":"/v2/status/j2"}`}, "j2", "/v2/status/j2"},
		{"v1 _links.self", reply{status: 202, body: `{"_links":{"self":{"href":"{api}/sensei/status/abc"}}}`},
			"abc", "/sensei/status/abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			tc.reply.body = strings.ReplaceAll(tc.reply.body, "{api}", e.adobe.URL())
			e.adobe.on("POST /v2/remove-background", tc.reply)
			job, err := e.c.Submit(context.Background(), rbStep(), source().URL)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.wantStatus
			switch {
			case want == "":
				want = e.adobe.URL() + "/v2/status/" + url.PathEscape(tc.wantID)
			case strings.HasPrefix(want, "/"):
				want = e.adobe.URL() + want
			}
			if job.ID != tc.wantID || job.StatusURL != want || job.Op != OpRemoveBackground || !job.Submitted.Equal(e.clock.Now()) ||
				job.API != e.adobe.URL() {
				t.Errorf("job %+v, want id %q, status URL %q", job, tc.wantID, want)
			}
		})
	}
	t.Run("no job id", func(t *testing.T) {
		e := newEnv(t, nil)
		e.adobe.on("POST /v2/remove-background", reply{status: 202, body: `{}`})
		if _, err := e.c.Submit(context.Background(), rbStep(), source().URL); err == nil || !strings.HasPrefix(err.Error(), "submit: ") {
			t.Errorf("error %v", err)
		}
	})
}

func TestStatusParsing(t *testing.T) {
	const (
		png  = "https://results.example/out.png?sig=" + sigMarker
		jpeg = "https://results.example/out.jpg"
	)
	running := reply{status: 200, body: `{"status":"running","jobId":"j"}`}
	tests := []struct {
		name     string
		replies  []reply
		wantURL  string
		wantType string
		gets     int
		failCode string // a failed job: its code
		failMsg  string
	}{
		{"pending, running, succeeded with destination.url (202s)", []reply{
			{status: 202, body: `{"status":"pending"}`},
			{status: 202, body: `{"status":"running"}`},
			{status: 202, body: `{"jobId":"j","status":"succeeded","result":{"outputs":[{"destination":{"url":"` + png + `"},"mediaType":"image/png"}]}}`},
		}, png, "image/png", 3, "", ""},
		{"SUCCEEDED in capitals, 200", []reply{
			{status: 200, body: `{"status":"SUCCEEDED","result":{"outputs":[{"destination":{"url":"` + png + `"},"mediaType":"image/png"}]}}`},
		}, png, "image/png", 1, "", ""},
		{"unknown status means still running", []reply{
			{status: 200, body: `{"status":"queued"}`},
			{status: 200, body: `{"status":"in-progress"}`},
			{status: 200, body: `{}`},
			{status: 200, body: `{"status":"succeeded","result":{"outputs":[{"destination":{"url":"` + png + `"}}]}}`},
		}, png, "image/png", 4, "", ""},
		{"result.outputs[].url", []reply{running,
			{status: 200, body: `{"status":"succeeded","result":{"outputs":[{"url":"` + jpeg + `","mediaType":"image/jpeg"}]}}`},
		}, jpeg, "image/jpeg", 2, "", ""},
		{"top-level outputs[]", []reply{
			{status: 200, body: `{"status":"succeeded","outputs":[{"destination":{"url":"` + png + `"},"mediaType":"image/png"}]}`},
		}, png, "image/png", 1, "", ""},
		{"v1 psdService: per-output status and renditions", []reply{
			{status: 200, body: `{"jobId":"j","outputs":[{"status":"running"}]}`},
			{status: 200, body: `{"jobId":"j","outputs":[{"status":"succeeded","_links":{"renditions":[{"href":"` + png + `","type":"image/png"}]}}]}`},
		}, png, "image/png", 2, "", ""},
		{"v1 _links.renditions at the top", []reply{
			{status: 200, body: `{"status":"succeeded","_links":{"renditions":[{"href":"` + png + `","type":"image/png"}]}}`},
		}, png, "image/png", 1, "", ""},
		{"embedded outputs skipped, requested type preferred", []reply{
			{status: 200, body: `{"status":"succeeded","result":{"outputs":[
				{"destination":{"embedded":"string","content":"<?xml"},"mediaType":"application/rdf+xml"},
				{"destination":{"url":"` + jpeg + `"},"mediaType":"image/jpeg"},
				{"destination":{"url":"` + png + `"},"mediaType":"image/png"}]}}`},
		}, png, "image/png", 1, "", ""},
		{"failed with errorDetails[]", []reply{running,
			{status: 200, body: `{"jobId":"j","status":"failed","errorDetails":[{"errorCode":"400401","message":"The value provided is not valid."}]}`},
		}, "", "", 2, "400401", "The value provided is not valid."},
		{"failed with error_code and message", []reply{
			{status: 200, body: `{"status":"Failed","error_code":"runtime_error","message":"Something broke."}`},
		}, "", "", 1, "runtime_error", "Something broke."},
		{"failed with v1 errors{}", []reply{
			{status: 200, body: `{"status":"failed","errors":{"type":"InputValidationError","code":"400","title":"request parameters didn't validate","details":[{"name":"input","reason":"unsupported"}]}}`},
		}, "", "", 1, "400", "request parameters didn't validate"},
		{"failed with output-level errors", []reply{
			{status: 200, body: `{"outputs":[{"status":"failed","errors":{"code":"415","title":"Unsupported media type"}}]}`},
		}, "", "", 1, "415", "Unsupported media type"},
		{"succeeded with no URL is a failure, not a wait", []reply{
			{status: 200, body: `{"status":"succeeded","result":{"outputs":[]}}`},
		}, "", "", 1, "no_output", "the job succeeded but its status names no http(s) output URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.adobe.on("GET /v2/status/", tc.replies...)
			outs, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: e.clock.Now(),
				MediaTypes: []string{"image/png"}})
			if n := len(e.adobe.requests("GET /v2/status/")); n != tc.gets {
				t.Errorf("%d status requests, want %d", n, tc.gets)
			}
			if n := e.limiter.Waits(ratelimit.RemoveBackgroundGet); n != tc.gets {
				t.Errorf("%d limiter waits on the status bucket, want %d", n, tc.gets)
			}
			if tc.failCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(outs) != 1 {
					t.Fatalf("outputs %+v, want one", outs)
				}
				if out := outs[0]; out.URL != tc.wantURL || out.MediaType != tc.wantType {
					t.Errorf("output %+v, want %s (%s)", out, tc.wantURL, tc.wantType)
				}
				return
			}
			var jf *JobFailedError
			if !errors.As(err, &jf) {
				t.Fatalf("error %v, want a *JobFailedError", err)
			}
			if jf.JobID != jobID || jf.Code != tc.failCode || jf.Message != tc.failMsg {
				t.Errorf("failure %+v, want code %q message %q", jf, tc.failCode, tc.failMsg)
			}
			if IsFatal(err) || jf.Hint() == "" || !strings.Contains(err.Error(), tc.failCode) {
				t.Errorf("failure %v: fatal %v, hint %q", err, IsFatal(err), jf.Hint())
			}
		})
	}
}

func TestStatusURL(t *testing.T) {
	e := newEnv(t, nil)
	e.adobe.on("GET /v2/status/", reply{status: 200, body: `{"status":"succeeded","outputs":[{"url":"https://r.example/o.png"}]}`})
	if _, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground}); err != nil {
		t.Fatal(err)
	}
	if got := e.adobe.requests("GET /v2/status/")[0].path; got != "/v2/status/"+jobID {
		t.Errorf("status path %q", got)
	}
}

func TestJobGone(t *testing.T) {
	for _, body := range []string{`{"error_code":"unknown_job_id","message":"Job not found"}`, ``, `<html>not found</html>`} {
		e := newEnv(t, nil)
		e.adobe.on("GET /v2/status/", reply{status: 200, body: `{"status":"running"}`}, reply{status: 404, body: body})
		_, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: e.clock.Now()})
		if !errors.Is(err, ErrJobGone) {
			t.Fatalf("404 %q: error %v, want ErrJobGone", body, err)
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 404 || IsFatal(err) || Hint(err) == "" {
			t.Errorf("404 %q: %v: want a non-fatal error with the *APIError and a hint", body, err)
		}
	}
}

func TestWaitDeadline(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.JobTimeout = time.Minute })
	e.adobe.on("GET /v2/status/", reply{status: 200, body: `{"status":"running"}`})
	start := e.clock.Now()
	_, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: start})
	if !errors.Is(err, ErrJobTimeout) {
		t.Fatalf("error %v, want ErrJobTimeout", err)
	}
	if !strings.Contains(err.Error(), "may still finish at Adobe") {
		t.Errorf("error %q does not say the job may still finish", err)
	}
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatal("not a *TimeoutError")
	}
	gets := e.adobe.requests("GET /v2/status/")
	if te.Gets != len(gets) {
		t.Errorf("error counts %d GETs, the server saw %d", te.Gets, len(gets))
	}
	if last := gets[len(gets)-1].at; !last.Equal(start.Add(time.Minute)) {
		t.Errorf("last GET at +%s, want one at the deadline", last.Sub(start))
	}
	if IsFatal(err) {
		t.Error("a timeout is fatal")
	}
}

// The deadline counts from the submission, not from the call to Wait.
func TestWaitDeadlineFromSubmission(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.JobTimeout = time.Minute })
	e.adobe.on("GET /v2/status/", reply{status: 200, body: `{"status":"running"}`})
	job := Job{ID: jobID, Op: OpRemoveBackground, Submitted: e.clock.Now()}
	e.clock.Advance(2 * time.Minute)
	_, err := e.c.Wait(context.Background(), job)
	if !errors.Is(err, ErrJobTimeout) {
		t.Fatalf("error %v, want ErrJobTimeout", err)
	}
	if n := len(e.adobe.requests("GET /v2/status/")); n != 1 {
		t.Errorf("%d GETs past the deadline, want 1 last look", n)
	}
}

func TestPollSchedule(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.JobTimeout = time.Minute })
	e.adobe.on("GET /v2/status/", reply{status: 200, body: `{"status":"running"}`})
	start := e.clock.Now()
	e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: start})
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	// Adobe's guidance, with nothing learned yet: 2 s, then ×1.5 up to
	// 30 s, the last one cut short by the deadline.
	want := []time.Duration{ms(2000), ms(3000), ms(4500), ms(6750), ms(10125), ms(15187.5)}
	var sum time.Duration
	for _, d := range want {
		sum += d
	}
	want = append(want, time.Minute-sum)
	got := e.clock.Waits()
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	for i := range want {
		if diff := got[i] - want[i]; diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("wait %d: %v, want %v", i, got[i], want[i])
		}
	}
	gets := e.adobe.requests("GET /v2/status/")
	var at time.Duration
	for i, r := range gets {
		at += got[i]
		if r.at.Sub(start) != at {
			t.Errorf("GET %d at +%v, want +%v", i, r.at.Sub(start), at)
		}
	}
}

func TestGetsForTenSecondJob(t *testing.T) {
	e := newEnv(t, nil)
	start := e.clock.Now()
	e.adobe.on("GET /v2/status/", reply{do: func(w http.ResponseWriter, r *http.Request) {
		if e.clock.Now().Sub(start) < 10*time.Second {
			fmt.Fprint(w, `{"status":"running"}`)
			return
		}
		fmt.Fprint(w, `{"status":"succeeded","result":{"outputs":[{"destination":{"url":"https://r.example/o.png"},"mediaType":"image/png"}]}}`)
	}})
	if _, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: start}); err != nil {
		t.Fatal(err)
	}
	gets := len(e.adobe.requests("GET /v2/status/"))
	if gets > 8 {
		t.Errorf("%d GETs for a 10 s job, want at most 8", gets)
	}
	// At 2, 5, 9.5 and 16.25 s.
	if gets != 4 {
		t.Errorf("%d GETs, want 4", gets)
	}
	if want := fmt.Sprintf(`msg="job done" job=%s gets=%d`, jobID, gets); !strings.Contains(e.logs.String(), want) {
		t.Errorf("no debug line %q in\n%s", want, e.logs.String())
	}
}

// A status request failing for a passing reason does not end the wait:
// the job is running at Adobe and already paid for.
func TestWaitThroughStatusOutage(t *testing.T) {
	e := newEnv(t, nil)
	e.adobe.on("GET /v2/status/",
		status(503), status(503), status(503), status(503), // one status call fails after its retries
		reply{do: dropConnection}, reply{do: dropConnection}, reply{do: dropConnection}, reply{do: dropConnection},
		reply{status: 200, body: `not json`},
		reply{status: 200, body: `{"status":"succeeded","outputs":[{"url":"https://r.example/o.png"}]}`})
	out, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].URL != "https://r.example/o.png" {
		t.Errorf("output %+v", out)
	}
	if n := len(e.adobe.requests("GET /v2/status/")); n != 10 {
		t.Errorf("%d GETs, want 10", n)
	}
}

func TestWaitStops(t *testing.T) {
	t.Run("on a 400", func(t *testing.T) {
		e := newEnv(t, nil)
		e.adobe.on("GET /v2/status/", reply{status: 400, body: `{"error_code":"invalid_request","message":"bad id"}`})
		_, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: e.clock.Now()})
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Op != "status" {
			t.Fatalf("error %v", err)
		}
		if n := len(e.adobe.requests("GET /v2/status/")); n != 1 {
			t.Errorf("%d GETs, want 1", n)
		}
	})
	t.Run("when the context ends", func(t *testing.T) {
		e := newEnv(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		e.adobe.on("GET /v2/status/", reply{do: func(w http.ResponseWriter, r *http.Request) {
			if n++; n == 3 {
				cancel()
			}
			fmt.Fprint(w, `{"status":"running"}`)
		}})
		_, err := e.c.Wait(ctx, Job{ID: jobID, Op: OpRemoveBackground, Submitted: e.clock.Now()})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
}

func TestStatusThrottledOnItsBucket(t *testing.T) {
	e := newEnv(t, nil)
	e.adobe.on("GET /v2/status/", reply{status: 429, header: map[string]string{"Retry-After": "2"}},
		reply{status: 200, body: `{"status":"succeeded","outputs":[{"url":"https://r.example/o.png"}]}`})
	if _, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	want := []throttle{{ratelimit.RemoveBackgroundGet, 2 * time.Second}}
	if got := e.limiter.Throttles(); !slices.Equal(got, want) {
		t.Errorf("throttles %v, want %v", got, want)
	}
}

// The whole life of one input, against the fakes.
func TestOneFileEndToEnd(t *testing.T) {
	e := newEnv(t, nil)
	in := writePNG(t, t.TempDir(), "shoe.png", 50, 40)
	result := []byte("the cut-out")
	e.adobe.on("POST /v2/remove-background", acceptedReply)
	e.adobe.on("GET /v2/status/",
		reply{status: 202, body: `{"status":"pending"}`},
		reply{status: 200, body: `{"status":"succeeded","result":{"outputs":[{"destination":{"url":"` + e.adobe.URL() + `/hosted/r.png?sig=` + sigMarker + `"},"mediaType":"image/png"}]}}`})
	e.adobe.on("GET /hosted/", serveAll(result))
	ctx := context.Background()

	img, err := ValidateStep(ctx, rbStep(), in)
	if err != nil || img.Width != 50 || img.Height != 40 {
		t.Fatalf("ValidateStep: %+v, %v", img, err)
	}
	if err := e.c.Check(ctx, rbStep(), in); err != nil {
		t.Fatalf("Check: %v", err)
	}
	src, err := e.c.Upload(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	job, err := e.c.Submit(ctx, rbStep(), src.URL)
	if err != nil {
		t.Fatal(err)
	}
	var sent struct {
		Image struct{ Source struct{ URL string } }
	}
	json.Unmarshal(e.adobe.requests("POST /v2/remove-background")[0].body, &sent)
	if sent.Image.Source.URL != src.URL {
		t.Errorf("submitted %q, want the presigned URL %q", sent.Image.Source.URL, src.URL)
	}
	outs, err := e.c.Wait(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 {
		t.Fatalf("outputs %+v, want one", outs)
	}
	var w seekBuffer
	n, err := e.c.Download(ctx, outs[0], &w)
	if err != nil || n != int64(len(result)) || string(w.b) != string(result) {
		t.Fatalf("Download: %d, %v, %q", n, err, w.b)
	}
	if err := e.c.Discard(ctx, src); err != nil {
		t.Fatal(err)
	}
	if len(e.storage.objects) != 0 {
		t.Error("the input is still stored")
	}
	if e.adobe.tokensIssued() != 1 {
		t.Errorf("%d tokens for one file", e.adobe.tokensIssued())
	}
}

// 429s on the status are waited out, but not past the job's deadline.
func TestStatusThrottledPastDeadline(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.JobTimeout = time.Minute })
	e.adobe.on("GET /v2/status/", reply{do: func(w http.ResponseWriter, r *http.Request) {
		e.clock.Advance(10 * time.Second) // as the limiter's pause would
		w.WriteHeader(http.StatusTooManyRequests)
	}})
	_, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: e.clock.Now()})
	var ae *APIError
	if !errors.Is(err, ErrJobTimeout) || !errors.As(err, &ae) || ae.StatusCode != 429 {
		t.Fatalf("error %v, want ErrJobTimeout with the last 429", err)
	}
}
