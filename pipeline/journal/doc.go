// Package journal is the crash-safe record of a hotfolder run: for every
// input, how far it got (queued, uploaded, submitted, done or failed) and
// what the next run needs to pick it up from there — the upload's storage
// key, the job's ID and status URL, the output name, the failure. An
// overnight run that is killed (SIGKILL, a reboot, Ctrl-C) is run again,
// and the next run skips the files that are done, polls the jobs that were
// submitted instead of paying for them twice, and loses nothing.
//
// The journal is one bbolt file (go.etcd.io/bbolt), normally
// STATE/journal.db. Open it with [Open], read it with [Journal.Get],
// [Journal.Each] and [Journal.Counts], change it with [Journal.Put],
// [Journal.PutMany] and [Journal.Delete], and [Journal.Close] it at the end.
//
// # States
//
// A [Record] is keyed by its input's path relative to the hot folder
// (Record.Rel, slash-separated). It moves through
//
//	Queued → Uploaded → Submitted → Done
//
// and may end [Failed] from any state. [Queued] records the output name
// claimed for the input; [Uploaded] adds the input's hash and storage key;
// [Submitted] adds the job (JobID, StatusURL, Op, API, Submitted); [Done] adds
// the output's hash. A record whose input has since changed
// ([Record.Changed]: another size or modification time) is new work: the
// pipeline puts it back to Queued, keeping its output name. The journal
// stores what it is given and does not enforce the order: the pipeline
// owns the state machine (it may, for instance, submit again a job Adobe
// no longer knows, counting it in Resubmits). Put checks only what
// recovery depends on: a known state, a Submitted record with a job to
// poll, a Failed record with its [Failure]. Nor does the journal index
// output names: a run that needs to know which are taken builds that map
// from [Journal.Each] at startup.
//
// # Pacing
//
// Beside the records, [Journal.AddGrant] keeps the latest request slots the
// rate limiter granted on each quota bucket, and [Journal.Grants] hands
// them to the next run, whose limiter then resumes the pacing instead of
// crowding the window a killed run was still filling.
//
// # Durability
//
// Every [Journal.Put], [Journal.PutMany] and [Journal.Delete] is one
// bbolt transaction, committed and fsynced (fdatasync on Linux) before it
// returns. The rule for callers is: record the state, then take the next
// external step. Put the UploadKey before the upload starts (the record
// still Queued), so a crash mid-upload leaves a key to clean up, and
// Put Uploaded before submitting; Put Submitted as soon as the submit
// request answers, before polling, so the next run polls the job instead of
// submitting it again; Put Done only after the output has been renamed
// into place and synced. The one window the journal cannot close is
// between a submit request being sent and its answer being recorded: the
// API has no idempotency key, so a job submitted in that instant is
// submitted again by the next run.
//
// A commit either happens whole or not at all: a run killed in the middle
// of Put leaves the previous record. A new journal is built in a
// temporary file and linked into place complete, so an empty or partly
// written journal.db is never the result of a crash.
//
// # Lock
//
// One process at a time may write a journal. Open takes an exclusive
// flock on the file (the lock bbolt itself uses) before it reads it,
// waiting up to Options.Timeout; if another hotfolder holds it, Open fails
// with an error matching [ErrLocked]. Read-only opens
// (Options.ReadOnly, for a status command) take a shared lock: any number
// of readers may share the file, but not with a writer — bbolt cannot
// read a file another process is writing, so a read-only Open while a run
// is going fails with [ErrLocked] too, saying so, and a run cannot start
// while a reader holds the file. The lock goes with the open file: the
// process ending for any reason releases it.
//
// # Corruption
//
// Open checks the whole file, with the lock held, before bbolt reads it:
// bbolt trusts its file, and on a damaged one may fault, spin or run out
// of memory. The check reads the file without mapping it, bounds every
// offset and count by the file's size, and covers what bbolt's tx.Check
// does (the file is as long as its header says; every page is in use or
// free, never both, never twice; keys are in order) plus each record's
// CRC-32C, taken over its key and value. It reads each page once, and
// takes about 30 ms for 100,000 records.
//
// A damaged file — truncated, overwritten, empty, not a bbolt file — gives
// an error matching [ErrCorrupt] whose Hint says to move the file aside
// and run again: hotfolder then takes inputs whose output is already
// written and up to date as done, so finished work is not processed
// again. The journal never starts afresh over a damaged file, and never
// panics on one: should bbolt still panic or fault (on damage done while
// the journal is open, say), that is recovered and reported as ErrCorrupt,
// and the journal refuses further use.
//
// # Errors
//
// Every failure to open, lock, read or write the journal is an [*Error]:
// fatal (a Fatal() bool method returning true, so the pipeline stops the
// run rather than go on without a durable record), with a Hint() string.
// errors.Is tells the cases apart: [ErrLocked], [ErrCorrupt],
// [ErrNewerFormat], [ErrClosed], fs.ErrNotExist (a read-only Open of a
// journal no run has written yet). A record that is not valid (an empty or
// unclean Rel, an unknown State, a Submitted record without a job) is
// refused with a plain, non-fatal error, and nothing is written.
package journal
