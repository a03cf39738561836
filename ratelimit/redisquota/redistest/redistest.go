// Package redistest gives tests a real redis-server of their own: started
// on a free port of 127.0.0.1 over a temporary folder, without persistence
// unless asked, and stopped when the test ends. A test can kill it (a
// crash), restart it on the same port with or without its data (a restart,
// or one that lost everything), or start it again after a kill.
//
// Without redis-server the test is skipped with a loud message. Install it
// with the Debian package redis-server (.ci/run does).
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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

// startTimeout bounds how long a redis-server may take to answer PING.
const startTimeout = 15 * time.Second

// Server is a redis-server of one test. Its methods are safe for
// concurrent use.
type Server struct {
	URL      string // redis://127.0.0.1:PORT, without the password
	Addr     string // 127.0.0.1:PORT
	Password string // requirepass; "" for none

	t   testing.TB
	bin string
	dir string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *syncBuffer
}

// Option configures Start.
type Option func(*Server)

// WithPassword makes the server require password.
func WithPassword(password string) Option {
	return func(s *Server) { s.Password = password }
}

// Start starts a redis-server for t, stopped when t ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin := find()
	if bin == "" {
		t.Skip("REDIS TESTS SKIPPED: redis-server not found: install the Debian package redis-server; .ci/run does")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: no free port: %v", err)
	}
	s.Addr = ln.Addr().String()
	ln.Close()
	s.URL = "redis://" + s.Addr
	t.Cleanup(func() { s.Kill() })
	s.start()
	return s
}

// Kill kills the server as a crash would: whatever it did not save is
// lost. Killing a server that is not running does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
}

func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill() // our own child, by its pid
	<-s.exited
	s.cmd = nil
}

// Revive starts the server again on the same port after Kill, with the
// data it last saved (none unless Restart kept it).
func (s *Server) Revive() {
	s.t.Helper()
	s.start()
}

// Restart restarts the server on the same port: keepData saves its data
// first and the new server loads it (a restart; run_id changes all the
// same), else the new one starts empty (a restart without persistence).
func (s *Server) Restart(keepData bool) {
	s.t.Helper()
	if keepData {
		if _, err := s.Do("SAVE"); err != nil {
			s.t.Fatalf("redistest: SAVE: %v", err)
		}
	}
	s.Kill()
	if !keepData {
		if err := os.Remove(filepath.Join(s.dir, "dump.rdb")); err != nil && !os.IsNotExist(err) {
			s.t.Fatalf("redistest: %v", err)
		}
	}
	s.start()
}

func (s *Server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir, "--dbfilename", "dump.rdb",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "", "--loglevel", "warning"}
	if s.Password != "" {
		args = append(args, "--requirepass", s.Password)
	}
	cmd := exec.Command(s.bin, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: starting %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited, s.out = cmd, exited, out
	deadline := time.Now().Add(startTimeout)
	for {
		if _, err := s.do("PING"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.kill()
			s.t.Fatalf("redistest: redis-server did not answer on %s within %s:\n%s", s.Addr, startTimeout, out.String())
		}
		select {
		case <-exited:
			s.cmd = nil
			s.t.Fatalf("redistest: redis-server exited (%v):\n%s", waitErr, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Do runs one command on the server (authenticating first if it has a
// password) and returns its reply as text: a status, a number, a bulk
// string, or the elements of an array one a line.
func (s *Server) Do(args ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.do(args...)
}

func (s *Server) do(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(conn)
	if s.Password != "" {
		if _, err := command(conn, rd, "AUTH", s.Password); err != nil {
			return "", err
		}
	}
	return command(conn, rd, args...)
}

// command writes args as a RESP array and reads one reply.
func command(conn net.Conn, rd *bufio.Reader, args ...string) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write(b.Bytes()); err != nil {
		return "", err
	}
	return readReply(rd)
}

func readReply(rd *bufio.Reader) (string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("redistest: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redistest: %s", line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := readReply(rd)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("redistest: unexpected reply %q", line)
}

// find finds redis-server on PATH or in /usr/bin, /usr/sbin and
// /usr/local/bin ("" if nowhere).
func find() string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	for _, d := range []string{"/usr/bin", "/usr/sbin", "/usr/local/bin"} {
		p := filepath.Join(d, "redis-server")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
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
