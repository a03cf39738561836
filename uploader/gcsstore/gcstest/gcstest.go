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
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"hotfolder/uploader/storetest"
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
	bin := storetest.GoBinary("fake-gcs-server")
	if bin == "" {
		skip := t.Skip
		if os.Getenv("HOTFOLDER_REQUIRE_SERVERS") != "" {
			skip = t.Fatal // CI installed it: missing is a failure, not a skip
		}
		skip("GCS TESTS SKIPPED: fake-gcs-server not found; install it with " +
			"go install github.com/fsouza/fake-gcs-server@v1.56.1 (.ci/run does)")
	}
	addr := storetest.FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	s := Server{Endpoint: "http://" + addr, Bucket: "hotfolder-test"}
	// -public-host is the host signed URLs name: fake-gcs-server serves
	// path-style object GETs only there.
	cmd := exec.Command(bin, "-scheme", "http", "-host", host, "-port", port, "-public-host", addr,
		"-backend", "filesystem", "-filesystem-root", filepath.Join(dir, "data"), "-log-level", "error")
	storetest.Start(t, "fake-gcs-server", cmd, addr, startTimeout)
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
