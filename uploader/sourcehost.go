package uploader

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Adobe's documented allow-lists of the hosts it fetches input URLs from.
// Remove background's (its UrlResource) is the short one; auto-crop's
// documentation names a longer one. A host is allowed when it is a listed
// domain or a subdomain of one (my-account.blob.core.windows.net).
var (
	removeBackgroundHosts = []string{"amazonaws.com", "windows.net", "dropboxusercontent.com", "assets.frame.io", "storage.googleapis.com"}
	autoCropHosts         = append(slices.Clone(removeBackgroundHosts), "adobe.io", "azureedge.net")
)

// probeKey is the key presigned (never uploaded) to learn a storage's host.
const probeKey = "hotfolder-allow-list-probe"

// SourceHostError is a storage whose URLs Adobe refuses to fetch for a
// step of the recipe: every such job would fail after spending a POST.
type SourceHostError struct {
	Host    string   // the host of the storage's presigned URLs
	Ops     []string // the recipe's operations that refuse it
	Allowed []string // the domains those operations accept
}

func (e *SourceHostError) Error() string {
	return fmt.Sprintf("the storage's URLs are on %s, which Adobe's %s does not fetch from (its allow-list: %s)",
		e.Host, strings.Join(e.Ops, " and "), strings.Join(e.Allowed, ", "))
}

// Hint says what to do about it.
func (e *SourceHostError) Hint() string {
	return "keep the inputs where Adobe fetches them: -storage s3://BUCKET on AWS (no -s3-endpoint), " +
		"azblob://ACCOUNT/CONTAINER or gs://BUCKET; an S3-compatible server or a custom domain serves only the operations " +
		"that take any URL (edit, actions, product-crop, composite, manifest)"
}

// AllowedSourceHost reports whether Adobe's op fetches inputs from host,
// and the domains it does fetch from. Operations with no documented
// allow-list (the photoshop-api.adobe.io ones) accept any host.
func AllowedSourceHost(op, host string) (bool, []string) {
	var list []string
	switch op {
	case OpRemoveBackground, "":
		list = removeBackgroundHosts
	case OpAutoCrop:
		list = autoCropHosts
	default:
		return true, nil
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range list {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true, list
		}
	}
	return false, list
}

// IsAdobeAPI reports whether base is one of Adobe's own API hosts
// (adobe.io or below it), where the allow-lists apply; an emulator or a
// test server is not.
func IsAdobeAPI(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "adobe.io" || strings.HasSuffix(h, ".adobe.io")
}

// CheckStorageHost makes sure Adobe will fetch the inputs st presigns,
// before any quota is spent: it presigns a probe key (nothing is
// uploaded) and checks the URL's host against the allow-list of every
// step of steps that has one and goes to Adobe's own image API
// (imageAPIURL). It returns a *SourceHostError when a step would refuse it.
func CheckStorageHost(ctx context.Context, st Storage, imageAPIURL string, steps []Step) error {
	if !IsAdobeAPI(imageAPIURL) {
		return nil
	}
	var ops []string
	for _, s := range steps {
		if !s.AcceptsAnyURL() && !slices.Contains(ops, s.Op) {
			ops = append(ops, s.Op)
		}
	}
	if len(ops) == 0 {
		return nil
	}
	raw, err := st.PresignGet(ctx, probeKey, time.Hour)
	if err != nil {
		return fmt.Errorf("storage: presigning a URL to check its host: %w", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("storage: the presigned URL is not a URL: %w", err)
	}
	e := &SourceHostError{Host: u.Hostname()}
	for _, op := range ops {
		ok, list := AllowedSourceHost(op, u.Hostname())
		if !ok {
			if op == "" {
				op = OpRemoveBackground
			}
			e.Ops = append(e.Ops, op)
			for _, d := range list {
				if !slices.Contains(e.Allowed, d) {
					e.Allowed = append(e.Allowed, d)
				}
			}
		}
	}
	if len(e.Ops) == 0 {
		return nil
	}
	return e
}
