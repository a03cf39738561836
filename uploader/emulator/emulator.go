package emulator

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"hotfolder/ratelimit"
)

// Config configures a [Server]. The zero value is a usable emulator with
// random credentials, Adobe's soft limits, jobs taking 0.5–2 s and a
// temporary directory.
type Config struct {
	// ClientID and ClientSecret are the credentials the IMS endpoint
	// accepts; the client id is also the x-api-key. Random when empty.
	ClientID, ClientSecret string
	// Limits are enforced as exact sliding windows, one per bucket; a bucket
	// missing from the profile is unlimited (so an empty, non-nil profile
	// turns limits off). nil means [ratelimit.Soft].
	Limits ratelimit.Profile
	// A job's duration, on the Now clock, is uniform in [MinLatency,
	// MaxLatency]. Both zero: 500 ms–2 s. MaxLatency below MinLatency is
	// raised to it.
	MinLatency, MaxLatency time.Duration
	// ResultTTL is how long a finished job's result URL stays valid and its
	// status stays known (afterwards the status is 404 unknown_job_id, like
	// Adobe's eventually). Default 1 h. A hosted output's URL is valid for
	// its validityPeriod instead, and the job is kept at least that long.
	ResultTTL time.Duration
	// TokenTTL is an access token's lifetime. Default 24 h; expires_in
	// reports it minus one second, like IMS's 86399.
	TokenTTL time.Duration
	// Dir keeps uploads, downloaded inputs and results. Empty: a temporary
	// directory that Close removes.
	//
	// A given Dir is persistent: it also keeps the emulator's identity
	// ([Server.ID]), the secret that signs its URLs and every job, so that
	// the next emulator on it answers for the jobs of the earlier ones
	// (unfinished ones are run again) and accepts the URLs they signed.
	// Only one emulator at a time may use it ([ErrDirInUse]); Close leaves
	// it in place.
	Dir string
	// Workers bounds how many images are processed at once. Default
	// runtime.NumCPU().
	Workers int
	// Faults injects failures; the zero value injects none.
	Faults Faults
	// Now is the clock for token expiry, rate windows, job progress and URL
	// expiry. Default time.Now.
	Now func() time.Time
	// Seed seeds the randomness of latencies and faults (reproducible runs).
	Seed uint64
	// Logger receives one Debug record per request and per finished job.
	// nil discards.
	Logger *slog.Logger
	// HTTPClient fetches job inputs. nil: a client with a 5-minute timeout.
	HTTPClient *http.Client
}

// Faults injects failures into the API (the operations' POSTs, status
// GETs and the unsupported endpoints; not IMS, storage or results). Rates
// are fractions of requests in [0, 1], drawn from the Config's Seed.
type Faults struct {
	// ServerErrorRate answers this fraction of API requests that passed the
	// rate limit (and consumed a slot, as a request that reached the service
	// would) with 502, 503, 504 in turn. Bodies alternate between JSON and
	// empty, unless EmptyBodies makes them all empty.
	ServerErrorRate float64
	// TooManyRate answers this fraction of authenticated API requests with
	// 429 regardless of the limits (another machine sharing the quota),
	// with Retry-After: 1. Such requests consume no slot.
	TooManyRate float64
	// OmitRetryAfter drops the Retry-After header from every 429.
	OmitRetryAfter bool
	// EmptyBodies makes every 429 and 5xx answer's body empty, as one of
	// Adobe's gateways does.
	EmptyBodies bool
	// JobFailureRate makes this fraction of accepted jobs (of every
	// operation) end "failed" with a runtime_error entry in errorDetails.
	JobFailureRate float64
	// Intercept, when set, sees every request first; returning true means
	// it has answered and the emulator does nothing more (tests). A job
	// whose source is one of the emulator's own storage URLs reads it from
	// the storage folder, with no request for Intercept to see.
	Intercept func(w http.ResponseWriter, r *http.Request) bool
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("emulator: server closed")

// Server is the emulator. Create it with [New] or [Start]; serve it with
// [Server.Serve] or mount [Server.Handler]; finish with [Server.Close].
// A Server is safe for concurrent use.
type Server struct {
	cfg     Config
	now     func() time.Time
	log     *slog.Logger
	hc      *http.Client
	dir     string
	tempDir bool
	// persistent: jobs are saved in dir and outlive the process (Config.Dir given).
	persistent bool
	lock       *os.File // holds dir's lock while persistent
	id         string
	secret     []byte // signs storage and result URLs

	ctx    context.Context // cancelled by Close: stops queued and fetching jobs
	cancel context.CancelFunc
	wg     sync.WaitGroup // job goroutines
	sem    chan struct{}  // Workers slots

	mu      sync.Mutex // guards everything below
	rng     *rand.Rand
	tokens  map[string]time.Time // access token → expiry
	windows map[ratelimit.Bucket]*ratelimit.Window
	jobs    map[string]*job
	objects map[string]object // storage key → metadata
	stats   Stats
	fault5  int // rotates injected 5xx codes and bodies
	swept   time.Time
	base    string
	servers []*http.Server
	closed  bool
}

// New returns an emulator that is not yet listening: use [Server.Serve] or
// [Server.Handler]. Its directories are created now. With a Config.Dir an
// earlier emulator used, New loads that emulator's jobs and starts running
// again those it had not finished; it fails with [ErrDirInUse] while
// another emulator uses the Dir.
func New(cfg Config) (*Server, error) {
	if cfg.ClientID == "" {
		cfg.ClientID = randomHex(16)
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = "p8e-" + randomHex(16)
	}
	if cfg.Limits == nil {
		cfg.Limits = ratelimit.Soft()
	}
	if cfg.MinLatency == 0 && cfg.MaxLatency == 0 {
		cfg.MinLatency, cfg.MaxLatency = 500*time.Millisecond, 2*time.Second
	}
	cfg.MaxLatency = max(cfg.MaxLatency, cfg.MinLatency)
	if cfg.ResultTTL <= 0 {
		cfg.ResultTTL = time.Hour
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 24 * time.Hour
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}

	if _, err := loadSpecs(); err != nil {
		return nil, err
	}
	st, err := openDir(cfg.Dir)
	if err != nil {
		return nil, err
	}

	windows := make(map[ratelimit.Bucket]*ratelimit.Window)
	for b, l := range cfg.Limits {
		if l.N > 0 && l.Window > 0 {
			windows[b] = ratelimit.NewWindow(l)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:        cfg,
		now:        cfg.Now,
		log:        log,
		hc:         hc,
		dir:        st.dir,
		tempDir:    st.temp,
		persistent: !st.temp,
		lock:       st.lock,
		id:         st.id,
		secret:     st.secret,
		ctx:        ctx,
		cancel:     cancel,
		sem:        make(chan struct{}, cfg.Workers),
		rng:        rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		tokens:     make(map[string]time.Time),
		windows:    windows,
		jobs:       make(map[string]*job),
		objects:    make(map[string]object),
		stats:      newStats(),
	}
	if s.persistent {
		s.resume()
	}
	return s, nil
}

// resume loads the jobs saved in the directory, clears what a killed
// process left half-done, and runs again the jobs that had not finished.
func (s *Server) resume() {
	unfinished := s.loadJobs(s.now())
	s.removeLeftovers()
	s.stats.Resumed = len(unfinished)
	if len(s.jobs) > 0 {
		s.log.Info("emulator loaded the jobs of its earlier runs", "dir", s.dir, "jobs", len(s.jobs), "resumed", len(unfinished))
	}
	for _, j := range unfinished {
		s.wg.Add(1)
		go s.run(j)
	}
}

// Start returns an emulator serving on a free port of 127.0.0.1.
func Start(cfg Config) (*Server, error) { return StartOn(cfg, "127.0.0.1:0") }

// StartOn returns an emulator serving on addr (host:port), its URL already
// set: what the standalone command needs. Serving errors after the start
// are logged.
func StartOn(cfg Config, addr string) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("emulator: %w", err)
	}
	s.setBase(l.Addr())
	go func() {
		if err := s.Serve(l); err != nil && !errors.Is(err, ErrClosed) {
			s.log.Error("emulator stopped serving", "err", err)
		}
	}()
	return s, nil
}

// Serve answers requests on l until Close, then returns nil. The first
// listener served sets [Server.URL] (an unspecified address such as
// 0.0.0.0 becomes 127.0.0.1).
func (s *Server) Serve(l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 30 * time.Second}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrClosed
	}
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	s.setBase(l.Addr())
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("emulator: %w", err)
	}
	return nil
}

func (s *Server) setBase(a net.Addr) {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == "" {
		s.base = "http://" + net.JoinHostPort(host, port)
	}
}

// Handler returns the emulator's HTTP handler, for mounting in a server of
// your own (e.g. httptest). Until Serve or Start has set [Server.URL], the
// URLs in answers are built from each request's Host.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// URL returns the base URL, e.g. http://127.0.0.1:41234, or "" before the
// emulator listens.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base
}

// IMSURL returns the token endpoint's URL.
func (s *Server) IMSURL() string { return s.URL() + imsPath }

// ImageAPIURL returns the base URL of the remove-background and
// auto-crop host (image.adobe.io's stand-in).
func (s *Server) ImageAPIURL() string { return s.URL() }

// PhotoshopAPIURL returns the base URL of the other Photoshop API host
// (photoshop-api.adobe.io's stand-in: edit, execute-actions,
// create-composite, generate-manifest). Both hosts are this one server, so
// GET /v2/status/{jobId} answers for every job on either.
func (s *Server) PhotoshopAPIURL() string { return s.URL() }

// StorageURL returns the upload store's base URL, for [NewStore].
func (s *Server) StorageURL() string { return s.URL() + "/storage" }

// ID identifies the emulator's job store, as 16 hex digits: the same for
// every emulator on one Config.Dir (it is created with the Dir's first
// use and kept in it), and random for each emulator on a temporary
// directory. A client that records it with its jobs can tell whether a
// later emulator can answer for them.
func (s *Server) ID() string { return s.id }

// Credentials returns the client id (also the API key) and secret the
// emulator accepts.
func (s *Server) Credentials() (clientID, clientSecret string) {
	return s.cfg.ClientID, s.cfg.ClientSecret
}

// Close stops serving, cancels jobs waiting for a worker or still fetching
// their input, waits for the rest, and removes the directory if it was a
// temporary one. In a persistent Config.Dir the cancelled jobs stay
// unfinished, to be run by the next emulator on it, and Close releases the
// Dir without removing it. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	servers := s.servers
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Close())
	}
	s.cancel()
	s.wg.Wait()
	if s.tempDir {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close()) // after the jobs' last saves
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("emulator: close: %w", err)
	}
	return nil
}

// baseFor returns the base URL for links in an answer to r.
func (s *Server) baseFor(r *http.Request) string {
	if b := s.URL(); b != "" {
		return b
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if f := s.cfg.Faults.Intercept; f != nil && f(w, r) {
		return
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	path := r.URL.Path
	switch {
	case path == imsPath:
		s.serveIMS(rec, r)
	case strings.HasPrefix(path, "/storage/"):
		s.serveStorage(rec, r)
	case strings.HasPrefix(path, "/results/"):
		s.serveResult(rec, r)
	case path == "/emulator/stats" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		writeJSON(rec, http.StatusOK, s.Stats())
	case strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/v2/"):
		s.serveAPI(rec, r)
	default:
		http.NotFound(rec, r)
	}
	s.log.Debug("emulator request", "method", r.Method, "path", path, "status", rec.status)
}

// statusRecorder remembers the status code for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func randomHex(n int) string {
	b := make([]byte, n)
	crand.Read(b) // never fails
	return hex.EncodeToString(b)
}
