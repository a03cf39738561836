package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment of the child process of TestCrashDurability.
const (
	crashPathEnv   = "JOURNAL_CRASH_PATH"
	crashPrefixEnv = "JOURNAL_CRASH_PREFIX"
)

// crashBatch is how many inputs the child claims (queues) per PutMany.
const crashBatch = 10

// crashChild is the child: it claims inputs in batches and takes each
// through uploaded, submitted and done, printing a line after every write
// returns, until it is killed.
//
//	q FIRST     PutMany queued FIRST … FIRST+crashBatch-1 returned
//	s N STATE   Put of input N in STATE returned
func crashChild(path, prefix string) error {
	j, err := Open(path, Options{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer j.Close()
	deadline := time.Now().Add(20 * time.Second) // in case the parent is gone
	for i := 0; time.Now().Before(deadline); i++ {
		if i%crashBatch == 0 {
			batch := make([]Record, crashBatch)
			for k := range batch {
				batch[k] = sample(prefix, i+k, Queued)
			}
			if err := j.PutMany(batch); err != nil {
				return err
			}
			fmt.Printf("q %d\n", i)
		}
		for _, s := range []State{Uploaded, Submitted, Done} {
			if err := j.Put(sample(prefix, i, s)); err != nil {
				return err
			}
			fmt.Printf("s %d %s\n", i, s)
		}
	}
	return errors.New("not killed in time")
}

// TestCrashDurability kills a process writing the journal with SIGKILL at
// random moments, and checks after each kill that the journal opens
// cleanly and holds every write that had returned, whole: every record is
// in the last state reported, or (for the write cut off by the kill) the
// next one, and a batch is there entirely or not at all.
func TestCrashDurability(t *testing.T) {
	if path := os.Getenv(crashPathEnv); path != "" {
		if err := crashChild(path, os.Getenv(crashPrefixEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "state", "journal.db")
	// The kill points come from a seed, new each run unless
	// JOURNAL_TEST_SEED repeats one; a failure names it.
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("JOURNAL_TEST_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("to repeat these kill points: JOURNAL_TEST_SEED=%d go test -run %s ./pipeline/journal/", seed, t.Name())
		}
	})
	rnd := rand.New(rand.NewPCG(seed, 1))
	next := map[State]State{Queued: Uploaded, Uploaded: Submitted, Submitted: Done}
	// One round per child: reported[n] is the last state it reported for
	// input n.
	type round struct {
		prefix   string
		reported map[int]State
		lastQ    int // first input of the last batch reported; -crashBatch if none
	}
	var rounds []*round
	for r := range 8 {
		rd := &round{prefix: fmt.Sprintf("round%d", r), reported: make(map[int]State), lastQ: -crashBatch}
		rounds = append(rounds, rd)
		killAfter := 1 + rnd.IntN(120)

		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$")
		cmd.Env = append(os.Environ(), crashPathEnv+"="+path, crashPrefixEnv+"="+rd.prefix)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := 0
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "q":
				n, _ := strconv.Atoi(f[1])
				for k := range crashBatch {
					rd.reported[n+k] = Queued
				}
				rd.lastQ = n
			case len(f) == 3 && f[0] == "s":
				n, _ := strconv.Atoi(f[1])
				rd.reported[n] = State(f[2])
			default:
				continue // not ours (the testing package's own output)
			}
			lines++
			if lines == killAfter {
				// Land the kill at a random point of the next write.
				time.Sleep(time.Duration(rnd.IntN(3000)) * time.Microsecond)
				cmd.Process.Kill()
			}
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v, not killed: %s", r, err, stderr.String())
		}

		j, err := Open(path, Options{Timeout: time.Second})
		if err != nil {
			t.Fatalf("round %d: reopening after the kill (after %d writes): %v", r, lines, err)
		}
		var ahead int
		for _, rd := range rounds {
			ahead = checkCrashRound(t, j, rd.prefix, rd.reported, rd.lastQ, next)
		}
		t.Logf("round %d: killed after %d writes reported (kill at %d); %d more on disk", r, lines, killAfter, ahead)
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// checkCrashRound checks one child's records against what it reported,
// and returns how many writes are on disk beyond the report (0 or 1).
func checkCrashRound(t *testing.T, j *Journal, prefix string, reported map[int]State, lastQ int, next map[State]State) int {
	t.Helper()
	ahead := 0 // records one write ahead of the report: at most one
	for n, want := range reported {
		got, ok, err := j.Get(sample(prefix, n, Queued).Rel)
		if err != nil || !ok {
			t.Fatalf("%s: input %d, reported %s, is missing: %v", prefix, n, want, err)
		}
		if got.State != want {
			if got.State != next[want] {
				t.Fatalf("%s: input %d is %s, but %s was reported last", prefix, n, got.State, want)
			}
			ahead++
		}
		exp := sample(prefix, n, got.State)
		got.Updated, exp.Updated = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("%s: input %d reads back as\n%+v\nwant\n%+v", prefix, n, got, exp)
		}
	}
	// The batch after the last one reported is there whole or not at all.
	present := 0
	for k := range crashBatch {
		if _, ok, _ := j.Get(sample(prefix, lastQ+crashBatch+k, Queued).Rel); ok {
			present++
		}
	}
	if present != 0 && present != crashBatch {
		t.Fatalf("%s: %d of the %d inputs of a batch were written", prefix, present, crashBatch)
	}
	if present > 0 {
		ahead++
	}
	if ahead > 1 {
		t.Fatalf("%s: %d writes are ahead of the report; only the one cut off may be", prefix, ahead)
	}
	return ahead
}
