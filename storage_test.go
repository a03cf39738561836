package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"google.golang.org/api/iterator"

	"hotfolder/uploader/azstore/aztest"
	"hotfolder/uploader/gcsstore/gcstest"
)

// The built binary keeps its inputs in Azurite (the SDK, an account key,
// SAS URLs) for the standalone emulator to fetch, and deletes them after.
func TestAdobeModeWithAzureStorage(t *testing.T) {
	srv := aztest.Start(t)
	emu := startEmulator(t)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/cherries.jpg", filepath.Join(in, "cherries.jpg"))
	copyFile(t, "sample-inputs/products/avocado.jpg", filepath.Join(in, "avocado.jpg"))
	prefix := fmt.Sprintf("e2e-%d", time.Now().UnixNano())

	env := emu.env("AZURE_STORAGE_ACCOUNT="+srv.Account, "AZURE_STORAGE_KEY="+srv.Key)
	args := append(emu.args(), fast()...)
	args = append(args, "-in", in, "-out", out, "-once",
		"-storage", "azblob://"+srv.Account+"/"+srv.Container+"/"+prefix, "-azure-endpoint", srv.Endpoint)
	r := hotfolder(t, env, args...)
	if r.code != exitOK {
		t.Fatalf("exit status %d, want 0:\n%s", r.code, r.stderr)
	}
	for _, name := range []string{"cherries.png", "avocado.png"} {
		if img := readPNG(t, filepath.Join(out, name)); !hasAlpha(img) {
			t.Errorf("%s has no alpha channel", name)
		}
	}
	if st := emu.stats(t); st.Posts != 2 {
		t.Errorf("emulator saw %d POSTs, want 2", st.Posts)
	}
	pager := srv.Client(t).NewContainerClient(srv.Container).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	left := 0
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		left += len(page.Segment.BlobItems)
	}
	if left != 0 {
		t.Errorf("%d uploaded inputs left in the container, want 0", left)
	}
}

// The same with fake-gcs-server: V4 URLs signed with a service account
// key from GOOGLE_APPLICATION_CREDENTIALS.
func TestAdobeModeWithGCSStorage(t *testing.T) {
	srv := gcstest.Start(t)
	emu := startEmulator(t)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/cherries.jpg", filepath.Join(in, "cherries.jpg"))
	copyFile(t, "sample-inputs/products/avocado.jpg", filepath.Join(in, "avocado.jpg"))
	prefix := fmt.Sprintf("e2e-%d", time.Now().UnixNano())

	env := emu.env("GOOGLE_APPLICATION_CREDENTIALS=" + srv.CredentialsFile)
	args := append(emu.args(), fast()...)
	args = append(args, "-in", in, "-out", out, "-once", "-keep-uploads",
		"-storage", "gs://"+srv.Bucket+"/"+prefix, "-gcs-endpoint", srv.Endpoint)
	r := hotfolder(t, env, args...)
	if r.code != exitOK {
		t.Fatalf("exit status %d, want 0:\n%s", r.code, r.stderr)
	}
	for _, name := range []string{"cherries.png", "avocado.png"} {
		if img := readPNG(t, filepath.Join(out, name)); !hasAlpha(img) {
			t.Errorf("%s has no alpha channel", name)
		}
	}
	if st := emu.stats(t); st.Posts != 2 {
		t.Errorf("emulator saw %d POSTs, want 2", st.Posts)
	}
	if n := countObjects(t, srv, prefix); n != 2 {
		t.Errorf("-keep-uploads: %d inputs in the bucket, want 2", n)
	}

	// Again without -keep-uploads (and with -retry-failed off, a fresh
	// output): the run deletes what it uploaded.
	prefix2 := prefix + "-deleted"
	out2 := filepath.Join(t.TempDir(), "out")
	args = append(emu.args(), fast()...)
	args = append(args, "-in", in, "-out", out2, "-once", "-storage", "gs://"+srv.Bucket+"/"+prefix2, "-gcs-endpoint", srv.Endpoint)
	if r := hotfolder(t, env, args...); r.code != exitOK {
		t.Fatalf("second run: exit status %d, want 0:\n%s", r.code, r.stderr)
	}
	if n := countObjects(t, srv, prefix2); n != 0 {
		t.Errorf("%d uploaded inputs left in the bucket, want 0", n)
	}
}

func countObjects(t *testing.T, srv gcstest.Server, prefix string) int {
	t.Helper()
	it := srv.Client(t).Bucket(srv.Bucket).Objects(context.Background(), nil)
	n := 0
	for {
		o, err := it.Next()
		if err == iterator.Done {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(o.Name, prefix+"/") {
			n++
		}
	}
}

// With Adobe's own API, a storage Adobe's remove background refuses to
// fetch from (an S3-compatible server on a custom host) stops the run at
// start, with a hint, before any request to Adobe: no quota is spent.
func TestStorageOutsideAllowListIsFatal(t *testing.T) {
	var requests atomic.Int32
	ims := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer ims.Close()
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "apricot.jpg"))
	env := cleanEnv("ADOBE_CLIENT_ID=id", "ADOBE_CLIENT_SECRET=secret",
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=test-secret", "AWS_REGION=us-east-1")
	// The image and Photoshop API URLs are Adobe's defaults.
	r := hotfolder(t, env, "-api", "adobe", "-ims-url", ims.URL, "-in", in, "-out", out, "-once",
		"-storage", "s3://studio-bucket/hot", "-s3-endpoint", "https://minio.studio.example:9000", "-s3-path-style")
	if r.code != exitFatal {
		t.Errorf("exit status %d, want %d:\n%s", r.code, exitFatal, r.stderr)
	}
	for _, want := range []string{"minio.studio.example", "remove-background", "amazonaws.com", "hint:", "azblob://"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not name %q:\n%s", want, r.stderr)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached Adobe (IMS), want 0", n)
	}

	// An operation with no allow-list (photoshop-api.adobe.io's) goes on
	// to check the storage itself, which is not there: another error.
	dead := hotfolder(t, env, "-api", "adobe", "-ims-url", ims.URL, "-in", in, "-out", filepath.Join(t.TempDir(), "out"), "-once",
		"-op", "edit", "-set", "autoTone=true",
		"-storage", "s3://studio-bucket/hot", "-s3-endpoint", "http://127.0.0.1:1", "-s3-path-style")
	if dead.code != exitFatal || strings.Contains(dead.stderr, "allow-list") || !strings.Contains(dead.stderr, "-s3-endpoint") {
		t.Errorf("edit with an unreachable S3: exit %d, want %d with an S3 error, not the allow-list:\n%s", dead.code, exitFatal, dead.stderr)
	}
}
