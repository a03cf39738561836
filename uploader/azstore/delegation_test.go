package azstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// fakeToken is an Azure identity that always has a token.
type fakeToken struct{ asked atomic.Int32 }

func (f *fakeToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.asked.Add(1)
	return azcore.AccessToken{Token: "fake-entra-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// noToken is an identity that finds no credentials.
type noToken struct{}

func (noToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("DefaultAzureCredential: failed to acquire a token")
}

// delegationServer plays the blob service's part in user-delegation SAS:
// the container's properties and Get User Delegation Key. Azurite cannot
// (it takes OAuth tokens only over https with its own certificate).
func delegationServer(t *testing.T, keyStatus int) (*httptest.Server, *atomic.Int32) {
	var keys atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer fake-entra-token" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodGet && q.Get("restype") == "container":
			w.Header().Set("x-ms-version", "2025-01-05")
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodPost && q.Get("comp") == "userdelegationkey":
			keys.Add(1)
			if keyStatus != http.StatusOK {
				w.Header().Set("x-ms-error-code", "AuthorizationPermissionMismatch")
				w.WriteHeader(keyStatus)
				return
			}
			now := time.Now().UTC()
			fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><UserDelegationKey><SignedOid>00000000-0000-0000-0000-000000000001</SignedOid>`+
				`<SignedTid>00000000-0000-0000-0000-000000000002</SignedTid><SignedStart>%s</SignedStart><SignedExpiry>%s</SignedExpiry>`+
				`<SignedService>b</SignedService><SignedVersion>2025-01-05</SignedVersion><Value>a2V5LWZyb20tdGhlLWZha2U=</Value></UserDelegationKey>`,
				now.Format(time.RFC3339), now.Add(7*24*time.Hour).Format(time.RFC3339))
		default:
			http.Error(w, r.Method+" "+r.URL.String(), http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &keys
}

func TestUserDelegationSAS(t *testing.T) {
	srv, keys := delegationServer(t, http.StatusOK)
	cred := &fakeToken{}
	s, err := New(Config{Account: "studio", Container: "inputs", Endpoint: srv.URL + "/studio", Credential: cred, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	var raw string
	for i := range 3 {
		if raw, err = s.PresignGet(ctx, fmt.Sprintf("in/%d.jpg", i), 70*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if n := keys.Load(); n != 1 {
		t.Errorf("%d user-delegation keys asked for, want 1 (Check's, cached for the URLs)", n)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	if q.Get("skoid") != "00000000-0000-0000-0000-000000000001" || q.Get("sp") != "r" || q.Get("sr") != "b" || q.Get("sig") == "" {
		t.Errorf("URL %s: want a read-only blob SAS signed with the user-delegation key", raw)
	}
	if !strings.HasSuffix(u.Path, "/inputs/in/2.jpg") {
		t.Errorf("URL %s: wrong path", raw)
	}
	// A URL that would outlive the cached key gets a new key; one that
	// would outlive any key (7 days less the clock skew allowance) is
	// refused.
	s.now = func() time.Time { return time.Now().Add(6 * 24 * time.Hour) }
	if _, err := s.PresignGet(ctx, "late.jpg", 2*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := keys.Load(); n != 2 {
		t.Errorf("%d user-delegation keys asked for, want 2 (a fresh one for a URL outliving the first)", n)
	}
	if _, err := s.PresignGet(ctx, "long.jpg", MaxPresignTTL); err == nil {
		t.Error("a 7-day user-delegation URL: no error")
	}
}

func TestUserDelegationFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("no delegator role", func(t *testing.T) {
		srv, _ := delegationServer(t, http.StatusForbidden)
		s, err := New(Config{Account: "studio", Container: "inputs", Endpoint: srv.URL + "/studio", Credential: &fakeToken{}, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Check(ctx)
		var e *Error
		if !errors.As(err, &e) || !e.Fatal() || !strings.Contains(e.Hint(), "Storage Blob Delegator") {
			t.Fatalf("Check = %v; want a fatal *Error naming the Storage Blob Delegator role", err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		srv, _ := delegationServer(t, http.StatusOK)
		s, err := New(Config{Account: "studio", Container: "inputs", Endpoint: srv.URL + "/studio", Credential: noToken{}, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Check(ctx)
		var e *Error
		if !errors.As(err, &e) || !e.Fatal() || !strings.Contains(e.Hint(), "AZURE_STORAGE_CONNECTION_STRING") {
			t.Fatalf("Check = %v; want a fatal *Error saying where credentials come from", err)
		}
	})
}
