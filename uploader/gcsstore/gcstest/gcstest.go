// Package gcstest gives tests a real GCS-compatible server: a
// fake-gcs-server started for the test on a free port of 127.0.0.1 over a
// temporary folder, and a service account key of the test's own to sign
// URLs with. Without fake-gcs-server the test is skipped with a loud
// message (it fails when HOTFOLDER_REQUIRE_SERVERS is set, as .ci/run does).
//
// Install fake-gcs-server with
//
//	go install github.com/fsouza/fake-gcs-server@v1.56.1
//
// fake-gcs-server serves V4 signed GET URLs on its public host but does not
// verify their signatures: tests check the URLs' form, and that a plain
// GET of them returns the object.
package gcstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
)

// startTimeout bounds how long fake-gcs-server may take to accept connections.
const startTimeout = 30 * time.Second

// Server is a running fake-gcs-server and a bucket on it that exists.
type Server struct {
	Endpoint string // e.g. http://127.0.0.1:40123
	Bucket   string
	// CredentialsFile is a service account key file (with a key made for
	// the test) to set as GOOGLE_APPLICATION_CREDENTIALS.
	CredentialsFile string
	// ServiceAccountJSON is that file's content.
	ServiceAccountJSON []byte
}

// Start returns a fake-gcs-server of t's own, stopped when t ends, with
// the bucket "hotfolder-test".
func Start(t testing.TB) Server {
	t.Helper()
	bin := binary()
	if bin == "" {
		skip := t.Skip
		if os.Getenv("HOTFOLDER_REQUIRE_SERVERS") != "" {
			skip = t.Fatal // CI installed it: missing is a failure, not a skip
		}
		skip("GCS TESTS SKIPPED: fake-gcs-server not found; install it with " +
			"go install github.com/fsouza/fake-gcs-server@v1.56.1 (.ci/run does)")
	}
	addr := freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	s := Server{Endpoint: "http://" + addr, Bucket: "hotfolder-test"}
	// -public-host is the host signed URLs name: fake-gcs-server serves
	// path-style object GETs only there.
	cmd := exec.Command(bin, "-scheme", "http", "-host", host, "-port", port, "-public-host", addr,
		"-backend", "filesystem", "-filesystem-root", filepath.Join(dir, "data"), "-log-level", "error")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("gcstest: starting %s: %v", bin, err)
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
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gcstest: fake-gcs-server did not accept connections on %s within %s:\n%s", addr, startTimeout, out.String())
		}
		select {
		case <-exited:
			t.Fatalf("gcstest: fake-gcs-server exited (%v):\n%s", waitErr, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.ServiceAccountJSON = ServiceAccount(t)
	s.CredentialsFile = filepath.Join(dir, "service-account.json")
	if err := os.WriteFile(s.CredentialsFile, s.ServiceAccountJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	s.createBucket(t)
	return s
}

// Client returns an unauthenticated client of s.
func (s Server) Client(t testing.TB) *storage.Client {
	t.Helper()
	c, err := storage.NewClient(context.Background(), option.WithEndpoint(s.Endpoint+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (s Server) createBucket(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.Client(t).Bucket(s.Bucket).Create(ctx, "hotfolder-test-project", nil); err != nil {
		t.Fatalf("gcstest: creating bucket %s on %s: %v", s.Bucket, s.Endpoint, err)
	}
}

// ServiceAccount makes a service account key file with a fresh RSA key.
func ServiceAccount(t testing.TB) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "hotfolder-test-project",
		"private_key_id": "test",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "hotfolder-test@hotfolder-test-project.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      "http://127.0.0.1:1/token", // never asked: requests to the fake go unauthenticated
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// binary finds fake-gcs-server: on PATH, in GOBIN, in GOPATH's bin
// folders, or in ~/go/bin ("" if nowhere).
func binary() string {
	if p, err := exec.LookPath("fake-gcs-server"); err == nil {
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
		p := filepath.Join(d, "fake-gcs-server")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// freeAddr returns a 127.0.0.1 address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gcstest: no free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
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
