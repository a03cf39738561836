// Package s3store keeps hotfolder's inputs in an AWS S3 bucket, or on an
// S3-compatible server, and presigns the GET URLs Adobe fetches them from.
//
// A [*Store] implements uploader.Storage. Credentials and region come from
// the AWS SDK's default chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_REGION, AWS_PROFILE, shared config files, instance roles), unless
// [Config] gives static keys.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// MaxPresignTTL is the longest a SigV4 presigned URL can be valid.
const MaxPresignTTL = 7 * 24 * time.Hour

// defaultRegion is used when neither Config nor the environment names one.
const defaultRegion = "us-east-1"

// Config says which bucket to use and how to reach it.
type Config struct {
	Bucket string // required
	Prefix string // key prefix inside the bucket, e.g. "hotfolder"; may be empty
	// Endpoint is an S3-compatible server's URL, e.g.
	// http://127.0.0.1:7070; empty means AWS.
	Endpoint string
	// Region overrides AWS_REGION and the shared config; if none is set
	// anywhere, us-east-1.
	Region    string
	PathStyle bool // path-style addressing (http://host/bucket/key), which most S3-compatible servers need

	// AccessKey and SecretKey are static credentials (tests, S3-compatible
	// servers); empty means the SDK's default chain.
	AccessKey, SecretKey string

	HTTPClient *http.Client // optional
}

// Store is a bucket (and prefix) holding inputs. It is safe for concurrent
// use. Make it with [New]; check it with [Store.Check] before relying on it.
type Store struct {
	bucket  string
	prefix  string
	client  *s3.Client
	presign *s3.PresignClient
}

// ParseURL splits "s3://BUCKET[/PREFIX]" into its bucket and prefix (with
// no leading or trailing slash).
func ParseURL(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("s3: storage %q: want s3://BUCKET[/PREFIX]", s)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("s3: storage %q names no bucket: want s3://BUCKET[/PREFIX]", s)
	}
	if strings.ContainsAny(bucket, "?#:@ ") || strings.ContainsAny(prefix, "?#") {
		return "", "", fmt.Errorf("s3: storage %q: want s3://BUCKET[/PREFIX], with no query, port or user", s)
	}
	for _, seg := range strings.Split(prefix, "/") {
		if prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return "", "", fmt.Errorf("s3: storage %q: the prefix has an empty, . or .. segment", s)
		}
	}
	return bucket, prefix, nil
}

// New loads the AWS configuration and returns a Store. It sends no request:
// call [Store.Check] to find out whether the bucket can be used.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket configured")
	}
	opts := []func(*config.LoadOptions) error{
		// Flexible checksums (aws-chunked bodies with trailers) are the
		// SDK's default, and many S3-compatible servers refuse them.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, &Error{Op: "config", Bucket: cfg.Bucket, Err: err, fatal: true,
			hint: "check the AWS configuration (AWS_PROFILE, AWS_CONFIG_FILE, ~/.aws/config)"}
	}
	if awsCfg.Region == "" {
		awsCfg.Region = defaultRegion
	}
	if awsCfg.Credentials != nil {
		awsCfg.Credentials = markedCredentials{awsCfg.Credentials}
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	return &Store{
		bucket:  cfg.Bucket,
		prefix:  strings.Trim(cfg.Prefix, "/"),
		client:  client,
		presign: s3.NewPresignClient(client),
	}, nil
}

// key returns the object key of a storage key.
func (s *Store) key(k string) string {
	k = strings.TrimLeft(k, "/")
	if s.prefix == "" {
		return k
	}
	return s.prefix + "/" + k
}

// Check makes sure the bucket exists and the credentials may use it
// (HeadBucket). Any failure is fatal: nothing could be uploaded.
func (s *Store) Check(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err == nil {
		return nil
	}
	e := s.wrap("check", "", err)
	if e.Status != 0 && (e.Code == "" || e.Code == "Forbidden" || e.Code == "NotFound" || e.Code == "BadRequest") {
		// HEAD answers carry no body, hence no reason: ask again with a
		// GET, whose error names it (NoSuchBucket, InvalidAccessKeyId…).
		_, perr := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), MaxKeys: aws.Int32(1)})
		if pe := s.wrap("check", "", perr); perr != nil && pe.Code != "" && pe.Code != "AccessDenied" {
			e = pe
		}
	}
	if ctx.Err() == nil {
		e.fatal = true
		if e.hint == "" {
			e.hint = "check that the bucket exists, that the S3 endpoint (-s3-endpoint) is reachable and the AWS credentials may use it"
		}
	}
	return e
}

// Put uploads size bytes of body to key in one single-part PutObject. The
// body is streamed: the SDK may read it twice (once to sign its hash when
// the endpoint is plain http) after seeking back, but never holds it whole.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, contentType string) error {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.key(key)),
		Body:          body,
		ContentLength: aws.Int64(size),
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// PresignGet returns a URL anyone can GET key from for ttl (at most 7 days,
// SigV4's limit). Temporary credentials (an assumed role, SSO) end such a
// URL's validity when they expire, whatever ttl says.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > MaxPresignTTL {
		return "", &Error{Op: "presign", Bucket: s.bucket, Key: key,
			Err: fmt.Errorf("a presigned URL's lifetime must be between 0 and 7 days (SigV4's limit), not %s", ttl)}
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.key(key)),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", s.wrap("presign", key, err)
	}
	return req.URL, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.key(key)),
	})
	if err != nil {
		e := s.wrap("delete", key, err)
		if e.Code == "NoSuchKey" || e.Status == http.StatusNotFound && e.Code != "NoSuchBucket" {
			return nil
		}
		return e
	}
	return nil
}
