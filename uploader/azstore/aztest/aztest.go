// Package aztest gives tests a real Azure Blob Storage emulator: an
// Azurite blob service started for the test on a free port of 127.0.0.1
// over a temporary folder, with Azurite's well-known development account.
// Without Azurite the test is skipped with a loud message (it fails when
// HOTFOLDER_REQUIRE_SERVERS is set, as .ci/run does).
//
// Install Azurite with
//
//	npm install -g azurite@3.37.0
package aztest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

// Azurite's development account, the same in every Azurite.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// startTimeout bounds how long Azurite may take to accept connections.
const startTimeout = 60 * time.Second

// Server is a running Azurite blob service and a container on it.
type Server struct {
	Endpoint  string // blob service URL, e.g. http://127.0.0.1:40123/devstoreaccount1
	Account   string
	Key       string
	Container string
}

// ConnectionString is the connection string Azure users would set.
func (s Server) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=" + s.Account + ";AccountKey=" + s.Key + ";BlobEndpoint=" + s.Endpoint + ";"
}

// Start returns an Azurite of t's own, stopped when t ends, with the
// container "hotfolder-test".
func Start(t testing.TB) Server {
	t.Helper()
	bin := azurite()
	if bin == "" {
		skip := t.Skip
		if os.Getenv("HOTFOLDER_REQUIRE_SERVERS") != "" {
			skip = t.Fatal // CI installed it: missing is a failure, not a skip
		}
		skip("AZURE TESTS SKIPPED: azurite-blob not found on PATH; install it with npm install -g azurite@3.37.0 (.ci/run does)")
	}
	host, port, _ := net.SplitHostPort(freeAddr(t))
	s := Server{Endpoint: "http://" + net.JoinHostPort(host, port) + "/" + Account, Account: Account, Key: Key,
		Container: "hotfolder-test"}
	// --skipApiVersionCheck: the SDK may speak a newer service version
	// than this Azurite knows; --loose: ignore headers Azurite lacks.
	cmd := exec.Command(bin, "--blobHost", host, "--blobPort", port, "--location", t.TempDir(),
		"--skipApiVersionCheck", "--loose", "--silent")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("aztest: starting %s: %v", bin, err)
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
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aztest: Azurite did not accept connections on port %s within %s:\n%s", port, startTimeout, out.String())
		}
		select {
		case <-exited:
			t.Fatalf("aztest: Azurite exited (%v):\n%s", waitErr, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.CreateContainer(t, s.Container)
	return s
}

// Client returns a service client of s with the account key.
func (s Server) Client(t testing.TB) *service.Client {
	t.Helper()
	cred, err := service.NewSharedKeyCredential(s.Account, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := service.NewClientWithSharedKeyCredential(s.Endpoint+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// CreateContainer makes sure container name exists.
func (s Server) CreateContainer(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	_, err := s.Client(t).CreateContainer(ctx, name, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		t.Fatalf("aztest: creating container %s on %s: %v", name, s.Endpoint, err)
	}
}

// azurite finds the azurite-blob command: on PATH, or in ~/.npm-global/bin
// (where .ci/run installs it when npm's global prefix is not writable).
func azurite() string {
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".npm-global", "bin", "azurite-blob")
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
		t.Fatalf("aztest: no free port: %v", err)
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
