package journal_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"hotfolder/pipeline/journal"
)

// A run records each step before it takes the next one; the run after a
// crash reads the journal and picks every input up where it was.
func Example() {
	state, err := os.MkdirTemp("", "hotfolder-state-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(state)
	path := filepath.Join(state, "journal.db")
	mod := time.Date(2025, 11, 27, 9, 0, 0, 0, time.UTC)

	// The first run.
	j, err := journal.Open(path, journal.Options{})
	if err != nil {
		log.Fatal(err) // ErrLocked, ErrCorrupt, …: errors.As finds Hint() and Fatal()
	}
	claims := []journal.Record{
		{Rel: "shoes/red.jpg", Size: 1234, ModTime: mod, State: journal.Queued, Outputs: []string{"shoes/red.png"}},
		{Rel: "shoes/blue.jpg", Size: 2345, ModTime: mod, State: journal.Queued, Outputs: []string{"shoes/blue.png"}},
	}
	if err := j.PutMany(claims); err != nil {
		log.Fatal(err)
	}
	r := claims[0]
	r.State, r.SHA256, r.UploadKey = journal.Uploaded, "9f86d0…", "inputs/9f86d0.jpg"
	if err := j.Put(r); err != nil { // before submitting
		log.Fatal(err)
	}
	// … the submit request answers …
	r.State, r.JobID, r.StatusURL, r.Op, r.Submitted = journal.Submitted, "job-1", "https://image.adobe.io/v2/status/job-1", "remove-background", mod
	if err := j.Put(r); err != nil { // before polling
		log.Fatal(err)
	}
	j.Close() // or the process is killed here

	// The next run. blue.jpg was replaced in the meantime.
	onDisk := map[string]int64{"shoes/red.jpg": 1234, "shoes/blue.jpg": 9999}
	j, err = journal.Open(path, journal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()
	err = j.Each(func(r journal.Record) error {
		switch {
		case r.Changed(onDisk[r.Rel], mod):
			fmt.Printf("%s: changed, start again as %s\n", r.Rel, r.Outputs[0])
		case r.State == journal.Submitted:
			fmt.Printf("%s: poll %s, do not submit again\n", r.Rel, r.JobID)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	counts, _ := j.Counts()
	fmt.Println(counts[journal.Queued], "queued,", counts[journal.Submitted], "submitted")
	// Output:
	// shoes/blue.jpg: changed, start again as shoes/blue.png
	// shoes/red.jpg: poll job-1, do not submit again
	// 1 queued, 1 submitted
}
