package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files of a persistent Config.Dir, beside the subdirectories of storage.go.
const (
	jobsDir    = "jobs"   // one file per job, named by the SHA-256 of its id
	idFile     = "id"     // the emulator's identity, see Server.ID
	secretFile = "secret" // the key that signs storage and result URLs
	lockFile   = "lock"   // flocked while an emulator uses the directory
	tmpPrefix  = ".tmp-"  // files being written; leftovers of a crash
)

// ErrDirInUse means another emulator (in this process or another) is
// using the Config.Dir that New was given.
var ErrDirInUse = errors.New("directory in use")

// errLocked is lockDir's answer when another holds the lock.
var errLocked = errors.New("locked")

// dirState is what New finds or creates in the emulator's directory.
type dirState struct {
	dir    string
	temp   bool     // a temporary directory that Close removes
	lock   *os.File // holds the directory's lock; nil when temp
	id     string
	secret []byte
}

// openDir prepares cfgDir, or a temporary directory when it is empty. A
// given directory is locked, and its identity and signing secret are read,
// or created the first time, so that they outlive the process.
func openDir(cfgDir string) (*dirState, error) {
	if cfgDir == "" {
		d, err := os.MkdirTemp("", "hotfolder-emulator-")
		if err != nil {
			return nil, fmt.Errorf("emulator: %w", err)
		}
		st := &dirState{dir: d, temp: true, id: randomHex(8), secret: []byte(randomHex(32))}
		return st, makeSubdirs(d, false)
	}
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	lock, err := takeLock(cfgDir)
	if err != nil {
		return nil, err
	}
	st := &dirState{dir: cfgDir, lock: lock}
	if err := st.loadIdentity(); err != nil {
		lock.Close()
		return nil, err
	}
	if err := makeSubdirs(cfgDir, true); err != nil {
		lock.Close()
		return nil, err
	}
	return st, nil
}

// takeLock opens dir's lock file and locks it without waiting.
func takeLock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	if err := lockDir(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("emulator: %w: another emulator is using %s", ErrDirInUse, dir)
		}
		return nil, fmt.Errorf("emulator: lock %s: %w", dir, err)
	}
	return f, nil
}

// loadIdentity reads or creates the id and the secret. The secret's file
// is private: whoever reads it can sign URLs.
func (st *dirState) loadIdentity() error {
	id, err := loadOrCreate(filepath.Join(st.dir, idFile), 8, 0o644)
	if err != nil {
		return err
	}
	secret, err := loadOrCreate(filepath.Join(st.dir, secretFile), 32, 0o600)
	if err != nil {
		return err
	}
	st.id, st.secret = id, []byte(secret)
	return nil
}

// loadOrCreate returns the hex string of n random bytes kept in path,
// writing a new one when the file does not exist. A file that does not
// hold such a string fails: replacing it would silently change the
// emulator's identity or invalidate every URL it signed.
func loadOrCreate(path string, n int, perm os.FileMode) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		v := randomHex(n)
		if err := writeFileAtomic(path, []byte(v+"\n"), perm); err != nil {
			return "", fmt.Errorf("emulator: %w", err)
		}
		return v, nil
	}
	if err != nil {
		return "", fmt.Errorf("emulator: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if _, err := hex.DecodeString(v); err != nil || len(v) != 2*n {
		return "", fmt.Errorf("emulator: %s does not hold %d hex digits (remove it to have a new one made)", path, 2*n)
	}
	return v, nil
}

func makeSubdirs(dir string, persistent bool) error {
	subs := []string{storageDir, resultsDir, workDir}
	if persistent {
		subs = append(subs, jobsDir)
	}
	for _, sub := range subs {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("emulator: %w", err)
		}
	}
	return nil
}

// writeFileAtomic replaces path with data: written to a temporary file in
// the same directory, synced and renamed, so that a crash leaves either
// the old file or the new one, never a part.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. Best effort: some systems cannot
// sync a directory, and the file itself is already synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// jobFileVersion is the format of job files; files of another are
// skipped, except those of version 1 (remove background only), which read
// as version 2 files without an op.
const jobFileVersion = 2

// jobRecord is a job file: the submission, and the outcome once finished.
type jobRecord struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	// Op is the operation; "" is remove background, which records its
	// request in Source to Background, the others in Request.
	Op      string          `json:"op,omitempty"`
	Request json.RawMessage `json:"request,omitempty"`
	// Local maps the request's URLs that are the emulator's own (uploads,
	// hosted results) to their files, see inputs.go.
	Local  map[string]string `json:"local,omitempty"`
	Source string            `json:"source,omitempty"`
	// StorageKey is set when Source is one of the emulator's own storage
	// URLs: the input is read from the storage folder, which outlives the
	// port the URL names.
	StorageKey string        `json:"storageKey,omitempty"`
	Mode       string        `json:"mode"`
	MediaType  string        `json:"mediaType,omitempty"` // requested; "" = the input's
	Trim       bool          `json:"trim,omitempty"`
	Background *color.NRGBA  `json:"backgroundColor,omitempty"`
	Created    time.Time     `json:"created"`
	Latency    time.Duration `json:"latencyNs"`
	InjectFail bool          `json:"injectFailure,omitempty"`
	Outcome    *jobOutcome   `json:"outcome,omitempty"` // nil: not finished
}

type jobOutcome struct {
	Finished  time.Time       `json:"finished"`
	Result    string          `json:"result,omitempty"`    // remove background: file name in the results directory
	MediaType string          `json:"mediaType,omitempty"` // of the result
	Outputs   []outputRecord  `json:"outputs,omitempty"`   // the other operations
	AutoCrop  *autoCropResult `json:"autoCrop,omitempty"`
	Failure   *jobFailure     `json:"failure,omitempty"`
}

// jobFileName is the name of a job's file: ids hold colons, which not
// every file system accepts.
func jobFileName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:]) + ".json"
}

func (s *Server) jobPath(id string) string {
	return filepath.Join(s.dir, jobsDir, jobFileName(id))
}

// saveJob records j, with its outcome when finished is true, so that the
// next emulator on this directory answers for it. Nothing is saved with a
// temporary directory. Call it from the goroutine that owns j's fields:
// the submitting handler before run starts, or run before j.done closes.
func (s *Server) saveJob(j *job, finished bool) error {
	if !s.persistent {
		return nil
	}
	b, err := json.Marshal(j.record(finished))
	if err != nil {
		return fmt.Errorf("emulator: save job %s: %w", j.id, err)
	}
	if err := writeFileAtomic(s.jobPath(j.id), b, 0o644); err != nil {
		return fmt.Errorf("emulator: save job %s: %w", j.id, err)
	}
	return nil
}

// forget deletes a finished job's results and file. Call with s.mu held.
func (s *Server) forget(j *job) {
	delete(s.jobs, j.id)
	s.removeResults(j.files())
	if s.persistent {
		os.Remove(s.jobPath(j.id))
	}
}

func (j *job) record(finished bool) jobRecord {
	r := jobRecord{
		Version:    jobFileVersion,
		ID:         j.id,
		Op:         j.op,
		Request:    j.body,
		Local:      j.local,
		Source:     j.spec.source,
		StorageKey: j.key,
		Mode:       j.spec.mode,
		MediaType:  j.spec.mediaType,
		Trim:       j.spec.trim,
		Background: j.spec.background,
		Created:    j.created,
		Latency:    j.latency,
		InjectFail: j.injectFail,
	}
	if finished {
		r.Outcome = &jobOutcome{Finished: j.finished, Result: j.result, MediaType: j.mediaType,
			Outputs: j.outputs, AutoCrop: j.autoCrop, Failure: j.failure}
	}
	return r
}

// check reports what makes a record unusable.
func (r *jobRecord) check() error {
	switch {
	case r.Version != jobFileVersion && (r.Version != 1 || r.Op != ""):
		return fmt.Errorf("format version %d, want %d", r.Version, jobFileVersion)
	case r.ID == "":
		return errors.New("no job id")
	case r.Op == "" && r.Source == "":
		return errors.New("no source")
	case r.Op == "" && !slices.Contains([]string{modeCutout, modeMask, modePSD}, r.Mode):
		return fmt.Errorf("unknown mode %q", r.Mode)
	case r.Op != "" && len(r.Request) == 0:
		return fmt.Errorf("a %s job without its request", r.Op)
	case r.Created.IsZero() || r.Latency < 0:
		return errors.New("no creation time or a negative latency")
	}
	for src, ref := range r.Local {
		name, isResult := strings.CutPrefix(ref, resultRef)
		if src == "" || (!strings.HasPrefix(ref, storageRef) && !isResult) || (isResult && !validResultName(name)) {
			return fmt.Errorf("a bad local reference %q", ref)
		}
	}
	o := r.Outcome
	switch {
	case o == nil:
		return nil
	case o.Finished.IsZero():
		return errors.New("an outcome without its time")
	case o.Failure != nil:
		return nil
	case r.Op == "" && (!validResultName(o.Result) || o.MediaType == ""):
		return errors.New("a success without a valid result")
	case r.Op == opAutoCrop && o.AutoCrop == nil, r.Op != "" && r.Op != opAutoCrop && len(o.Outputs) == 0:
		return errors.New("a success without its outputs")
	}
	for _, out := range o.Outputs {
		if out.Hosted != "" && !validResultName(out.Hosted) {
			return fmt.Errorf("a bad result file name %q", out.Hosted)
		}
	}
	return nil
}

// job rebuilds the job r records; a finished one has its done closed.
func (r *jobRecord) job() (*job, error) {
	j := &job{
		id:         r.ID,
		op:         r.Op,
		spec:       jobSpec{source: r.Source, mode: r.Mode, mediaType: r.MediaType, trim: r.Trim, background: r.Background},
		key:        r.StorageKey,
		local:      r.Local,
		created:    r.Created,
		latency:    r.Latency,
		injectFail: r.InjectFail,
		done:       make(chan struct{}),
	}
	if j.local == nil {
		j.local = make(map[string]string)
	}
	if r.StorageKey != "" {
		j.local[r.Source] = storageRef + r.StorageKey
	}
	if r.Op != "" {
		req, err := parseRecorded(r.Op, r.Request)
		if err != nil {
			return nil, err
		}
		j.body, j.req = r.Request, req
	}
	if o := r.Outcome; o != nil {
		j.finished, j.result, j.mediaType, j.failure = o.Finished, o.Result, o.MediaType, o.Failure
		j.outputs, j.autoCrop = o.Outputs, o.AutoCrop
		close(j.done)
	}
	return j, nil
}

// loadJobs reads the jobs an earlier emulator on this directory saved, as
// of now: finished ones answer again until their results expire (expired
// ones are deleted, as sweep would have), unfinished ones are returned to
// be run again. A file that cannot be read is logged and skipped: one bad
// file must not cost the other jobs. Call before the Server is shared.
func (s *Server) loadJobs(now time.Time) (unfinished []*job) {
	dir := filepath.Join(s.dir, jobsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.Error("emulator cannot list its saved jobs", "dir", dir, "err", err)
		return nil
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			os.Remove(filepath.Join(dir, e.Name())) // a save cut short
			continue
		}
		j, err := readJob(filepath.Join(dir, e.Name()))
		if err != nil {
			s.log.Warn("emulator skips an unreadable job file", "file", filepath.Join(dir, e.Name()), "err", err)
			continue
		}
		if isDone(j) && now.After(j.modified().Add(s.retention(j))) {
			s.forget(j)
			continue
		}
		s.jobs[j.id] = j
		if !isDone(j) {
			unfinished = append(unfinished, j)
		}
	}
	return unfinished
}

// readJob reads and checks one job file.
func readJob(path string) (*job, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r jobRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	if filepath.Base(path) != jobFileName(r.ID) {
		return nil, fmt.Errorf("the file of job %s is named %s", r.ID, jobFileName(r.ID))
	}
	return r.job()
}

// removeLeftovers deletes what a process killed on this directory left
// behind and nothing refers to any more: partial uploads and inputs, and
// results of jobs that are not known (finished, but their file was lost,
// or cut off before their file recorded them). Call after loadJobs.
func (s *Server) removeLeftovers() {
	removeMatching(filepath.Join(s.dir, workDir), func(string) bool { return true })
	removeMatching(filepath.Join(s.dir, storageDir), func(name string) bool { return strings.HasPrefix(name, ".put-") })
	removeMatching(s.dir, func(name string) bool { return strings.HasPrefix(name, tmpPrefix) })
	known := make(map[string]bool)
	for _, j := range s.jobs {
		for _, f := range j.files() {
			known[f] = true
		}
	}
	removeMatching(filepath.Join(s.dir, resultsDir), func(name string) bool { return !known[name] })
}

// removeMatching deletes the files in dir whose names match.
func removeMatching(dir string, match func(name string) bool) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() && match(e.Name()) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func isDone(j *job) bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}
