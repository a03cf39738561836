// Package azstore keeps hotfolder's inputs in an Azure Blob Storage
// container and hands Adobe read-only SAS URLs to fetch them from.
//
// A [*Store] implements uploader.Storage. Credentials come the way Azure
// users expect ([Config.FromEnv]): AZURE_STORAGE_CONNECTION_STRING, or
// AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY (an account key signs
// service SAS URLs); without a key, the default Azure credential chain
// (environment, workload identity, managed identity, Azure CLI…) and
// user-delegation SAS URLs, which need the role Storage Blob Delegator
// besides Storage Blob Data Contributor.
package azstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

// MaxPresignTTL is the longest a SAS URL hotfolder makes may last: a
// user-delegation key's limit, kept for account-key SAS URLs too.
const MaxPresignTTL = 7 * 24 * time.Hour

// MaxPutBlob is the most one Put Blob request may carry (service versions
// since 2019-12-12). Larger files are staged as blocks.
const MaxPutBlob = 5000 << 20

const (
	defaultBlockSize = 8 << 20 // staged block size for files over SinglePutMax
	blockConcurrency = 2       // blocks in flight: memory is BlockSize × this
	clockSkew        = 5 * time.Minute
)

// Config says which container to use and how to reach it.
type Config struct {
	Account   string // storage account name, required
	Container string // required
	Prefix    string // blob name prefix inside the container; may be empty
	// Endpoint is the blob service URL, e.g. Azurite's
	// http://127.0.0.1:10000/devstoreaccount1; empty means the connection
	// string's BlobEndpoint, else https://ACCOUNT.blob.core.windows.net.
	Endpoint string
	// AccountKey signs requests and SAS URLs. Empty means Credential.
	AccountKey string
	// Credential is used when there is no AccountKey; nil means the
	// default Azure credential chain.
	Credential azcore.TokenCredential

	HTTPClient *http.Client // optional
	// SinglePutMax is the largest file sent as one Put Blob request (0:
	// MaxPutBlob); larger ones are staged in BlockSize blocks (0: 8 MiB),
	// two at a time, so memory stays bounded either way.
	SinglePutMax, BlockSize int64
}

// Store is a container (and prefix) holding inputs. It is safe for
// concurrent use. Make it with [New]; check it with [Store.Check].
type Store struct {
	account, container, prefix string
	svc                        *service.Client
	ctr                        *container.Client
	sharedKey                  *service.SharedKeyCredential // nil: user-delegation SAS
	singleMax, blockSize       int64
	protocol                   sas.Protocol // https only, unless the endpoint is plain http (Azurite)
	now                        func() time.Time

	mu  sync.Mutex
	udc *service.UserDelegationCredential // cached user-delegation key
	udx time.Time                         // its expiry
}

// ParseURL splits "azblob://ACCOUNT/CONTAINER[/PREFIX]".
func ParseURL(s string) (account, ctr, prefix string, err error) {
	const want = "want azblob://ACCOUNT/CONTAINER[/PREFIX]"
	rest, ok := strings.CutPrefix(s, "azblob://")
	if !ok {
		return "", "", "", fmt.Errorf("azblob: storage %q: %s", s, want)
	}
	account, rest, _ = strings.Cut(rest, "/")
	ctr, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if account == "" || ctr == "" {
		return "", "", "", fmt.Errorf("azblob: storage %q names no account or container: %s", s, want)
	}
	if strings.ContainsAny(account+ctr, "?#:@ .") || strings.ContainsAny(prefix, "?#") {
		return "", "", "", fmt.Errorf("azblob: storage %q: %s, with no query, port, domain or user", s, want)
	}
	for _, seg := range strings.Split(prefix, "/") {
		if prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return "", "", "", fmt.Errorf("azblob: storage %q: the prefix has an empty, . or .. segment", s)
		}
	}
	return account, ctr, prefix, nil
}

// New returns a Store. It sends no request (a token credential is asked
// for its first token only when needed): call [Store.Check].
func New(cfg Config) (*Store, error) {
	if cfg.Account == "" || cfg.Container == "" {
		return nil, errors.New("azblob: no account or container configured")
	}
	endpoint := strings.TrimRight(cfg.Endpoint, "/")
	if endpoint == "" {
		endpoint = "https://" + cfg.Account + ".blob.core.windows.net"
	}
	opts := &service.ClientOptions{}
	if cfg.HTTPClient != nil {
		opts.Transport = cfg.HTTPClient
	}
	s := &Store{account: cfg.Account, container: cfg.Container, prefix: strings.Trim(cfg.Prefix, "/"),
		singleMax: cfg.SinglePutMax, blockSize: cfg.BlockSize, protocol: sas.ProtocolHTTPS, now: time.Now}
	if strings.HasPrefix(endpoint, "http://") {
		s.protocol = sas.ProtocolHTTPSandHTTP
	}
	if s.singleMax <= 0 || s.singleMax > MaxPutBlob {
		s.singleMax = MaxPutBlob
	}
	if s.blockSize <= 0 {
		s.blockSize = defaultBlockSize
	}
	var err error
	if cfg.AccountKey != "" {
		if s.sharedKey, err = service.NewSharedKeyCredential(cfg.Account, cfg.AccountKey); err != nil {
			return nil, &Error{Op: "config", Container: s.container, Err: err, fatal: true,
				hint: "AZURE_STORAGE_KEY (or the connection string's AccountKey) is not a base64 account key"}
		}
		s.svc, err = service.NewClientWithSharedKeyCredential(endpoint+"/", s.sharedKey, opts)
	} else {
		cred := cfg.Credential
		if cred == nil {
			if cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
				ClientOptions: policy.ClientOptions{Transport: opts.Transport}}); err != nil {
				return nil, &Error{Op: "config", Container: s.container, Err: err, fatal: true, hint: credsHint}
			}
		}
		s.svc, err = service.NewClient(endpoint+"/", markedCredential{cred}, opts)
	}
	if err != nil {
		return nil, &Error{Op: "config", Container: s.container, Err: err, fatal: true,
			hint: "check -azure-endpoint (or the connection string's BlobEndpoint)"}
	}
	s.ctr = s.svc.NewContainerClient(s.container)
	return s, nil
}

// name returns the blob name of a storage key.
func (s *Store) name(k string) string {
	k = strings.TrimLeft(k, "/")
	if s.prefix == "" {
		return k
	}
	return s.prefix + "/" + k
}

// Check makes sure the container exists and the credentials may use it,
// and, without an account key, that they may sign user-delegation SAS
// URLs. Any failure is fatal: nothing could be uploaded or fetched.
func (s *Store) Check(ctx context.Context) error {
	if _, err := s.ctr.GetProperties(ctx, nil); err != nil {
		e := s.wrap("check", "", err)
		if ctx.Err() == nil {
			e.fatal = true
			if e.hint == "" {
				e.hint = "check that the container exists, that the blob endpoint (-azure-endpoint) is reachable and the credentials may use it"
			}
		}
		return e
	}
	if s.sharedKey == nil {
		if _, err := s.delegation(ctx, time.Hour); err != nil {
			return err
		}
	}
	return nil
}

// Put uploads size bytes of body to key, streamed. Up to SinglePutMax
// (5000 MiB, Put Blob's limit) it is one Put Blob request, which the SDK
// may send again after seeking back; beyond, blocks of BlockSize are
// staged two at a time and committed, so memory stays bounded.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, contentType string) error {
	bb := s.ctr.NewBlockBlobClient(s.name(key))
	var hdr *blob.HTTPHeaders
	if contentType != "" {
		hdr = &blob.HTTPHeaders{BlobContentType: &contentType}
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return &Error{Op: "put", Container: s.container, Key: key, Err: err}
	}
	var err error
	if size <= s.singleMax {
		// Upload takes the size from the body: bound it to size.
		_, err = bb.Upload(ctx, streaming.NopCloser(&boundedSeeker{r: body, size: size}), &blockblob.UploadOptions{HTTPHeaders: hdr})
	} else {
		_, err = bb.UploadStream(ctx, io.LimitReader(body, size), &blockblob.UploadStreamOptions{
			BlockSize: s.blockSize, Concurrency: blockConcurrency, HTTPHeaders: hdr})
	}
	if err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// PresignGet returns a read-only SAS URL of key's blob, valid from a few
// minutes ago (clock skew) for ttl (at most 7 days).
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > MaxPresignTTL {
		return "", &Error{Op: "presign", Container: s.container, Key: key,
			Err: fmt.Errorf("a SAS URL's lifetime must be between 0 and 7 days, not %s", ttl)}
	}
	now := s.now().UTC()
	bc := s.ctr.NewBlobClient(s.name(key))
	v := sas.BlobSignatureValues{
		Protocol:      s.protocol,
		StartTime:     now.Add(-clockSkew),
		ExpiryTime:    now.Add(ttl),
		Permissions:   (&sas.BlobPermissions{Read: true}).String(),
		ContainerName: s.container,
		BlobName:      s.name(key),
	}
	var (
		q   sas.QueryParameters
		err error
	)
	if s.sharedKey != nil {
		q, err = v.SignWithSharedKey(s.sharedKey)
	} else {
		var udc *service.UserDelegationCredential
		if udc, err = s.delegation(ctx, ttl); err != nil {
			return "", err
		}
		q, err = v.SignWithUserDelegation(udc)
	}
	if err != nil {
		return "", &Error{Op: "presign", Container: s.container, Key: key, Err: err}
	}
	return bc.URL() + "?" + q.Encode(), nil
}

// delegation returns a user-delegation key valid for at least ttl more,
// asking for a new one (valid 7 days less the clock skew allowance: the
// service's limit is 7 days from its own now) when the cached one is not.
func (s *Store) delegation(ctx context.Context, ttl time.Duration) (*service.UserDelegationCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	if s.udc != nil && s.udx.After(now.Add(ttl+clockSkew)) {
		return s.udc, nil
	}
	start, expiry := now.Add(-clockSkew), now.Add(MaxPresignTTL-clockSkew)
	if !expiry.After(now.Add(ttl)) {
		return nil, &Error{Op: "presign", Container: s.container,
			Err: fmt.Errorf("a user-delegation SAS URL cannot last %s: its key lasts at most 7 days", ttl)}
	}
	udc, err := s.svc.GetUserDelegationCredential(ctx, service.KeyInfo{
		Start:  new(start.Format(sas.TimeFormat)),
		Expiry: new(expiry.Format(sas.TimeFormat)),
	}, nil)
	if err != nil {
		e := s.wrap("presign", "", err)
		if e.Code == "AuthorizationPermissionMismatch" || e.Code == "AuthorizationFailure" || e.Status == http.StatusForbidden {
			e.fatal, e.hint = true, "the Azure identity may not sign user-delegation SAS URLs: give it the role "+
				"Storage Blob Delegator on the account (or set AZURE_STORAGE_KEY)"
		}
		return nil, e
	}
	s.udc, s.udx = udc, expiry
	return udc, nil
}

// Delete removes key's blob (and its snapshots); a missing blob is not
// an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.ctr.NewBlobClient(s.name(key)).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: new(blob.DeleteSnapshotsOptionTypeInclude)})
	if err != nil {
		e := s.wrap("delete", key, err)
		if e.Code == "BlobNotFound" {
			return nil
		}
		return e
	}
	return nil
}

// boundedSeeker is the first size bytes of r, whose end Seek reports as
// size: the SDK learns a Put Blob's length by seeking to the end.
type boundedSeeker struct {
	r    io.ReadSeeker
	size int64
	pos  int64
}

func (b *boundedSeeker) Read(p []byte) (int, error) {
	if b.pos >= b.size {
		return 0, io.EOF
	}
	if rest := b.size - b.pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.r.Read(p)
	b.pos += int64(n)
	return n, err
}

func (b *boundedSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += b.pos
	case io.SeekEnd:
		offset += b.size
	}
	if offset < 0 || offset > b.size {
		return b.pos, fmt.Errorf("azblob: seek to %d outside 0…%d", offset, b.size)
	}
	if _, err := b.r.Seek(offset, io.SeekStart); err != nil {
		return b.pos, err
	}
	b.pos = offset
	return offset, nil
}
