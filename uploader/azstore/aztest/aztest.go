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
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"hotfolder/uploader/storetest"
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
	host, port, _ := net.SplitHostPort(storetest.FreeAddr(t))
	s := Server{Endpoint: "http://" + net.JoinHostPort(host, port) + "/" + Account, Account: Account, Key: Key,
		Container: "hotfolder-test"}
	// --skipApiVersionCheck: the SDK may speak a newer service version
	// than this Azurite knows; --loose: ignore headers Azurite lacks.
	cmd := exec.Command(bin, "--blobHost", host, "--blobPort", port, "--location", t.TempDir(),
		"--skipApiVersionCheck", "--loose", "--silent")
	storetest.Start(t, "Azurite", cmd, net.JoinHostPort(host, port), startTimeout)
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
		if storetest.Executable(p) {
			return p
		}
	}
	return ""
}
