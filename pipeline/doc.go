// Package pipeline turns input files into output files through the image
// API: a source finds files, a fixed pool of workers takes each through
// check, upload, submit, wait and download, and the result is written
// beside its mirror in the output folder. [Stats] counts as it goes, for the
// progress display; [Summary] is what a run leaves behind.
//
// The shape is errgroup's MD5All: one goroutine runs the [Source] and
// closes the channel it sends on, every send sits in a select with the
// context, and errors come back through the group's Wait.
//
// # Failures
//
// A file that fails is recorded with its [Stage] (check, upload, submit,
// process, download, write: see file.go, where a file's way reads in that
// order), logged on one line, and the run goes on. An error that has a Fatal() bool method returning true
// somewhere in its chain stops the run: bad credentials from the [Remote],
// or an output or state folder that cannot be written (no permission,
// read-only, full). Cancelling the context aborts: files in flight are
// left pending. Closing Config.Stop stops gracefully: no new file is
// started, files in flight finish.
//
// # Output names
//
// The output of IN/dir/name.ext is OUT/dir/name.<format>. The first input
// to claim an output name keeps it. An input whose plain name is already
// claimed by another input is named after its full input name, and if that
// is taken too, with -2, -3, … added: with red.jpg claimed red.png first,
// red.png gets red.png.png, then red.png-2.png and so on. Names are
// compared without regard to case, so two outputs never clash on a macOS or
// Windows disk.
//
// An input claims its name when a worker takes it, in the order the source
// found the files (lexical in a one-shot run, so names are reproducible),
// and keeps it for good, even if it fails: rerun, it gets the same name.
// Claims live in the state folder (default OUT/.hotfolder) in
// outputs.jsonl, one {"output": …, "input": …} line per claim, appended and
// synced before any output is written under the name. A claim is per
// format: the same input written as JPEG claims a second, .jpg name. Only
// one hotfolder at a time may use a state folder.
//
// # Skipping
//
// The journal decides: an input done with this run's recipe (its
// fingerprint), whose outputs are all there, is skipped and costs no
// request. New bytes or another recipe make it new work; a new
// modification time alone (touch, a sync tool) does not: the input is
// hashed and, its bytes unchanged, skipped. With Config.Dedupe, inputs of
// the same bytes and recipe get one job, the others copies of its outputs
// (see dedupe.go).
//
// # Writing
//
// A result is downloaded into ".<output name>.hotfolder-<random>.tmp" in
// the output's folder, synced, and renamed over the output name, after which
// the folder is synced too. The output name never holds a partial result:
// it is either absent, the previous result, or the complete new one. A
// failed or empty download leaves nothing behind. Temporary files left by a
// killed run are removed when the next run starts.
package pipeline
