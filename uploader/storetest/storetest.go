// Package storetest starts the local servers the storage backends' tests
// run against (versitygw, Azurite, fake-gcs-server: see s3test, aztest and
// gcstest): a free port, the command found where `go install` puts it, the
// child started, stopped when the test ends, and waited for until it
// accepts connections.
package storetest

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FreeAddr returns a 127.0.0.1 address with a port free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// GoBinary finds the command name as `go install` leaves it: on PATH, in
// GOBIN, in GOPATH's bin folders, or in ~/go/bin ("" if nowhere).
func GoBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, gp := range filepath.SplitList(os.Getenv("GOPATH")) {
		if gp != "" {
			dirs = append(dirs, filepath.Join(gp, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		if p := filepath.Join(d, name); Executable(p) {
			return p
		}
	}
	return ""
}

// Executable reports whether p is a regular file someone may execute.
func Executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// Start starts cmd, its output captured, kills it when t ends, and waits
// until addr accepts connections. It fails t, with what the child printed,
// if the child exits first or addr does not answer within timeout; what
// names the server in those messages.
func Start(t testing.TB, what string, cmd *exec.Cmd, addr string, timeout time.Duration) {
	t.Helper()
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", what, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // our own child, by its pid
		<-exited
	})
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept connections on %s within %s:\n%s", what, addr, timeout, out.String())
		}
		select {
		case <-exited:
			t.Fatalf("%s exited (%v):\n%s", what, waitErr, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// syncBuffer collects a child's output from its copying goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// PeakRSS is the process's peak resident set since ResetPeakRSS, in bytes,
// for the benchmarks that upload large files in flat memory. Where Linux's
// /proc does not tell, tb is skipped.
func PeakRSS(tb testing.TB) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb * 1024
		}
	}
	tb.Skip("no VmHWM in /proc/self/status")
	return 0
}

// ResetPeakRSS sets the peak resident set back to the current one (Linux:
// "5" to clear_refs).
func ResetPeakRSS(tb testing.TB) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Skipf("cannot reset the peak RSS: %v", err)
	}
}
