// Package s3test gives tests a real S3-compatible server: the one named by
// HOTFOLDER_S3_ENDPOINT (with HOTFOLDER_S3_ACCESS_KEY, HOTFOLDER_S3_SECRET_KEY
// and HOTFOLDER_S3_BUCKET), or else a versitygw started for the test on a
// free port of 127.0.0.1 over a temporary folder. Without either, the test
// is skipped with a loud message.
//
// Install versitygw with
//
//	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
package s3test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"hotfolder/uploader/storetest"
)

// Region is the region the servers are addressed in.
const Region = "us-east-1"

// startTimeout bounds how long a versitygw may take to accept connections.
const startTimeout = 30 * time.Second

// Server is a running S3-compatible server and a bucket on it that exists.
// Address it path-style (http://host/bucket/key).
type Server struct {
	Endpoint  string // e.g. http://127.0.0.1:40123
	AccessKey string
	SecretKey string
	Bucket    string
	Region    string
}

// Start returns a server for t: HOTFOLDER_S3_ENDPOINT's if set, else a
// versitygw of t's own, stopped when t ends. Tests sharing a server should
// use keys of their own (the bucket may hold other tests' objects).
func Start(t testing.TB) Server {
	t.Helper()
	if ep := os.Getenv("HOTFOLDER_S3_ENDPOINT"); ep != "" {
		s := Server{
			Endpoint:  strings.TrimRight(ep, "/"),
			AccessKey: os.Getenv("HOTFOLDER_S3_ACCESS_KEY"),
			SecretKey: os.Getenv("HOTFOLDER_S3_SECRET_KEY"),
			Bucket:    os.Getenv("HOTFOLDER_S3_BUCKET"),
			Region:    Region,
		}
		if s.Bucket == "" {
			s.Bucket = "hotfolder-test"
		}
		s.createBucket(t)
		return s
	}
	bin := storetest.GoBinary("versitygw")
	if bin == "" {
		t.Skip("S3 TESTS SKIPPED: versitygw not found; install with " +
			"go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 or set HOTFOLDER_S3_ENDPOINT")
	}
	addr := storetest.FreeAddr(t)
	s := Server{
		Endpoint:  "http://" + addr,
		AccessKey: "hotfolder-test",
		SecretKey: rand.Text(),
		Bucket:    "hotfolder-test",
		Region:    Region,
	}
	cmd := exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--region", Region,
		"--port", addr, "--quiet", "posix", t.TempDir())
	cmd.Env = cleanEnv()
	storetest.Start(t, "versitygw", cmd, addr, startTimeout)
	s.createBucket(t)
	return s
}

// Client returns an S3 client for s, path-style, with s's keys.
func (s Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     s.Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// createBucket makes sure s.Bucket exists.
func (s Server) createBucket(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		t.Fatalf("s3test: creating bucket %s on %s: %v", s.Bucket, s.Endpoint, err)
	}
}

// cleanEnv is the environment without variables that would configure
// versitygw behind our back (its flags all have environment twins).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "VGW_") || strings.HasPrefix(name, "ROOT_") || strings.HasPrefix(name, "AWS_") ||
			name == "LOGFILE" || name == "WEBHOOK" {
			continue
		}
		env = append(env, kv)
	}
	return env
}
