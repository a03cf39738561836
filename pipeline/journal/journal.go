package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// formatVersion is the journal file format this package writes and reads.
// An older file is migrated on Open; a newer one is refused. Format 2 added
// records of version 2 (Record.API), which format 1 cannot read, and the
// grants in the meta bucket; format 3 records of version 3 (several
// outputs, recipe steps); format 4 records of version 4 (Record.CopyOf),
// the totals and the job times in the meta bucket.
const formatVersion = 4

// DefaultTimeout is how long Open waits for another process to let go of
// the journal when Options.Timeout is zero.
const DefaultTimeout = 100 * time.Millisecond

// Bucket and key names.
const (
	metaBucket   = "meta"   // holds formatKey
	formatKey    = "format" // the file's format version, a uvarint
	inputsBucket = "inputs" // the records, by Rel
)

// eachBatch is how many records Each reads per transaction: enough to make
// the transactions' cost vanish, few enough to hold little memory.
const eachBatch = 1024

// Options configures [Open]. The zero value opens for writing, waiting
// DefaultTimeout for the lock.
type Options struct {
	// Now stamps Record.Updated; nil means time.Now.
	Now func() time.Time
	// Timeout is how long Open waits for the file lock held by another
	// process, trying every 10 ms; zero or negative means DefaultTimeout.
	Timeout time.Duration
	// ReadOnly opens an existing journal for reading only, taking a
	// shared lock: other readers may open it too, a writer may not (and a
	// reader cannot open it while a writer has it). Put, PutMany and Delete
	// then fail.
	ReadOnly bool
}

// Journal is an open journal file. Create it with [Open] and release it
// with [Journal.Close]. It is safe for concurrent use by multiple
// goroutines: reads run in parallel, writes one at a time (bbolt
// serializes them), and each write is durable when it returns. The zero
// value is not usable.
type Journal struct {
	db   *bolt.DB
	file *os.File // bbolt's file, kept to release the lock if bbolt is left unusable
	path string
	now  func() time.Time

	// badRecord is the first record Open found damaged, if any.
	badRecord *Error

	// broken is set once bbolt has panicked: its locks may be held, so
	// nothing goes through it any more and Close just closes the file.
	broken    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Open opens the journal at path, creating it (and its folder) if it does
// not exist, unless opt.ReadOnly. It waits up to opt.Timeout for another
// process to release the file, then fails with [ErrLocked]. It checks the
// whole file (see the package documentation) and fails with [ErrCorrupt]
// if it is damaged, or [ErrNewerFormat] if a newer hotfolder wrote it. A
// read-only Open of a missing journal fails with fs.ErrNotExist. Every
// error is an [*Error].
func Open(path string, opt Options) (*Journal, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, ioError("open", path, err)
	}
	path = abs
	if !opt.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
			return nil, ioError("open", path, fmt.Errorf("create state folder: %w", err))
		}
		if err := create(path, opt.Timeout); err != nil {
			return nil, ioError("open", path, fmt.Errorf("create: %w", err))
		}
	}
	j := &Journal{path: path, now: opt.Now}
	if err := j.open(opt); err != nil {
		return nil, err
	}
	if err := j.verify(); err != nil {
		j.Close()
		return nil, err
	}
	if !opt.ReadOnly {
		if err := j.migrate(); err != nil {
			j.Close()
			return nil, err
		}
		removeTemps(path)
	}
	return j, nil
}

// migrate brings a journal of an older format to formatVersion. Its
// records stay as they are (decode reads every record version); only the
// format number changes, so that an older hotfolder refuses the file with
// a clear message instead of finding records it cannot read.
func (j *Journal) migrate() error {
	return j.updateMeta(func(meta *bolt.Bucket) error {
		if format, _ := binary.Uvarint(meta.Get([]byte(formatKey))); format >= formatVersion {
			return nil
		}
		return meta.Put([]byte(formatKey), binary.AppendUvarint(nil, formatVersion))
	})
}

// errEmpty is a journal file of zero bytes. Open never leaves one (a new
// journal is linked into place complete), so it is damage.
var errEmpty = errors.New("the file is empty")

// errLockTimeout is lockFile giving up.
var errLockTimeout = errors.New("lock timeout")

// open locks the file, checks its structure (see fsck) and opens it with
// bbolt. bbolt may still panic or fault on a damaged file the check let
// through (or on one damaged since): that is recovered and reported as
// ErrCorrupt.
func (j *Journal) open(opt Options) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			// bbolt did not return its DB: release its lock and file
			// here. Its mapping stays until the process ends.
			if j.file != nil {
				unlock(j.file)
				j.file.Close()
			}
			err = corruptError("open", j.path, "", fmt.Errorf("bbolt: %v", p))
		}
	}()
	db, err := bolt.Open(j.path, 0o666, &bolt.Options{
		Timeout:  opt.Timeout,
		ReadOnly: opt.ReadOnly,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			// Never create in place: create links a complete file.
			f, err := os.OpenFile(name, flag&^os.O_CREATE, perm)
			if err != nil {
				return nil, err
			}
			if err := j.check(f, opt); err != nil {
				f.Close()
				return nil, err
			}
			j.file = f
			return f, nil
		},
	})
	var e *Error
	switch {
	case err == nil:
		j.db = db
		return nil
	case errors.As(err, &e):
		return err
	case errors.Is(err, berrors.ErrTimeout), errors.Is(err, errLockTimeout):
		return lockedError(j.path, opt.ReadOnly)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum):
		return corruptError("open", j.path, "", err)
	case errors.Is(err, fs.ErrNotExist):
		e := ioError("open", j.path, fs.ErrNotExist)
		e.hint = "no hotfolder run has used this state folder yet, or -state names another folder"
		return e
	}
	var pe *fs.PathError
	var errno syscall.Errno
	if errors.As(err, &pe) || errors.As(err, &errno) {
		return ioError("open", j.path, err)
	}
	// bbolt's other complaints (a file too short to hold its header, say)
	// are about the file's contents.
	return corruptError("open", j.path, "", err)
}

// check locks f for bbolt and checks its structure and records (see
// fsck) before bbolt reads it. A record that fails its checksum is kept in
// j.badRecord rather than reported, so that verify can first tell a
// journal of a newer format (whose records this package cannot read) from
// a damaged one.
func (j *Journal) check(f *os.File, opt Options) error {
	if err := lockFile(f, !opt.ReadOnly, opt.Timeout); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return corruptError("open", j.path, "", errEmpty)
	}
	err = fsck(f, fi.Size(), inputsBucket, func(k, v []byte) error {
		if j.badRecord != nil {
			return nil
		}
		err := errors.New("a bucket where a record should be")
		if v != nil {
			err = verify(k, v)
		}
		if err != nil {
			j.badRecord = corruptError("open", j.path, string(k), err)
		}
		return nil
	})
	if err != nil {
		return corruptError("open", j.path, "", err)
	}
	return nil
}

// verify checks, through bbolt, what fsck left: the format version, then
// the records, then the buckets.
func (j *Journal) verify() error {
	return j.view("open", func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(metaBucket))
		if meta == nil {
			return corruptError("open", j.path, "", errors.New("no meta bucket: not a hotfolder journal"))
		}
		format, n := binary.Uvarint(meta.Get([]byte(formatKey)))
		switch {
		case n <= 0 || format == 0:
			return corruptError("open", j.path, "", errors.New("no format version: not a hotfolder journal"))
		case format > formatVersion:
			return newerError(j.path, format)
		case j.badRecord != nil:
			return j.badRecord
		case tx.Bucket([]byte(inputsBucket)) == nil:
			return corruptError("open", j.path, "", errors.New("no inputs bucket"))
		}
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if string(name) != metaBucket && string(name) != inputsBucket {
				return corruptError("open", j.path, "", fmt.Errorf("unexpected bucket %q", name))
			}
			return nil
		})
	})
}

// create makes a new, empty journal at path if there is none: it builds
// it in a temporary file beside path and links it into place, so the file
// at path is always complete. If two processes create at once, the first
// link wins and the other process opens that one.
func create(path string, timeout time.Duration) error {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there is a file (or Open will report why not)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if err := tmp.Close(); err != nil {
		return err
	}
	db, err := bolt.Open(name, 0o666, &bolt.Options{Timeout: timeout})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte(metaBucket))
		if err != nil {
			return err
		}
		if err := meta.Put([]byte(formatKey), binary.AppendUvarint(nil, formatVersion)); err != nil {
			return err
		}
		_, err = tx.CreateBucket([]byte(inputsBucket))
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	err = os.Link(name, path)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		// File systems without hard links: rename, unless a file appeared.
		if _, serr := os.Lstat(path); errors.Is(serr, fs.ErrNotExist) {
			err = os.Rename(name, path)
		}
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a new name in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil // the file system does not sync folders
	}
	return err
}

// removeTemps deletes temporary files a killed create left beside path.
// It runs with the lock held, so no other process is creating the
// journal; best effort.
func removeTemps(path string) {
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), base+".new-") && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Path returns the journal file's absolute path.
func (j *Journal) Path() string { return j.path }

// Close releases the journal and its lock. It waits for transactions in
// progress. Calling it again does nothing and returns the first result.
func (j *Journal) Close() error {
	j.closeOnce.Do(func() {
		var err error
		if j.broken.Load() {
			// bbolt's own locks may be held: leave it, and let go of
			// the file. Its mapping stays until the process ends.
			unlock(j.file)
			err = j.file.Close()
		} else {
			err = j.db.Close()
		}
		if err != nil {
			j.closeErr = ioError("close", j.path, err)
		}
	})
	return j.closeErr
}

// Get returns the record of rel; ok is false if there is none.
func (j *Journal) Get(rel string) (r Record, ok bool, err error) {
	err = j.view("read", func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(inputsBucket)).Get([]byte(rel))
		if v == nil {
			return nil
		}
		r, err = decode([]byte(rel), v)
		if err != nil {
			return corruptError("read", j.path, rel, err)
		}
		ok = true
		return nil
	})
	if err != nil {
		return Record{}, false, err
	}
	return r, ok, nil
}

// Put writes r, replacing any record of r.Rel, with Updated set to now, as
// one transaction that is on disk when Put returns. A record that is not
// valid (see the package documentation) is refused with a non-fatal error.
func (j *Journal) Put(r Record) error { return j.PutMany([]Record{r}) }

// PutMany writes the records as one transaction, all or none, with the
// same Updated time; a later record of the same Rel wins. If one is not
// valid, none is written.
func (j *Journal) PutMany(rs []Record) error {
	if len(rs) == 0 {
		return nil
	}
	now := j.now()
	var (
		buf  []byte
		ends = make([]int, len(rs))
	)
	for i := range rs {
		r := rs[i]
		if err := r.validate(); err != nil {
			return err
		}
		r.Updated = now
		buf = encode(buf, &r)
		ends[i] = len(buf)
	}
	return j.update(func(b *bolt.Bucket) error {
		start := 0
		for i := range rs {
			// bbolt keeps the slices until the commit: they must not share
			// memory that changes, and buf does not.
			if err := b.Put([]byte(rs[i].Rel), buf[start:ends[i]:ends[i]]); err != nil {
				return err
			}
			start = ends[i]
		}
		return nil
	})
}

// Delete removes the record of rel, durably; a missing record is not an
// error.
func (j *Journal) Delete(rel string) error {
	return j.update(func(b *bolt.Bucket) error { return b.Delete([]byte(rel)) })
}

// Each calls fn with every record, in the byte order of Rel, and returns
// the first error fn returns, unchanged. fn may call the journal, Put
// included: Each reads the records in batches, each in a transaction of
// its own, and calls fn outside them. A record written during Each is
// seen if its Rel sorts after the last one fn was given.
func (j *Journal) Each(fn func(Record) error) error {
	var after []byte
	for {
		batch := make([]Record, 0, eachBatch)
		err := j.view("read", func(tx *bolt.Tx) error {
			c := tx.Bucket([]byte(inputsBucket)).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(batch) < eachBatch; k, v = c.Next() {
				r, err := decode(k, v)
				if err != nil {
					return corruptError("read", j.path, string(k), err)
				}
				batch = append(batch, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(batch) < eachBatch {
			return nil
		}
		after = []byte(batch[len(batch)-1].Rel)
	}
}

// Counts returns how many records are in each state, with a key for every
// one of [States].
func (j *Journal) Counts() (map[State]int, error) {
	counts := make(map[State]int, len(States))
	for _, s := range States {
		counts[s] = 0
	}
	err := j.view("read", func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(inputsBucket)).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			// The state is the second byte; the checksum still guards it.
			if err := verify(k, v); err != nil {
				return corruptError("read", j.path, string(k), err)
			}
			code := v[1]
			if code == 0 || int(code) > len(States) {
				return corruptError("read", j.path, string(k), fmt.Errorf("unknown state %d", code))
			}
			counts[States[code-1]]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// view runs fn in a read transaction, turning bbolt's panics and memory
// faults on a damaged file into ErrCorrupt.
func (j *Journal) view(op string, fn func(*bolt.Tx) error) (err error) {
	if j.broken.Load() {
		return corruptError(op, j.path, "", errors.New("an earlier access failed"))
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer j.recoverCorrupt(op, &err)
	return j.wrap(op, j.db.View(fn))
}

// update runs fn on the inputs bucket in a write transaction, committed
// and synced before it returns.
func (j *Journal) update(fn func(*bolt.Bucket) error) error {
	return j.updateBucket(inputsBucket, fn)
}

// updateMeta is update on the meta bucket.
func (j *Journal) updateMeta(fn func(*bolt.Bucket) error) error {
	return j.updateBucket(metaBucket, fn)
}

func (j *Journal) updateBucket(name string, fn func(*bolt.Bucket) error) (err error) {
	if j.broken.Load() {
		return corruptError("write", j.path, "", errors.New("an earlier access failed"))
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer j.recoverCorrupt("write", &err)
	return j.wrap("write", j.db.Update(func(tx *bolt.Tx) error {
		return fn(tx.Bucket([]byte(name)))
	}))
}

// recoverCorrupt turns a panic in bbolt into ErrCorrupt and marks the
// journal broken. Deferred directly by view and update.
func (j *Journal) recoverCorrupt(op string, err *error) {
	if p := recover(); p != nil {
		j.broken.Store(true)
		*err = corruptError(op, j.path, "", fmt.Errorf("bbolt: %v", p))
	}
}

// wrap turns bbolt's errors into *Error; an *Error passes unchanged.
func (j *Journal) wrap(op string, err error) error {
	var e *Error
	switch {
	case err == nil, errors.As(err, &e):
		return err
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return closedError(op, j.path)
	case errors.Is(err, berrors.ErrDatabaseReadOnly):
		e := ioError(op, j.path, errors.New("opened read-only"))
		e.hint = "this is a bug in hotfolder: a read-only journal was written to"
		return e
	}
	return ioError(op, j.path, err)
}
