// Command hotfolder sends every image in a folder (and every image dropped
// into it later) through Adobe's Photoshop API — remove background, edit,
// actions, product crop, composite, manifest, auto crop, or a recipe of
// several — and writes the results to an output folder, under the
// organization's rate limits, with a progress bar. Without Adobe
// credentials it runs against a built-in emulator of the API, so it works
// on a fresh machine.
//
// main.go only parses flags, wires the packages together and turns the
// outcome into an exit status; the work lives in watcher, pipeline, uploader
// and ratelimit.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"hotfolder/pipeline"
	"hotfolder/pipeline/logging"
	"hotfolder/pipeline/metrics"
	"hotfolder/pipeline/notify"
	"hotfolder/pipeline/progress"
	"hotfolder/pipeline/review"
	"hotfolder/pipeline/workflow"
	"hotfolder/ratelimit"
	"hotfolder/ratelimit/redisquota"
	"hotfolder/uploader"
	"hotfolder/uploader/azstore"
	"hotfolder/uploader/emulator"
	"hotfolder/uploader/gcsstore"
	"hotfolder/uploader/s3store"
	"hotfolder/watcher"
)

// Exit statuses, documented in the usage text and the README.
const (
	exitOK          = 0
	exitFatal       = 1
	exitUsage       = 2
	exitSomeFailed  = 3
	exitInterrupted = 130
)

const usage = `hotfolder: send every image in a folder through Adobe's Photoshop API (remove background,
edit, actions, product crop, composite, manifest, auto crop, or a recipe of several)

Usage:
  hotfolder -in DIR -out DIR [-once] [flags]
  hotfolder -config FILE [-once] [flags]                many hot folders (workflows), one recipe each
  hotfolder -in DIR -out DIR [flags] -print-config    the config file that does what these flags do
  hotfolder status [-out DIR | -state DIR] [-json]    what the journal says: counts, failures, jobs in flight
  hotfolder review [-out DIR | -state DIR] [-open]    write the morning review page (STATE/review/index.html)
  hotfolder status -config FILE [-json]               the same, for every workflow of a config file
  hotfolder emulator [-addr 127.0.0.1:8080] [flags]   run the API emulator on its own

Without -once, hotfolder keeps watching -in for new images until SIGINT,
SIGTERM or SIGHUP (the first finishes the images in progress, a second
aborts; under nohup SIGHUP stays ignored). With -config, SIGHUP reloads the
config file instead.
Without ADOBE_CLIENT_ID in the environment it uses its built-in emulator of
the API: the results are an approximation made on this machine, not Adobe's.

Examples:
  hotfolder -in sample-inputs -out out -once
  hotfolder -in /srv/hot -out /srv/done -format jpeg -background f0f0f0
  hotfolder -in /srv/hot -out /srv/done -op edit -set autoTone=true -output jpeg -output jpeg:maxWidth=2048
  hotfolder -in /srv/hot -out /srv/done -recipe studio.yaml
  ADOBE_CLIENT_ID=… ADOBE_CLIENT_SECRET=… AWS_REGION=us-east-1 \
    hotfolder -in /srv/hot -out /srv/done -storage s3://my-bucket/hotfolder

Flags:
`

const usageTail = `
Environment:
  ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET   OAuth server-to-server credentials (never flags)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_PROFILE   for -storage s3://
  AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY   for -storage azblob://
                                         (neither: the default Azure credential chain, user-delegation SAS)
  GOOGLE_APPLICATION_CREDENTIALS         for -storage gs:// (Application Default Credentials)

Exit status:
  0 every file done (or nothing to do)   1 fatal error   2 usage error
  3 finished, but some files failed      130 interrupted before the work was finished
`

// config is the parsed command line.
type config struct {
	in, out, state  string
	once            bool
	op, mode        string
	sets, outputs   []string // -set and -output, repeatable
	recipeFile      string
	format          string
	background      string
	api             string
	imsURL          string
	imageAPIURL     string
	photoshopAPIURL string
	storage         string
	s3Endpoint      string
	s3PathStyle     bool
	azureEndpoint   string
	gcsEndpoint     string
	limits          string
	limitOverrides  []string
	limitMargin     float64
	workers         int
	settle          time.Duration
	poll            time.Duration
	jobTimeout      time.Duration
	progress        string
	stats           time.Duration
	retryFailed     bool
	dedupe          bool
	keepUploads     bool
	maxPosts        int64
	dailyPosts      int64
	redis           string
	quotaGroup      string
	dryRun          bool
	metricsAddr     string
	logFormat       string
	logFile         string
	grace           time.Duration
	maxDuration     time.Duration
	onSuccess       string
	onFailure       string
	processedDir    string
	failedDir       string
	verbose, quiet  bool
	showVersion     bool
	notifyURL       string // -notify: the webhook
	notifyAt        string // -notify-at, parsed into notifyClock
	notifyFailures  int
	configFile      string
	printConfig     bool

	// Parsed once by validate from the flags above.
	onOK, onFail pipeline.Action   // from -on-success and -on-failure
	whiteJPEG    bool              // remove background gets a white background: -format jpeg has no transparency
	prof         ratelimit.Profile // from -limits and -limit
	recipe       uploader.Recipe   // from -recipe, or -op, -set, -output, -mode, -format and -background
	fingerprint  string            // the recipe's
	given        map[string]bool   // the flags given on the command line
	notifyClock  notify.Clock      // from -notify-at
	wf           *workflow.Config  // from -config
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, so the exit status has one source.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "emulator" {
		return runEmulator(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "status" {
		return runStatus(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "review" {
		return runReview(args[1:], stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "hotfolder: %v\nRun 'hotfolder -h' for usage.\n", err)
		return exitUsage
	case cfg.showVersion:
		fmt.Fprintln(stdout, "hotfolder", version())
		return exitOK
	}

	if cfg.printConfig {
		return printConfig(cfg, stdout, stderr)
	}
	st, cleanup := newStopper(stderr, cfg.grace, cfg.maxDuration, cfg.wf == nil)
	defer cleanup()
	var sum pipeline.Summary
	if cfg.wf != nil {
		sum, err = processWorkflows(st.ctx, cfg, st.stop, stderr)
	} else {
		sum, err = process(st.ctx, cfg, st.stop, stderr)
	}
	// The time limit is the planned end of a night: not an interruption,
	// even when the grace period cut jobs off (they resume next time).
	stopped := isClosed(st.stop) && !st.timeUp.Load()
	if errors.Is(err, context.Canceled) && st.timeUp.Load() && st.aborted.Load() {
		err = nil
	}
	switch {
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "hotfolder: %v\nRun 'hotfolder -h' for usage.\n", err)
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case err != nil:
		printError(redacting{stderr, logging.NewRedactor(logging.EnvSecrets(os.Getenv))}, err)
		return exitFatal
	case cfg.once && stopped && (sum.Pending > 0 || !sum.Searched):
		// Stopped with work left, even if none was found yet (files
		// still settling): scripts must not take that for success.
		return exitInterrupted
	case sum.Failed > 0:
		return exitSomeFailed
	}
	return exitOK
}

// printError prints a fatal error and, when it carries one, its hint.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "hotfolder: error: %v\n", err)
	if hint := uploader.Hint(err); hint != "" {
		fmt.Fprintf(w, "hotfolder: hint: %s\n", hint)
	}
}

// stopper turns the ways a run ends early into a stop channel (take no new
// files, let those in flight finish) and a context (abort now): the first
// stop signal or the end of -max-duration stops the run, and then the
// grace period or a second signal aborts it. An aborted job stays in the
// journal for the next run.
type stopper struct {
	stop   chan struct{}
	ctx    context.Context
	abort  context.CancelFunc
	grace  time.Duration
	stderr io.Writer

	once    sync.Once
	timeUp  atomic.Bool // the stop came from -max-duration, not a signal
	aborted atomic.Bool // the grace period ran out
}

// newStopper starts watching for signals and the time limit (0: none).
// hup: SIGHUP stops the run too (with -config it reloads instead).
func newStopper(stderr io.Writer, grace, maxDuration time.Duration, hup bool) (*stopper, func()) {
	s := &stopper{stop: make(chan struct{}), grace: grace, stderr: stderr}
	s.ctx, s.abort = context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	sigs := stopSignals()
	if !hup {
		sigs = sigs[:2]
	}
	signal.Notify(ch, sigs...)
	var limit <-chan time.Time
	var timer *time.Timer
	if maxDuration > 0 {
		timer = time.NewTimer(maxDuration)
		limit = timer.C
	}
	go func() {
		if timer != nil {
			defer timer.Stop()
		}
		select {
		case <-ch:
			s.halt("stopping: finishing the files in progress (signal again to abort)")
		case <-limit:
			s.timeUp.Store(true)
			s.halt("the time limit (-max-duration) is reached: taking no new files, finishing the files in progress")
		case <-s.ctx.Done():
			return
		}
		select {
		case <-ch:
			fmt.Fprintln(stderr, "hotfolder: aborting; jobs in flight stay in the journal for the next run")
			s.abort()
		case <-s.ctx.Done():
		}
	}()
	return s, func() { signal.Stop(ch); s.abort() }
}

// stopSignals are the signals that stop a run gracefully: SIGINT, SIGTERM
// and SIGHUP (a closed terminal or ssh session is an ending like any
// other, not a crash). A SIGHUP that is ignored, as under nohup, stays
// ignored: asking for it would undo that.
func stopSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// halt closes stop once and starts the grace period.
func (s *stopper) halt(msg string) {
	s.once.Do(func() {
		fmt.Fprintln(s.stderr, "hotfolder: "+msg)
		close(s.stop)
		time.AfterFunc(s.grace, func() {
			if s.ctx.Err() == nil {
				fmt.Fprintf(s.stderr, "hotfolder: the grace period (-grace %s) is over: leaving the jobs in flight, journaled, for the next run\n", s.grace)
				s.aborted.Store(true)
				s.abort()
			}
		})
	})
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("hotfolder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, usageTail)
	}
	fs.StringVar(&cfg.in, "in", "", "hot `folder` to process (searched recursively)")
	fs.StringVar(&cfg.out, "out", "", "output `folder`; the input tree is mirrored inside it")
	fs.BoolVar(&cfg.once, "once", false, "process the images already in -in, then exit")
	fs.StringVar(&cfg.op, "op", "remove-background", "the `operation`: remove-background, edit, actions, product-crop, composite, manifest or auto-crop (several in turn: -recipe)")
	fs.Var((*stringList)(&cfg.sets), "set", "an option of the operation, as a recipe step has it: `KEY=VALUE`, e.g. -set autoTone=true -set light.exposure=0.5; repeatable")
	fs.Var((*stringList)(&cfg.outputs), "output", "an output of each image: a rendition `SPEC` such as jpeg:quality=maximum,maxWidth=2048, png:compression=high, tiff, psd, dng or xmp; repeatable, 1–25 (default: the operation's)")
	fs.StringVar(&cfg.recipeFile, "recipe", "", "the steps every image goes through and the outputs of the last: a JSON or YAML `file` (see the README)")
	fs.StringVar(&cfg.mode, "mode", "cutout", "remove background mode: cutout, mask or psd")
	fs.StringVar(&cfg.format, "format", "", "output format: png, jpeg, webp or psd for remove background (default png; psd with -mode psd); for another operation, the same as one -output")
	fs.StringVar(&cfg.background, "background", "", "background colour `RRGGBB` behind the cut-out subject (default transparent; white for jpeg)")
	fs.StringVar(&cfg.api, "api", "auto", "API to use: auto (adobe when ADOBE_CLIENT_ID is set, else emulator), adobe or emulator")
	fs.StringVar(&cfg.imsURL, "ims-url", "https://ims-na1.adobelogin.com/ims/token/v3", "Adobe IMS token `URL`")
	fs.StringVar(&cfg.imageAPIURL, "image-api-url", "https://image.adobe.io", "base `URL` of remove background and its status")
	fs.StringVar(&cfg.photoshopAPIURL, "photoshop-api-url", "https://photoshop-api.adobe.io", "base `URL` of the other Photoshop API v2 endpoints")
	fs.StringVar(&cfg.storage, "storage", "", "where inputs are uploaded for Adobe to fetch: s3://BUCKET[/PREFIX], azblob://ACCOUNT/CONTAINER[/PREFIX] or gs://BUCKET[/PREFIX] (adobe mode)")
	fs.StringVar(&cfg.s3Endpoint, "s3-endpoint", "", "S3 endpoint `URL` for S3-compatible servers (default AWS)")
	fs.BoolVar(&cfg.s3PathStyle, "s3-path-style", false, "use path-style S3 URLs (most S3-compatible servers need it)")
	fs.StringVar(&cfg.azureEndpoint, "azure-endpoint", "", "Azure blob service `URL` for tests, e.g. Azurite's http://127.0.0.1:10000/devstoreaccount1 (turns the allow-list check off)")
	fs.StringVar(&cfg.gcsEndpoint, "gcs-endpoint", "", "GCS `URL` for tests, e.g. fake-gcs-server's (unauthenticated requests; turns the allow-list check off)")
	fs.StringVar(&cfg.limits, "limits", "soft", "Adobe rate-limit profile to stay under: soft or hard")
	fs.Var((*stringList)(&cfg.limitOverrides), "limit", "override one limit, `NAME=N/DURATION` (post, get, remove-background.post, remove-background.get); repeatable")
	fs.Float64Var(&cfg.limitMargin, "limit-margin", 0.02, "safety margin added to every limit window, as a `fraction` of it (at least 20ms), so network jitter cannot crowd N+1 requests into one window")
	fs.IntVar(&cfg.workers, "workers", 0, "files processed at once (default: enough that the POST limit, not the pool, is the bottleneck)")
	fs.StringVar(&cfg.state, "state", "", "state `folder`: the journal of what is done, failed and in flight (default OUT/.hotfolder)")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve the live review page at http://`HOST:PORT`/, Prometheus metrics at /metrics and a health check at /healthz (e.g. :9464, on 127.0.0.1 when no host is given)")
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "list what would be processed, the POSTs it would spend and how long that takes at the limits; send nothing, write nothing")
	fs.Int64Var(&cfg.maxPosts, "max-posts", 0, "spend at most `N` POSTs (Adobe quota) in this run, then take no new files; 0 = no cap")
	fs.Int64Var(&cfg.dailyPosts, "daily-posts", 0, "spend at most `N` POSTs per UTC day: the organization's with -redis, else this state folder's; 0 = no cap")
	fs.StringVar(&cfg.redis, "redis", "", "share the organization's quota with every hotfolder using this Redis: redis://HOST:PORT[/DB], rediss:// (TLS) or unix:///PATH (password in the `URL` or REDIS_PASSWORD)")
	fs.StringVar(&cfg.quotaGroup, "quota-group", "", "with -redis, the `name` the processes of one organization share (default: from ADOBE_CLIENT_ID)")
	fs.DurationVar(&cfg.grace, "grace", time.Minute, "after a stop signal or -max-duration, how long the files in flight may take to finish before they are left, journaled, for the next run")
	fs.DurationVar(&cfg.maxDuration, "max-duration", 0, "take no new files after this long (the overnight window), e.g. 8h; 0 = no limit")
	fs.BoolVar(&cfg.retryFailed, "retry-failed", false, "process again the files that failed in an earlier run (by default they are skipped)")
	fs.BoolVar(&cfg.dedupe, "dedupe", true, "give inputs with the same content one job: the others get copies of its outputs (-dedupe=false pays for each)")
	fs.StringVar(&cfg.onSuccess, "on-success", "keep", "what becomes of an input once its output is written: keep, move (to -processed) or delete")
	fs.StringVar(&cfg.onFailure, "on-failure", "keep", "what becomes of an input that failed: keep or move (to -failed)")
	fs.StringVar(&cfg.processedDir, "processed", "", "`folder` for -on-success move (default: processed/ beside -in)")
	fs.StringVar(&cfg.failedDir, "failed", "", "`folder` for -on-failure move (default: failed/ beside -in)")
	fs.BoolVar(&cfg.keepUploads, "keep-uploads", false, "keep uploaded inputs in storage after their job (by default they are deleted)")
	fs.StringVar(&cfg.notifyURL, "notify", "", "POST a JSON summary to this webhook `URL` when the run ends, daily in watch mode, and when failures pile up (Slack-compatible)")
	fs.StringVar(&cfg.notifyAt, "notify-at", "08:00", "with -notify in watch mode, the local `HH:MM` of the daily summary")
	fs.IntVar(&cfg.notifyFailures, "notify-failures", notify.DefaultFailures, "with -notify, send at once when `N` files failed since the run began or the last daily summary; 0 = never")
	fs.DurationVar(&cfg.settle, "settle", 2*time.Second, "how long a file's size and time must stay unchanged before it counts as complete")
	fs.DurationVar(&cfg.poll, "poll", 0, "also rescan -in this often; 0 = only when needed (every 5s on network shares, where change events do not arrive, or when events fail)")
	fs.DurationVar(&cfg.jobTimeout, "job-timeout", 10*time.Minute, "give up on a job Adobe has not finished after this long")
	fs.StringVar(&cfg.progress, "progress", "auto", "progress display: auto (a bar on a terminal, stats lines otherwise), bar, lines or none")
	fs.DurationVar(&cfg.stats, "stats", time.Minute, "interval between stats lines when not drawing a bar")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&cfg.logFile, "log-file", "", "append the log to this `file` instead of stderr (the progress display stays on stderr)")
	fs.BoolVar(&cfg.verbose, "v", false, "log every request and every finished file")
	fs.BoolVar(&cfg.quiet, "quiet", false, "print only warnings, errors and the summary")
	fs.BoolVar(&cfg.showVersion, "version", false, "print the version and exit")
	fs.StringVar(&cfg.configFile, "config", "", "run the workflows of this YAML `file`: many hot folders, each with its own recipe, sharing one quota (see the README); SIGHUP reloads it")
	fs.BoolVar(&cfg.printConfig, "print-config", false, "print the config file (for -config) that does what the other flags do, and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { cfg.given[f.Name] = true })
	if cfg.showVersion {
		return cfg, nil
	}
	if fs.NArg() > 0 {
		return cfg, usagef("unexpected argument %q (flags come before arguments; folders are given with -in and -out)", fs.Arg(0))
	}
	return cfg, validate(&cfg)
}

// validate checks flag values that do not depend on the environment.
func validate(cfg *config) error {
	switch {
	case cfg.configFile != "":
		if err := loadConfig(cfg); err != nil {
			return err
		}
	case cfg.in == "" || cfg.out == "":
		return usagef("both -in and -out are required (or -config FILE)")
	default:
		if err := buildRecipe(cfg); err != nil {
			return err
		}
	}
	switch cfg.api {
	case "auto", "adobe", "emulator":
	default:
		return usagef("-api %q: want auto, adobe or emulator", cfg.api)
	}
	switch cfg.progress {
	case "auto", "bar", "lines", "none":
	default:
		return usagef("-progress %q: want auto, bar, lines or none", cfg.progress)
	}
	switch cfg.logFormat {
	case "text", "json":
	default:
		return usagef("-log-format %q: want text or json", cfg.logFormat)
	}
	var err error
	if cfg.onOK, err = pipeline.ParseAction(cfg.onSuccess, true); err != nil {
		return usagef("-on-success %v", err)
	}
	if cfg.onFail, err = pipeline.ParseAction(cfg.onFailure, false); err != nil {
		return usagef("-on-failure %v", err)
	}
	if cfg.limitMargin <= 0 || cfg.limitMargin > 1 {
		return usagef("-limit-margin %v: want a fraction of the window, more than 0 and at most 1 (e.g. 0.02)", cfg.limitMargin)
	}
	if cfg.workers < 0 {
		return usagef("-workers must be 1 or more")
	}
	if cfg.settle < 0 || cfg.poll < 0 || cfg.jobTimeout <= 0 || cfg.stats <= 0 {
		return usagef("-settle and -poll cannot be negative; -job-timeout and -stats must be positive")
	}
	if cfg.maxPosts < 0 || cfg.dailyPosts < 0 || cfg.grace < 0 || cfg.maxDuration < 0 {
		return usagef("-max-posts, -daily-posts, -grace and -max-duration cannot be negative")
	}
	if err := checkRedisURL(cfg.redis); err != nil {
		return err
	}
	if cfg.quotaGroup != "" && cfg.redis == "" {
		return usagef("-quota-group names the quota shared through Redis: give -redis too")
	}
	if cfg.prof, err = ratelimit.ProfileWith(cfg.limits, cfg.limitOverrides); err != nil {
		return usageError{err.Error()}
	}
	return checkNotify(cfg)
}

// checkNotify checks -notify, -notify-at and -notify-failures.
func checkNotify(cfg *config) error {
	var err error
	if cfg.notifyClock, err = notify.ParseClock(cfg.notifyAt); err != nil {
		return usagef("-notify-at %v", err)
	}
	if cfg.notifyFailures < 0 {
		return usagef("-notify-failures cannot be negative")
	}
	if cfg.notifyURL != "" {
		if _, err := notify.NewSender(cfg.notifyURL, notify.SenderOptions{}); err != nil {
			return usagef("-notify wants an http:// or https:// URL")
		}
	}
	return nil
}

// buildRecipe reads the recipe every image goes through: -recipe, or one
// step from -op, -set and -output (with remove background's -mode,
// -format and -background). A recipe that is not right is a usage error
// naming the field.
func buildRecipe(cfg *config) error {
	var (
		r   uploader.Recipe
		dir = "."
	)
	if cfg.recipeFile != "" {
		for _, f := range []string{"op", "set", "output", "mode", "format", "background"} {
			if cfg.given[f] {
				return usagef("-recipe gives the steps and their outputs: leave out -%s", f)
			}
		}
		data, err := os.ReadFile(cfg.recipeFile)
		if err != nil {
			return usagef("-recipe: %v", err)
		}
		if r, err = uploader.ParseRecipe(data, cfg.recipeFile); err != nil {
			return usagef("-recipe %s: %v", cfg.recipeFile, err)
		}
		dir = filepath.Dir(cfg.recipeFile)
	} else {
		sets, outputs, err := stepFlags(cfg)
		if err != nil {
			return err
		}
		step, err := uploader.StepFromFlags(cfg.op, sets, outputs)
		if err != nil {
			return usagef("%v", err)
		}
		r = uploader.Recipe{Steps: []uploader.Step{step}}
	}
	if err := r.Normalize(dir); err != nil {
		if cfg.recipeFile != "" {
			return usagef("-recipe %s: %v", cfg.recipeFile, err)
		}
		return usagef("%s", flagError(err))
	}
	fp, err := r.Fingerprint()
	if err != nil {
		return usagef("%v", err)
	}
	cfg.recipe, cfg.fingerprint = r, fp
	return nil
}

// flagError words an error about the one-step recipe built from flags in
// terms of those flags: "steps[0].light.exposure: …" becomes "-set
// light.exposure: …", "steps[0].outputs[1]: …" "-output #2: …".
func flagError(err error) string {
	msg, ok := strings.CutPrefix(err.Error(), "steps[0].")
	if !ok {
		return err.Error()
	}
	rest, isOutput := strings.CutPrefix(msg, "outputs")
	if !isOutput {
		return "-set " + msg
	}
	var i int
	if n, _ := fmt.Sscanf(rest, "[%d]", &i); n == 1 {
		_, after, _ := strings.Cut(rest, "]")
		return fmt.Sprintf("-output #%d%s", i+1, after)
	}
	return "-output" + rest
}

// stepFlags turns -format, -mode and -background into the -set and
// -output values of a one-step recipe.
func stepFlags(cfg *config) (sets, outputs []string, err error) {
	sets, outputs = slices.Clone(cfg.sets), slices.Clone(cfg.outputs)
	if cfg.format != "" {
		if len(outputs) > 0 {
			return nil, nil, usagef("-format is one output: give it, or -output, not both")
		}
		if _, err := uploader.ParseRendition(cfg.format); err != nil {
			return nil, nil, usagef("-format %q: want png, jpeg, webp or psd (or another -output format for other operations)", cfg.format)
		}
		outputs = []string{cfg.format}
	}
	if cfg.op != uploader.OpRemoveBackground {
		if cfg.given["mode"] || cfg.given["background"] {
			return nil, nil, usagef("-mode and -background are remove background's; give %s's options with -set", cfg.op)
		}
		return sets, outputs, nil
	}
	switch cfg.mode {
	case "cutout", "mask":
	case "psd":
		if len(outputs) == 0 {
			outputs = []string{"psd"}
		}
		if len(outputs) != 1 || !strings.HasPrefix(outputs[0], "psd") {
			return nil, nil, usagef("-mode psd writes Photoshop documents: use -format psd (or leave -format out)")
		}
	default:
		return nil, nil, usagef("-mode %q: want cutout, mask or psd", cfg.mode)
	}
	sets = append(sets, "mode="+cfg.mode)
	bg := cfg.background
	if bg == "" && cfg.mode == "cutout" && len(outputs) == 1 && (outputs[0] == "jpeg" || outputs[0] == "jpg") {
		// The seed document's known limitation: a JPEG with no
		// backgroundColor can come back black. Never let that happen silently.
		bg, cfg.whiteJPEG = "ffffff", true
	}
	if bg != "" {
		c, err := parseColor(bg)
		if err != nil {
			return nil, nil, usagef("-background: %v", err)
		}
		sets = append(sets, fmt.Sprintf(`backgroundColor={"red":%d,"green":%d,"blue":%d,"alpha":1}`, c.Red, c.Green, c.Blue))
	}
	return sets, outputs, nil
}

func parseColor(s string) (*uploader.Color, error) {
	s = strings.TrimPrefix(s, "#")
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil || len(s) != 6 {
		return nil, fmt.Errorf("%q is not a colour in hex RRGGBB form, e.g. ffffff", s)
	}
	return &uploader.Color{Red: int(v >> 16), Green: int(v >> 8 & 0xff), Blue: int(v & 0xff), Alpha: 1}, nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// newLogger logs to w (the progress display, so lines land above the bar),
// with every secret redacted.
func newLogger(w io.Writer, cfg config, secrets []string) (*slog.Logger, error) {
	level := slog.LevelInfo
	switch {
	case cfg.verbose:
		level = slog.LevelDebug
	case cfg.quiet:
		level = slog.LevelWarn
	}
	return logging.New(w, logging.Options{Format: cfg.logFormat, Level: level, Secrets: secrets})
}

// redacting passes what is written through r, for output that does not go
// through the logger (the summary, fatal errors). Each Write is redacted
// whole, so callers write whole lines or reports at once.
type redacting struct {
	w io.Writer
	r *logging.Redactor
}

func (rw redacting) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.r.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// setup is what a run is made of beyond its flags: absolute folders, the
// API it talks to, and the secrets to keep out of every line it writes.
type setup struct {
	in, out, state    string
	processed, failed string // where -on-success/-on-failure move inputs
	api               string // adobe or emulator
	emuSecret         string // the built-in emulator's client secret
	secrets           []string
}

// resolve turns the flags into a setup, with the environment: folders
// made absolute and checked, -api auto decided.
func resolve(cfg config, getenv func(string) string) (setup, error) {
	var s setup
	var err error
	if s.in, err = filepath.Abs(cfg.in); err != nil {
		return s, err
	}
	if s.out, err = filepath.Abs(cfg.out); err != nil {
		return s, err
	}
	if st, err := os.Stat(s.in); err != nil || !st.IsDir() {
		return s, usagef("-in %s is not a folder hotfolder can read", cfg.in)
	}
	if err := checkFolders(s.in, s.out); err != nil {
		return s, err
	}
	s.state = pipeline.StateDir(s.out)
	// Inputs moved away go beside the hot folder unless told otherwise.
	s.processed, s.failed = filepath.Join(filepath.Dir(s.in), "processed"), filepath.Join(filepath.Dir(s.in), "failed")
	for _, f := range []struct {
		dst  *string
		flag string
	}{{&s.state, cfg.state}, {&s.processed, cfg.processedDir}, {&s.failed, cfg.failedDir}} {
		if f.flag == "" {
			continue
		}
		if *f.dst, err = filepath.Abs(f.flag); err != nil {
			return s, err
		}
	}
	s.api = cfg.api
	if s.api == "auto" {
		s.api = "emulator"
		if getenv("ADOBE_CLIENT_ID") != "" {
			s.api = "adobe"
		}
	}
	// Every secret this run knows is kept out of its logs and reports.
	s.secrets = logging.EnvSecrets(getenv)
	if s.api == "emulator" {
		s.emuSecret = rand.Text()
		s.secrets = append(s.secrets, s.emuSecret)
	}
	return s, nil
}

// excluded are the folders the watcher never takes inputs from.
func (s setup) excluded() []string { return []string{s.out, s.state, s.processed, s.failed} }

// process wires the packages together and runs the pipeline.
func process(ctx context.Context, cfg config, stop <-chan struct{}, stderr io.Writer) (pipeline.Summary, error) {
	var sum pipeline.Summary
	s, err := resolve(cfg, os.Getenv)
	if err != nil {
		return sum, err
	}
	if cfg.dryRun {
		return sum, dryRun(ctx, cfg, s, os.Stdout)
	}
	// The display reads p and limiter once started, when both are set.
	var (
		p       *pipeline.Pipeline
		limiter sharedOrOwn
	)
	display, err := progress.New(stderr, cfg.displayMode(), progress.Options{
		Stats:    func() pipeline.Stats { return p.Stats() },
		Quota:    func() bool { return limiter.Stats().WaitingOnQuota() },
		Interval: cfg.stats,
	})
	if err != nil {
		return sum, err
	}
	log, closeLog, err := openLog(cfg, display, s.secrets)
	if err != nil {
		return sum, err
	}
	defer closeLog()
	limiter, closeQuota, err := newQuota(ctx, cfg, s, log, os.Getenv)
	if err != nil {
		return sum, err
	}
	defer closeQuota()
	var m *metrics.Metrics
	if cfg.metricsAddr != "" {
		// Served once the pipeline exists: its Stats are read at scrape time.
		m = metrics.New(metrics.Options{Stats: func() pipeline.Stats { return p.Stats() }, Quota: limiter.Stats, Shared: limiter.shared})
	}
	jobTimes := uploader.NewJobTimes()
	client, closeAPI, err := newClient(ctx, cfg, s, limiter, m, jobTimes, log, stderr)
	if err != nil {
		return sum, err
	}
	defer closeAPI()
	defer closeClient(ctx, client, log)
	w, err := watcher.New(watcher.Config{Root: s.in, Exclude: s.excluded(), Settle: cfg.settle, Once: cfg.once,
		Poll: cfg.poll, Logger: log.With("component", "watcher")})
	if err != nil {
		return sum, usageError{err.Error()}
	}
	rv, err := review.NewRecorder(ctx, review.Options{State: s.state, In: s.in, Out: s.out, Processed: s.processed, Failed: s.failed,
		Quota: limiter.Stats, Logger: log.With("component", "review")})
	if err != nil {
		return sum, err
	}
	pcfg := pipelineConfig(cfg, s, limiter, jobTimes, stop, log)
	pcfg.Observer = rv
	if p, err = pipeline.New(pcfg, w, client); err != nil {
		rv.Close()
		return sum, err
	}
	defer p.Close()
	rv.Attach(p.Records, p.Stats)
	defer rv.Close() // before p.Close: the thumbnails queued are made
	if m != nil {
		stopMetrics, err := serveMetrics(cfg.metricsAddr, m, rv.Handler(), stderr)
		if err != nil {
			return sum, err
		}
		defer stopMetrics()
	}
	told := startNotify(ctx, cfg, s, p, log)
	display.Start()
	sum, err = p.Run(ctx)
	display.Stop()
	if !cfg.quiet || sum.Failed > 0 {
		progress.WriteSummary(redacting{stderr, logging.NewRedactor(s.secrets)}, sum, time.Now())
	}
	told(sum, err)
	return sum, err
}

// startNotify starts telling -notify about the run: daily in watch mode
// and when failures pile up. The function it returns sends the end-of-run
// summary, taking at most notify.EndBudget.
func startNotify(ctx context.Context, cfg config, s setup, p *pipeline.Pipeline, log *slog.Logger) func(pipeline.Summary, error) {
	sender, err := notify.NewSender(cfg.notifyURL, notify.SenderOptions{})
	if cfg.notifyURL == "" || err != nil { // validate has refused a bad URL
		return func(pipeline.Summary, error) {}
	}
	host, _ := os.Hostname()
	sess := notify.Start(ctx, notify.Config{Sender: sender, Log: log, Host: host, In: s.in,
		Link: notify.Link(cfg.metricsAddr, s.state, host), Redact: logging.NewRedactor(s.secrets).Redact,
		Daily: !cfg.once, DailyAt: cfg.notifyClock, Failures: cfg.notifyFailures, Posts: p.Posts}, p)
	return func(sum pipeline.Summary, err error) {
		stopped := ""
		if err != nil && !errors.Is(err, context.Canceled) {
			stopped = err.Error()
		}
		sess.End(sum, stopped)
	}
}

// runFlags are the flags that go with -config: how this run goes, not what
// it does (that is the file's).
var runFlags = map[string]bool{"config": true, "once": true, "v": true, "quiet": true, "progress": true, "stats": true,
	"log-format": true, "log-file": true, "grace": true, "max-duration": true}

// loadConfig reads -config, checked as a whole (every mistake with its
// line is one usage error), and takes its global settings as the flags'.
func loadConfig(cfg *config) error {
	for _, f := range slices.Sorted(maps.Keys(cfg.given)) {
		if f == "dry-run" || f == "print-config" {
			return usagef("-%s works on one folder given by flags, not on -config", f)
		}
		if !runFlags[f] {
			return usagef("-%s goes in the config file with -config (only -once, -v, -quiet, -progress, -stats, -log-format, -log-file, -grace and -max-duration go with it)", f)
		}
	}
	c, err := workflow.Load(cfg.configFile)
	if err != nil {
		return usageError{err.Error()}
	}
	g := c.File
	cfg.wf = c
	cfg.api, cfg.imsURL, cfg.imageAPIURL, cfg.photoshopAPIURL = g.API, g.IMSURL, g.ImageAPIURL, g.PhotoshopAPIURL
	cfg.storage, cfg.s3Endpoint, cfg.s3PathStyle = g.Storage, g.S3Endpoint, g.S3PathStyle
	cfg.limits, cfg.limitOverrides, cfg.limitMargin = g.Limits, g.Limit, g.LimitMargin
	cfg.maxPosts, cfg.dailyPosts, cfg.redis, cfg.quotaGroup = g.MaxPosts, g.DailyPosts, g.Redis, g.QuotaGroup
	cfg.metricsAddr, cfg.state, cfg.keepUploads = g.MetricsAddr, g.State, g.KeepUploads
	cfg.dedupe = g.Dedupe == nil || *g.Dedupe
	cfg.jobTimeout, cfg.settle, cfg.poll = time.Duration(g.JobTimeout), time.Duration(g.Settle), time.Duration(g.Poll)
	return nil
}

// configSetup is resolve for -config: the folders are the workflows' (the
// file checked them); the process's state folder holds the built-in
// emulator's jobs.
func configSetup(cfg config, getenv func(string) string) setup {
	s := setup{state: cfg.wf.State, api: cfg.api, secrets: logging.EnvSecrets(getenv)}
	s.in, _ = filepath.Abs(cfg.configFile)
	if s.api == "auto" {
		s.api = "emulator"
		if getenv("ADOBE_CLIENT_ID") != "" {
			s.api = "adobe"
		}
	}
	if s.api == "emulator" {
		s.emuSecret = rand.Text()
		s.secrets = append(s.secrets, s.emuSecret)
	}
	return s
}

// processWorkflows runs every workflow of -config in this process, on one
// quota shared by priority, and reloads the file on SIGHUP.
func processWorkflows(ctx context.Context, cfg config, stop <-chan struct{}, stderr io.Writer) (pipeline.Summary, error) {
	var sum pipeline.Summary
	s := configSetup(cfg, os.Getenv)
	var (
		runner  *workflow.Runner
		sched   *ratelimit.Scheduler
		limiter sharedOrOwn
	)
	display, err := progress.New(stderr, cfg.displayMode(), progress.Options{
		Stats:    func() pipeline.Stats { return runner.Stats() },
		Quota:    func() bool { return sched.Stats(limiter.Stats()).WaitingOnQuota() },
		Parts:    func() []progress.Part { return progressParts(runner.Parts()) },
		Interval: cfg.stats,
	})
	if err != nil {
		return sum, err
	}
	log, closeLog, err := openLog(cfg, display, s.secrets)
	if err != nil {
		return sum, err
	}
	defer closeLog()
	limiter, closeQuota, err := newQuota(ctx, cfg, s, log, os.Getenv)
	if err != nil {
		return sum, err
	}
	defer closeQuota()
	var observe func(ratelimit.Granted)
	if cfg.verbose {
		observe = func(g ratelimit.Granted) {
			log.Debug("quota granted", "workflow", g.Workflow, "priority", g.Priority, "bucket", g.Bucket,
				"waited", g.Waited, "overtaken", g.Overtaken, "interval", limiter.Interval(g.Bucket))
		}
	}
	sched = ratelimit.NewScheduler(limiter, ratelimit.SchedulerOptions{Observe: observe})
	var m *metrics.Metrics
	if cfg.metricsAddr != "" {
		m = metrics.New(metrics.Options{Stats: func() pipeline.Stats { return runner.Stats() },
			Quota: func() ratelimit.Stats { return sched.Stats(limiter.Stats()) }, Shared: limiter.shared,
			Workflows: func() []metrics.Workflow { return metricParts(runner.Parts(), sched) }})
	}
	ucfg, stopAPI, err := apiConfig(ctx, cfg, s, m, log, stderr)
	if err != nil {
		return sum, err
	}
	defer stopAPI()
	runner = workflow.NewRunner(workflow.Env{Scheduler: sched, Interval: limiter.Interval, Stop: stop, Logger: log,
		Dedupe: cfg.dedupe, KeepUploads: cfg.keepUploads,
		NewRemote: func(ctx context.Context, w workflow.Workflow, lim uploader.Limiter) (pipeline.Remote, func(), error) {
			u := ucfg
			u.Limiter, u.Logger, u.JobTimes = lim, log.With("workflow", w.Name), uploader.NewJobTimes()
			c, err := uploader.New(u)
			if err == nil {
				err = c.CheckAuth(ctx)
			}
			return c, func() { closeClient(ctx, c, log) }, err
		},
		NewSource: func(w workflow.Workflow) (pipeline.Source, error) {
			return watcher.New(watcher.Config{Root: w.In, Exclude: []string{w.Out, w.State, w.Processed, w.Failed, s.state},
				Settle: cfg.settle, Once: cfg.once, Poll: cfg.poll, Logger: log.With("component", "watcher", "workflow", w.Name)})
		},
	})
	defer reloadOnHUP(cfg, runner, log)()
	if m != nil {
		stopMetrics, err := serveMetrics(cfg.metricsAddr, m, nil, stderr)
		if err != nil {
			return sum, err
		}
		defer stopMetrics()
	}
	display.Start()
	sum, err = runner.Run(ctx, cfg.wf.Workflows)
	display.Stop()
	if !cfg.quiet || sum.Failed > 0 {
		w := redacting{stderr, logging.NewRedactor(s.secrets)}
		progress.WriteSummary(w, sum, time.Now())
		progress.WriteParts(w, progressParts(runner.Parts()))
	}
	return sum, err
}

// progressParts are the workflows' counters for the display.
func progressParts(parts []workflow.Part) []progress.Part {
	out := make([]progress.Part, len(parts))
	for i, p := range parts {
		out[i] = progress.Part{Name: p.Name, Stats: p.Stats}
	}
	return out
}

// metricParts are the workflows' counters and waits for the metrics.
func metricParts(parts []workflow.Part, sched *ratelimit.Scheduler) []metrics.Workflow {
	out := make([]metrics.Workflow, len(parts))
	for i, p := range parts {
		out[i] = metrics.Workflow{Name: p.Name, Priority: p.Priority, Running: p.Running, Stats: p.Stats}
		for _, w := range sched.Waiting(p.Name) {
			out[i].Waiting += w.N
			out[i].LongestWait = max(out[i].LongestWait, w.Longest)
		}
	}
	return out
}

// reloadOnHUP reads -config again on each SIGHUP and hands its workflows
// to the runner; a file with mistakes is logged and changes nothing. The
// global settings (limits, Redis, API) take effect at the next start.
// The returned function stops listening.
func reloadOnHUP(cfg config, runner *workflow.Runner, log *slog.Logger) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
			case <-done:
				return
			}
			runner.ReloadFile(cfg.configFile, cfg.wf.File)
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

// printConfig prints the config file that does what the flags do: one
// workflow, named after -in, with the flags' recipe.
func printConfig(cfg config, stdout, stderr io.Writer) int {
	f, err := flagsConfig(cfg)
	if err == nil {
		var data []byte
		if data, err = workflow.Marshal(f); err == nil {
			fmt.Fprintln(stdout, "# hotfolder -config FILE: the flags' one workflow")
			_, err = stdout.Write(data)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "hotfolder: %v\n", err)
		return exitUsage
	}
	return exitOK
}

// flagsConfig is the config file of the flags: their global settings
// (those that differ from the defaults) and one workflow.
func flagsConfig(cfg config) (workflow.File, error) {
	in, err := filepath.Abs(cfg.in)
	if err != nil {
		return workflow.File{}, err
	}
	out, err := filepath.Abs(cfg.out)
	if err != nil {
		return workflow.File{}, err
	}
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, _ := filepath.Abs(p)
		return a
	}
	// The emulator's jobs stay where the flags keep them: in the state folder.
	state := cmp.Or(abs(cfg.state), pipeline.StateDir(out))
	e := workflow.Entry{Name: workflow.NameFor(in), In: in, Out: out, State: abs(cfg.state), Workers: cfg.workers,
		RetryFailed: cfg.retryFailed, OnSuccess: cfg.onSuccess, OnFailure: cfg.onFailure}
	// The flags' move folders, written out: a workflow's defaults differ.
	if cfg.onOK == pipeline.Move {
		e.Processed = cmp.Or(abs(cfg.processedDir), filepath.Join(filepath.Dir(in), "processed"))
	}
	if cfg.onFail == pipeline.Move {
		e.Failed = cmp.Or(abs(cfg.failedDir), filepath.Join(filepath.Dir(in), "failed"))
	}
	if cfg.recipeFile != "" {
		e.Recipe = workflow.RecipeFile(abs(cfg.recipeFile))
	} else if e.Recipe, err = workflow.InlineRecipe(cfg.recipe); err != nil {
		return workflow.File{}, err
	}
	d := workflow.Defaults()
	f := workflow.File{
		API: cfg.api, IMSURL: cfg.imsURL, ImageAPIURL: cfg.imageAPIURL, PhotoshopAPIURL: cfg.photoshopAPIURL,
		Storage: cfg.storage, S3Endpoint: cfg.s3Endpoint, S3PathStyle: cfg.s3PathStyle,
		Limits: cfg.limits, Limit: cfg.limitOverrides, LimitMargin: cfg.limitMargin,
		MaxPosts: cfg.maxPosts, DailyPosts: cfg.dailyPosts, Redis: cfg.redis, QuotaGroup: cfg.quotaGroup,
		MetricsAddr: cfg.metricsAddr, State: state, KeepUploads: cfg.keepUploads,
		JobTimeout: workflow.Duration(cfg.jobTimeout), Settle: workflow.Duration(cfg.settle), Poll: workflow.Duration(cfg.poll),
		Workflows: []workflow.Entry{e},
	}
	if !cfg.dedupe {
		f.Dedupe = &cfg.dedupe
	}
	return workflow.WithoutDefaults(f, d), nil
}

// quota is the limiter a run paces its requests with: its own
// (*ratelimit.Set), or the organization's, shared through Redis
// (*redisquota.Limiter).
type quota interface {
	uploader.Limiter
	pipeline.Quota
	Stats() ratelimit.Stats
	Interval(b ratelimit.Bucket) time.Duration
}

// sharedQuota is a quota kept in Redis, and whether it can be reached.
type sharedQuota struct{ *redisquota.Limiter }

// shared reports whether the quota can be reached, for the health check.
func (q sharedQuota) shared() (bool, string) {
	ok, why, since := q.Health()
	if !ok {
		why = fmt.Sprintf("%s (for %s)", why, time.Since(since).Round(time.Second))
	}
	return ok, why
}

// ownQuota is the in-process limiter: always reachable.
type ownQuota struct{ *ratelimit.Set }

func (ownQuota) shared() (bool, string) { return true, "" }

// sharedOrOwn is a quota that says whether it can be reached.
type sharedOrOwn interface {
	quota
	shared() (bool, string)
}

// newQuota makes the run's limiter: the organization's in Redis with
// -redis, else its own. The returned function releases it.
func newQuota(ctx context.Context, cfg config, s setup, log *slog.Logger, getenv func(string) string) (sharedOrOwn, func(), error) {
	if cfg.redis == "" {
		set := ratelimit.New(cfg.prof, ratelimit.Options{Margin: cfg.limitMargin, MaxPosts: cfg.maxPosts, DailyPosts: cfg.dailyPosts})
		return ownQuota{set}, func() {}, nil
	}
	host, _ := os.Hostname()
	l, err := redisquota.Open(ctx, redisquota.Config{
		URL: cfg.redis, Password: getenv("REDIS_PASSWORD"), Group: quotaGroup(cfg, s, getenv),
		Profile: cfg.prof, Margin: cfg.limitMargin, DailyPosts: cfg.dailyPosts, MaxPosts: cfg.maxPosts,
		Process: redisquota.Process{Host: host, PID: os.Getpid(), In: s.in, Out: s.out, Version: version()},
		Logger:  log.With("component", "quota"),
	})
	if err != nil {
		return nil, nil, err
	}
	return sharedQuota{l}, func() { l.Close() }, nil
}

// quotaGroup names the quota the processes of one organization share:
// -quota-group, else a hash of the client id (never the id itself: the
// name is visible to anyone who can read the Redis). Each built-in
// emulator is an organization of its own.
func quotaGroup(cfg config, s setup, getenv func(string) string) string {
	if cfg.quotaGroup != "" {
		return cfg.quotaGroup
	}
	id := "adobe " + getenv("ADOBE_CLIENT_ID")
	if s.api == "emulator" {
		id = "built-in emulator " + s.state
	}
	sum := sha256.Sum256([]byte(id))
	return "org-" + hex.EncodeToString(sum[:8])
}

// checkRedisURL refuses a -redis value that is not a Redis URL.
func checkRedisURL(u string) error {
	if u == "" {
		return nil
	}
	for _, scheme := range []string{"redis://", "rediss://", "unix://"} {
		if strings.HasPrefix(u, scheme) {
			return nil
		}
	}
	return usagef("-redis: want redis://HOST:PORT[/DB], rediss://HOST:PORT (TLS) or unix:///PATH")
}

// closeClient deletes the run's auxiliary uploads (actions, presets…),
// best effort, also when the run was aborted.
func closeClient(ctx context.Context, c *uploader.Client, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		log.Warn("could not delete the auxiliary files uploaded for this run", "error", err)
	}
}

// displayMode is -progress, or none with -quiet.
func (cfg config) displayMode() string {
	if cfg.quiet {
		return "none"
	}
	return cfg.progress
}

// openLog makes the run's logger: to the progress display (so lines land
// above the bar), or to -log-file, with every secret redacted.
func openLog(cfg config, display io.Writer, secrets []string) (*slog.Logger, func(), error) {
	w, closeLog := display, func() {}
	if cfg.logFile != "" {
		f, err := logging.OpenFile(cfg.logFile)
		if err != nil {
			return nil, nil, usagef("-log-file: %v", err)
		}
		w, closeLog = f, func() { f.Close() }
	}
	log, err := newLogger(w, cfg, secrets)
	if err != nil {
		closeLog()
		return nil, nil, usageError{err.Error()}
	}
	if cfg.whiteJPEG {
		log.Info("jpeg has no transparency: the removed background becomes white (choose another colour with -background RRGGBB)")
	}
	return log, closeLog, nil
}

// newClient builds the API client, on Adobe or on the built-in emulator
// (which it starts), and checks its credentials. The returned function
// stops the emulator, if one was started.
func newClient(ctx context.Context, cfg config, s setup, limiter uploader.Limiter, m *metrics.Metrics,
	jobTimes *uploader.JobTimes, log *slog.Logger, stderr io.Writer) (*uploader.Client, func(), error) {
	ucfg, stopAPI, err := apiConfig(ctx, cfg, s, m, log, stderr)
	if err != nil {
		return nil, nil, err
	}
	ucfg.Limiter, ucfg.JobTimes = limiter, jobTimes
	client, err := uploader.New(ucfg)
	if err == nil {
		err = client.CheckAuth(ctx)
	}
	if err != nil {
		stopAPI()
		return nil, nil, err
	}
	return client, stopAPI, nil
}

// apiConfig is the API clients' configuration, on Adobe or on the built-in
// emulator (which it starts), without a limiter. The returned function
// stops the emulator, if one was started.
func apiConfig(ctx context.Context, cfg config, s setup, m *metrics.Metrics,
	log *slog.Logger, stderr io.Writer) (uploader.Config, func(), error) {
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	ucfg := uploader.Config{
		IMSURL:          cfg.imsURL,
		ImageAPIURL:     cfg.imageAPIURL,
		PhotoshopAPIURL: cfg.photoshopAPIURL,
		HTTPClient:      hc,
		KeyPrefix:       "hotfolder",
		JobTimeout:      cfg.jobTimeout,
		KeepUploads:     cfg.keepUploads,
		Logger:          log,
	}
	if m != nil {
		ucfg.Observer = m
	}
	stopAPI := func() {}
	var err error
	if s.api == "emulator" {
		stopAPI, err = useEmulator(&ucfg, cfg, s, log, stderr)
	} else {
		err = useAdobe(ctx, &ucfg, cfg, hc)
	}
	if err != nil {
		return ucfg, nil, err
	}
	return ucfg, stopAPI, nil
}

// useEmulator starts the built-in emulator and points ucfg at it. Its jobs
// and results live in the state folder, so that the next run can finish
// the jobs this one leaves in flight.
func useEmulator(ucfg *uploader.Config, cfg config, s setup, log *slog.Logger, stderr io.Writer) (func(), error) {
	srv, err := emulator.Start(emulator.Config{Limits: cfg.prof, ClientSecret: s.emuSecret,
		Dir: filepath.Join(s.state, "emulator"), Logger: log.With("component", "emulator")})
	if errors.Is(err, emulator.ErrDirInUse) {
		return nil, stateInUse{err}
	}
	if err != nil {
		return nil, fmt.Errorf("start the built-in emulator: %w", err)
	}
	why := "no ADOBE_CLIENT_ID set"
	if cfg.api == "emulator" {
		why = "-api emulator"
	}
	fmt.Fprintf(stderr, "hotfolder: %s: using the built-in emulator of the Photoshop API.\n", why)
	fmt.Fprintln(stderr, "hotfolder: the results are this machine's approximation, NOT Adobe's. Set ADOBE_CLIENT_ID and ADOBE_CLIENT_SECRET to use Adobe.")
	recipes := []uploader.Recipe{cfg.recipe}
	if cfg.wf != nil {
		recipes = recipes[:0]
		for _, w := range cfg.wf.Workflows {
			recipes = append(recipes, w.Recipe)
		}
	}
	for _, rc := range recipes {
		for _, step := range rc.Steps {
			for _, r := range step.Outputs {
				if r.Format == "dng" {
					log.Warn("the emulator does not make DNG: every file will fail with a dng output")
				}
			}
		}
	}
	ucfg.ClientID, ucfg.ClientSecret = srv.Credentials()
	ucfg.IMSURL, ucfg.ImageAPIURL, ucfg.PhotoshopAPIURL = srv.IMSURL(), srv.ImageAPIURL(), srv.PhotoshopAPIURL()
	ucfg.APIName = "hotfolder emulator " + srv.ID()
	ucfg.Storage = emulator.NewStore(srv.StorageURL(), ucfg.HTTPClient)
	return func() { srv.Close() }, nil
}

// useAdobe gives ucfg the credentials from the environment and the
// -storage location.
func useAdobe(ctx context.Context, ucfg *uploader.Config, cfg config, hc *http.Client) error {
	ucfg.ClientID, ucfg.ClientSecret = os.Getenv("ADOBE_CLIENT_ID"), os.Getenv("ADOBE_CLIENT_SECRET")
	if ucfg.ClientID == "" || ucfg.ClientSecret == "" {
		return usagef("-api adobe needs ADOBE_CLIENT_ID and ADOBE_CLIENT_SECRET in the environment")
	}
	st, err := storage(ctx, cfg, hc)
	if err != nil {
		return err
	}
	// Before any POST: a host Adobe refuses would fail every job, after
	// spending quota. Test endpoints are not Adobe's business.
	testEndpoint := strings.HasPrefix(cfg.storage, "azblob://") && cfg.azureEndpoint != "" ||
		strings.HasPrefix(cfg.storage, "gs://") && cfg.gcsEndpoint != ""
	if !testEndpoint {
		if err := uploader.CheckStorageHost(ctx, st, cfg.imageAPIURL, cfg.recipe.Steps); err != nil {
			return err
		}
	}
	if c, ok := st.(interface{ Check(context.Context) error }); ok {
		if err := c.Check(ctx); err != nil {
			return err
		}
	}
	ucfg.Storage = st
	return nil
}

// pipelineConfig is the pipeline's part of the flags and setup.
func pipelineConfig(cfg config, s setup, limiter quota, jobTimes *uploader.JobTimes, stop <-chan struct{}, log *slog.Logger) pipeline.Config {
	workers := cfg.workers
	if workers == 0 {
		// Enough files in flight that the busiest POST bucket, not the
		// pool, sets the pace, for as many steps as a file goes through.
		steps := len(cfg.recipe.Steps)
		workers = pipeline.WorkersFor(perFile(cfg.recipe, limiter.Interval) / time.Duration(steps))
	}
	log.Debug("starting", "in", s.in, "out", s.out, "api", s.api, "workers", workers, "limits", cfg.limits, "shared", cfg.redis != "")
	return pipeline.Config{
		In: s.in, Out: s.out, State: s.state, Recipe: cfg.recipe, Fingerprint: cfg.fingerprint,
		Workers: workers, Stop: stop, Logger: log, Quota: limiter,
		RetryFailed: cfg.retryFailed, KeepUploads: cfg.keepUploads, Dedupe: cfg.dedupe,
		PerFile: perFile(cfg.recipe, limiter.Interval), JobTimes: jobTimes,
		OnSuccess: cfg.onOK, OnFailure: cfg.onFail, ProcessedDir: s.processed, FailedDir: s.failed,
	}
}

// checkFolders refuses an output folder that is the hot folder, or that
// holds it: results would be taken for new inputs and paid for again.
// (-out inside -in is fine: the watcher leaves it out.)
func checkFolders(in, out string) error {
	rin, rout := watcher.ResolvePath(in), watcher.ResolvePath(out)
	switch {
	case rin == rout:
		return usagef("-out %s is the hot folder (-in) itself: every result would be taken for a new input and paid for again; "+
			"write the results beside it, e.g. -out %s", out, in+"-done")
	case strings.HasPrefix(rin, rout+string(filepath.Separator)):
		return usagef("-in %s is inside -out %s: results mirrored into -out could land in the hot folder and be taken for new inputs; "+
			"give folders side by side, e.g. -out %s", in, out, filepath.Join(filepath.Dir(rin), filepath.Base(rin)+"-done"))
	}
	return nil
}

// dryRun prints what a run would do with the files in -in now, and what
// it would cost, without a request to Adobe or a write to any folder.
func dryRun(ctx context.Context, cfg config, s setup, stdout io.Writer) error {
	w, err := watcher.New(watcher.Config{Root: s.in, Exclude: s.excluded(), Settle: cfg.settle, Once: true})
	if err != nil {
		return usageError{err.Error()}
	}
	plan, err := pipeline.DryRun(ctx, pipeline.Config{
		In: s.in, Out: s.out, State: s.state, Recipe: cfg.recipe, Fingerprint: cfg.fingerprint, RetryFailed: cfg.retryFailed, Dedupe: cfg.dedupe,
	}, w, uploader.CheckInput)
	if err != nil {
		return err
	}
	// The buckets are spent at once: the slowest sets the time.
	lim := ratelimit.New(cfg.prof, ratelimit.Options{Margin: cfg.limitMargin})
	var took time.Duration
	for b, n := range plan.Posts {
		if cfg.maxPosts > 0 {
			n = min(n, int(cfg.maxPosts))
		}
		took = max(took, time.Duration(n)*lim.Interval(b))
	}
	progress.WritePlan(stdout, plan, cfg.prof, took)
	return nil
}

// perFile is the least time between two files' POSTs on the recipe's
// busiest bucket, whose grants come one per interval(bucket).
func perFile(r uploader.Recipe, interval func(ratelimit.Bucket) time.Duration) time.Duration {
	var d time.Duration
	for b, n := range uploader.Posts(r.Steps) {
		d = max(d, time.Duration(n)*interval(b))
	}
	return d
}

// serveMetrics serves m, and the live review page at /, on addr until the
// returned function is called. A port that cannot be had is a usage error:
// the person gave it. Without a host (":9464") it listens on 127.0.0.1
// only: the page shows file names and errors.
func serveMetrics(addr string, m *metrics.Metrics, page http.Handler, stderr io.Writer) (func(), error) {
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usagef("-metrics-addr %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.Handle("/healthz", m.Handler())
	review := ""
	if page != nil { // none with -config: the review page is not per workflow yet
		mux.Handle("/", page)
		review = fmt.Sprintf("review at http://%s/, ", ln.Addr())
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintf(stderr, "hotfolder: %smetrics at http://%s/metrics, health at http://%[2]s/healthz\n", review, ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// stateInUse is the built-in emulator's folder held by another hotfolder
// using the same state folder.
type stateInUse struct{ err error }

func (e stateInUse) Error() string {
	return "the state folder is in use by another hotfolder: " + e.err.Error()
}
func (e stateInUse) Unwrap() error { return e.err }
func (e stateInUse) Hint() string {
	return "stop the other hotfolder, or give this one its own -out or -state"
}

// storage opens the -storage location for adobe mode, sending no request
// (useAdobe checks it).
func storage(ctx context.Context, cfg config, hc *http.Client) (uploader.Storage, error) {
	switch {
	case strings.HasPrefix(cfg.storage, "s3://"):
		bucket, prefix, err := s3store.ParseURL(cfg.storage)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		return s3store.New(ctx, s3store.Config{Bucket: bucket, Prefix: prefix, Endpoint: cfg.s3Endpoint, PathStyle: cfg.s3PathStyle})
	case strings.HasPrefix(cfg.storage, "azblob://"):
		account, ctr, prefix, err := azstore.ParseURL(cfg.storage)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		c := azstore.Config{Account: account, Container: ctr, Prefix: prefix, Endpoint: cfg.azureEndpoint, HTTPClient: hc}
		if err := c.FromEnv(os.Getenv); err != nil {
			return nil, err
		}
		return azstore.New(c)
	case strings.HasPrefix(cfg.storage, "gs://"):
		bucket, prefix, err := gcsstore.ParseURL(cfg.storage)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		return gcsstore.New(ctx, gcsstore.Config{Bucket: bucket, Prefix: prefix, Endpoint: cfg.gcsEndpoint})
	case strings.HasPrefix(cfg.storage, "http://"), strings.HasPrefix(cfg.storage, "https://"):
		// The standalone emulator's upload store (hotfolder emulator prints it).
		return emulator.NewStore(strings.TrimSuffix(cfg.storage, "/"), hc), nil
	case cfg.storage == "":
		return nil, usagef("-api adobe needs -storage s3://BUCKET[/PREFIX], azblob://ACCOUNT/CONTAINER[/PREFIX] or gs://BUCKET[/PREFIX]: Adobe fetches each input from a presigned URL")
	}
	return nil, usagef("-storage %q: want s3://BUCKET[/PREFIX], azblob://ACCOUNT/CONTAINER[/PREFIX] or gs://BUCKET[/PREFIX]", cfg.storage)
}

// The packages meet only here: check they fit.
var (
	_ pipeline.Remote  = (*uploader.Client)(nil)
	_ uploader.Limiter = (*ratelimit.Set)(nil)
	_ uploader.Storage = (*s3store.Store)(nil)
	_ uploader.Storage = (*azstore.Store)(nil)
	_ uploader.Storage = (*gcsstore.Store)(nil)
	_ uploader.Storage = (*emulator.Store)(nil)
	_ pipeline.Quota   = (*ratelimit.Set)(nil)
)

// runEmulator runs the emulator on its own, for trying hotfolder's adobe mode
// (or any other client) against it.
func runEmulator(args []string, stdout, stderr io.Writer) int {
	c, err := emulator.ParseCommand(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "hotfolder emulator: %v\n", err)
		return exitUsage
	}
	c.Config.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := emulator.StartOn(c.Config, c.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "hotfolder emulator: %v\n", err)
		return exitFatal
	}
	defer srv.Close()
	id, secret := srv.Credentials()
	fmt.Fprintf(stdout, `hotfolder emulator listening on %[1]s (outputs are NOT Adobe's)
  export ADOBE_CLIENT_ID=%[2]s ADOBE_CLIENT_SECRET=%[3]s
  hotfolder -api adobe -ims-url %[4]s -image-api-url %[5]s -photoshop-api-url %[6]s -storage %[7]s -in IN -out OUT
  stats: %[1]s/emulator/stats
`, srv.URL(), id, secret, srv.IMSURL(), srv.ImageAPIURL(), srv.PhotoshopAPIURL(), srv.StorageURL())
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	<-ctx.Done()
	return exitOK
}

// runStatus prints what the journal of a state folder says, and with
// -redis what the organization's shared quota says: what a person checks
// in the morning.
func runStatus(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("hotfolder status", flag.ContinueOnError)
	fset.SetOutput(stderr)
	out := fset.String("out", "", "output `folder` of the runs (the state folder is OUT/.hotfolder)")
	state := fset.String("state", "", "state `folder`, when the runs were given -state")
	redisURL := fset.String("redis", "", "also show the organization's quota shared through this Redis `URL`: processes alive, grants, pauses, POSTs today")
	groupName := fset.String("quota-group", "", "with -redis, the quota group (default: from ADOBE_CLIENT_ID, as the runs do)")
	asJSON := fset.Bool("json", false, "print JSON")
	configFile := fset.String("config", "", "the status of every workflow of this config `file`")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *configFile != "" {
		return workflowStatus(*configFile, *asJSON, stdout, stderr)
	}
	dir := *state
	if dir == "" && *out != "" {
		dir = pipeline.StateDir(*out)
	}
	if dir == "" && *redisURL == "" {
		fmt.Fprintln(stderr, "hotfolder status: give -out DIR (or -state DIR), or -redis URL")
		return exitUsage
	}
	var (
		run   *pipeline.Status
		group *redisquota.Status
	)
	if dir != "" {
		st, err := pipeline.ReadStatus(dir, time.Now())
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(stderr, "hotfolder status: no hotfolder run has used %s yet\n", dir)
			return exitFatal
		case err != nil:
			printError(stderr, err)
			return exitFatal
		}
		run = &st
	}
	if *redisURL != "" {
		gs, code := groupStatus(*redisURL, *groupName, dir, stderr)
		if code != exitOK {
			return code
		}
		group = &gs
	}
	return writeStatus(stdout, run, group, *asJSON)
}

// runReview writes the review page of a state folder's runs and prints
// its path; -open opens it in the browser, when there is one.
func runReview(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("hotfolder review", flag.ContinueOnError)
	fset.SetOutput(stderr)
	out := fset.String("out", "", "output `folder` of the runs (the state folder is OUT/.hotfolder)")
	state := fset.String("state", "", "state `folder`, when the runs were given -state")
	in := fset.String("in", "", "hot `folder`, to thumbnail inputs a run did not (default: the last run's)")
	open := fset.Bool("open", false, "open the page in the browser")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	dir := *state
	if dir == "" && *out != "" {
		dir = pipeline.StateDir(*out)
	}
	if dir == "" {
		fmt.Fprintln(stderr, "hotfolder review: give -out DIR (or -state DIR)")
		return exitUsage
	}
	for _, p := range []*string{&dir, in, out} {
		if *p != "" {
			*p, _ = filepath.Abs(*p)
		}
	}
	index, err := review.Build(context.Background(), review.BuildOptions{State: dir, In: *in, Out: *out})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(stderr, "hotfolder review: no hotfolder run has used %s yet\n", dir)
		return exitFatal
	case err != nil:
		printError(stderr, err)
		return exitFatal
	}
	fmt.Fprintln(stdout, index)
	if *open {
		opener := "xdg-open"
		if runtime.GOOS == "darwin" {
			opener = "open"
		}
		if err := exec.Command(opener, index).Start(); err != nil {
			fmt.Fprintf(stderr, "hotfolder review: could not open a browser (%v): open the path above\n", err)
		}
	}
	return exitOK
}

// workflowStatus prints what the journal of each workflow of a config file
// says, workflow by workflow; one that has not run yet says so.
func workflowStatus(file string, asJSON bool, stdout, stderr io.Writer) int {
	c, err := workflow.Load(file)
	if err != nil {
		fmt.Fprintf(stderr, "hotfolder status: %v\n", err)
		return exitUsage
	}
	now := time.Now()
	all := map[string]*pipeline.Status{}
	for _, w := range c.Workflows {
		st, err := pipeline.ReadStatus(w.State, now)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			all[w.Name] = nil
		case err != nil:
			printError(stderr, fmt.Errorf("workflow %s: %w", w.Name, err))
			return exitFatal
		default:
			all[w.Name] = &st
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if enc.Encode(struct {
			Workflows map[string]*pipeline.Status `json:"workflows"`
		}{all}) != nil {
			return exitFatal
		}
		return exitOK
	}
	for _, w := range c.Workflows {
		fmt.Fprintf(stdout, "workflow %s (priority %d, %s → %s)\n", w.Name, w.Priority, w.In, w.Out)
		if st := all[w.Name]; st != nil {
			progress.WriteStatus(stdout, *st, now)
		} else {
			fmt.Fprintln(stdout, "  no run yet")
		}
	}
	return exitOK
}

// groupStatus reads the organization's shared quota for runStatus.
func groupStatus(url, group, state string, stderr io.Writer) (redisquota.Status, int) {
	if err := checkRedisURL(url); err != nil {
		fmt.Fprintf(stderr, "hotfolder status: %v\n", err)
		return redisquota.Status{}, exitUsage
	}
	api := "adobe"
	if os.Getenv("ADOBE_CLIENT_ID") == "" && group == "" {
		if state == "" {
			fmt.Fprintln(stderr, "hotfolder status: give -quota-group NAME (or ADOBE_CLIENT_ID, or the -out of an emulator run)")
			return redisquota.Status{}, exitUsage
		}
		api = "emulator"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gs, err := redisquota.ReadStatus(ctx, redisquota.Config{URL: url, Password: os.Getenv("REDIS_PASSWORD"),
		Group: quotaGroup(config{quotaGroup: group}, setup{api: api, state: state}, os.Getenv)})
	if err != nil {
		printError(stderr, err)
		return gs, exitFatal
	}
	return gs, exitOK
}

// writeStatus prints what runStatus read, as text or JSON. The JSON of a
// state folder alone keeps its earlier shape.
func writeStatus(stdout io.Writer, run *pipeline.Status, group *redisquota.Status, asJSON bool) int {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		var v any = struct {
			Run   *pipeline.Status   `json:"run,omitempty"`
			Group *redisquota.Status `json:"group,omitempty"`
		}{run, group}
		if group == nil {
			v = run
		}
		if err := enc.Encode(v); err != nil {
			return exitFatal
		}
		return exitOK
	}
	now := time.Now()
	if run != nil {
		progress.WriteStatus(stdout, *run, now)
	}
	if group != nil {
		progress.WriteGroup(stdout, *group, now)
	}
	return exitOK
}
