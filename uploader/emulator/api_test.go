package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestIMS(t *testing.T) {
	f := start(t, Config{ClientID: "id-1", ClientSecret: "secret-1"})
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string
	}{
		{"good", url.Values{"grant_type": {"client_credentials"}, "client_id": {"id-1"}, "client_secret": {"secret-1"}, "scope": {"openid"}}, 200, ""},
		{"wrong id", url.Values{"grant_type": {"client_credentials"}, "client_id": {"id-2"}, "client_secret": {"secret-1"}}, 401, "invalid_client"},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"id-1"}, "client_secret": {"nope"}}, 401, "invalid_client"},
		{"no grant type", url.Values{"client_id": {"id-1"}, "client_secret": {"secret-1"}}, 400, "invalid_request"},
		{"other grant type", url.Values{"grant_type": {"password"}, "client_id": {"id-1"}, "client_secret": {"secret-1"}}, 400, "unsupported_grant_type"},
	}
	for _, tc := range tests {
		resp, body := f.form(tc.form)
		if resp.StatusCode != tc.wantStatus {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, resp.StatusCode, tc.wantStatus, body)
			continue
		}
		if tc.wantError == "" {
			var tr tokenResponse
			if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" || tr.TokenType != "bearer" || tr.ExpiresIn != 86399 {
				t.Errorf("%s: got %s (%v), want a bearer token expiring in 86399 s", tc.name, body, err)
			}
			continue
		}
		var oe oauthError
		if err := json.Unmarshal(body, &oe); err != nil || oe.Error != tc.wantError || oe.Description == "" {
			t.Errorf("%s: got %s, want error %q with a description", tc.name, body, tc.wantError)
		}
	}
}

func TestTokenExpiry(t *testing.T) {
	f := start(t, Config{TokenTTL: time.Hour})
	unknown := "/v2/status/urn:ff:jobs:emulator:nope"
	if resp, body := f.call(http.MethodGet, unknown, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("fresh token: %s %s, want 404 for an unknown job", resp.Status, body)
	}
	f.clock.Advance(time.Hour - time.Nanosecond)
	if resp, _ := f.call(http.MethodGet, unknown, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("token just before expiry: %s, want 404", resp.Status)
	}
	f.clock.Advance(time.Nanosecond)
	resp, body := f.call(http.MethodGet, unknown, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"401013"`) {
		t.Fatalf("expired token: %s %s, want 401 401013", resp.Status, body)
	}
	f.token = f.getToken()
	if resp, _ := f.call(http.MethodGet, unknown, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("new token: %s, want 404", resp.Status)
	}
}

func TestAPIAuth(t *testing.T) {
	f := start(t, Config{})
	tests := []struct {
		name, auth, key string
		wantStatus      int
		wantCode        string
	}{
		{"no token", "", f.key, 401, "401013"},
		{"unknown token", "Bearer nope", f.key, 401, "401013"},
		{"not bearer", "Basic " + f.token, f.key, 401, "401013"},
		{"no api key", "Bearer " + f.token, "", 403, "403003"},
		{"wrong api key", "Bearer " + f.token, "other", 403, "403003"},
		{"lowercase bearer", "bearer " + f.token, f.key, 404, "unknown_job_id"},
	}
	for _, tc := range tests {
		resp, body := f.callAs(http.MethodGet, "/v2/status/x", nil, tc.auth, tc.key, "")
		var e apiError
		json.Unmarshal(body, &e)
		if resp.StatusCode != tc.wantStatus || e.Code != tc.wantCode {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, resp.StatusCode, body, tc.wantStatus, tc.wantCode)
		}
	}
	if got := f.s.Stats().Unauthorized; got != 5 {
		t.Errorf("Unauthorized = %d, want 5", got)
	}
}

func TestRemoveBackgroundValidation(t *testing.T) {
	f := start(t, Config{})
	src := "https://bucket.s3.amazonaws.com/in.png?X-Amz-Signature=abc"
	tests := []struct {
		name        string
		body        any
		contentType string
		wantCode    string
		wantDetail  string // an errors[] code
		wantMention string // in that entry's message
	}{
		{"text content type", `{}`, "text/plain", "invalid_content_type", "", ""},
		{"no content type", `{}`, "", "invalid_content_type", "", ""},
		{"not json", `{"image":`, "application/json", "invalid_json", "", ""},
		{"empty object", map[string]any{}, "", "validation_error", "missing_field", "image.source.url"},
		{"no url", map[string]any{"image": map[string]any{"source": map[string]any{}}}, "", "validation_error", "missing_field", "image.source.url"},
		{"ftp url", rbBody("ftp://host/x.png", nil), "", "validation_error", "invalid_value", "image.source.url"},
		{"relative url", rbBody("/x.png", nil), "", "validation_error", "invalid_value", "image.source.url"},
		{"bad mode", rbBody(src, map[string]any{"mode": "erase"}), "", "validation_error", "invalid_value", "mode"},
		{"bad media type", rbBody(src, map[string]any{"output": map[string]any{"mediaType": "image/gif"}}), "", "validation_error", "invalid_value", "output.mediaType"},
		{"misspelt field", rbBody(src, map[string]any{"output": map[string]any{"mediatype": "image/png"}}), "", "validation_error", "unknown_field", "output.mediatype"},
		{"unknown top field", rbBody(src, map[string]any{"quality": 3}), "", "validation_error", "unknown_field", "quality"},
		{"color without alpha", rbBody(src, map[string]any{"backgroundColor": map[string]any{"red": 1, "green": 2, "blue": 3}}), "", "validation_error", "missing_field", "backgroundColor.alpha"},
		{"red too big", rbBody(src, map[string]any{"backgroundColor": map[string]any{"red": 256, "green": 2, "blue": 3, "alpha": 1}}), "", "validation_error", "invalid_value", "backgroundColor.red"},
		{"fractional blue", rbBody(src, map[string]any{"backgroundColor": map[string]any{"red": 1, "green": 2, "blue": 3.5, "alpha": 1}}), "", "validation_error", "invalid_value", "backgroundColor.blue"},
		{"alpha above 1", rbBody(src, map[string]any{"backgroundColor": map[string]any{"red": 1, "green": 2, "blue": 3, "alpha": 1.5}}), "", "validation_error", "invalid_value", "backgroundColor.alpha"},
		{"decontamination 2", rbBody(src, map[string]any{"colorDecontamination": 2}), "", "validation_error", "invalid_value", "colorDecontamination"},
		{"trim as string", rbBody(src, map[string]any{"trim": "yes"}), "", "validation_error", "invalid_type", "trim"},
	}
	for _, tc := range tests {
		ct := tc.contentType
		if ct == "" && tc.wantCode != "invalid_content_type" {
			ct = "application/json"
		}
		resp, body := f.callAs(http.MethodPost, "/v2/remove-background", tc.body, "Bearer "+f.token, f.key, ct)
		var e apiError
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusBadRequest || e.Code != tc.wantCode {
			t.Errorf("%s: got %d %s, want 400 %s", tc.name, resp.StatusCode, body, tc.wantCode)
			continue
		}
		if tc.wantDetail == "" {
			continue
		}
		found := false
		for _, d := range e.Errors {
			found = found || (d.Code == tc.wantDetail && strings.Contains(d.Message, tc.wantMention))
		}
		if !found {
			t.Errorf("%s: errors %+v, want a %s entry naming %s", tc.name, e.Errors, tc.wantDetail, tc.wantMention)
		}
	}
	st := f.s.Stats()
	if st.Jobs != 0 || st.Posts != len(tests) {
		t.Errorf("Jobs = %d, Posts = %d; want 0 jobs from %d admitted POSTs", st.Jobs, st.Posts, len(tests))
	}
}

func TestSubmitAnswer(t *testing.T) {
	f := start(t, Config{})
	sub := f.submit(rbBody("https://example.com/a.png?sig=1", map[string]any{
		"mode": "cutout", "output": map[string]any{"mediaType": "image/png"}, "trim": false,
		"backgroundColor": map[string]any{"red": 255, "green": 255, "blue": 255, "alpha": 1}, "colorDecontamination": 1,
	}))
	if !strings.HasPrefix(sub.JobID, "urn:ff:jobs:emulator:") {
		t.Errorf("jobId %q is not a URN", sub.JobID)
	}
	if want := f.s.URL() + "/v2/status/" + url.PathEscape(sub.JobID); sub.StatusURL != want {
		t.Errorf("statusUrl %q, want %q", sub.StatusURL, want)
	}
	// The status answers with the colons escaped too.
	escaped := f.s.URL() + "/v2/status/" + strings.ReplaceAll(sub.JobID, ":", "%3A")
	resp, body := f.call(http.MethodGet, escaped, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), sub.JobID) {
		t.Errorf("escaped status URL: %s %s", resp.Status, body)
	}
	if st := f.status(sub); st.JobID != sub.JobID || st.Status != "pending" {
		t.Errorf("status %+v, want pending for %s", st, sub.JobID)
	}
}

func TestUnsupportedEndpoints(t *testing.T) {
	f := start(t, Config{})
	for _, tc := range []struct {
		method, path string
		want         int
		mention      string
	}{
		{http.MethodPost, "/v1/mask-objects", http.StatusNotFound, "not supported by the hotfolder emulator"},
		{http.MethodPost, "/v2/nope", http.StatusNotFound, "not supported by the hotfolder emulator"},
		{http.MethodGet, "/v2/whatever", http.StatusNotFound, "not supported by the hotfolder emulator"},
		{http.MethodPost, "/v2/create-artboard", http.StatusNotImplemented, "not emulated"},
		{http.MethodGet, "/v2/edit", http.StatusMethodNotAllowed, "unsupported_method"},
	} {
		resp, body := f.call(tc.method, tc.path, `{}`)
		if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.mention) {
			t.Errorf("%s %s: %s %s, want %d mentioning %q", tc.method, tc.path, resp.Status, body, tc.want, tc.mention)
		}
	}
	st := f.s.Stats()
	if st.PostsByBucket["post"] != 3 || st.GetsByBucket["get"] != 2 {
		t.Errorf("by bucket: posts %v gets %v, want 3 on post and 2 on get", st.PostsByBucket, st.GetsByBucket)
	}
	// Without credentials they are refused first, like everything behind the gateway.
	if resp, _ := f.callAs(http.MethodPost, "/v2/edit", `{}`, "", "", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unauthenticated /v2/edit: %s, want 401", resp.Status)
	}
}
