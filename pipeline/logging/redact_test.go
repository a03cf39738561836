package logging

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// Credentials shaped like the real ones.
const (
	clientSecret = "p8e-Q1w2E3r4T5y6U7i8O9p0AsDfGhJkLzXc"
	awsSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	awsKeyID     = "AKIAIOSFODNN7EXAMPLE"
	awsTempKeyID = "ASIAJEXAMPLEXEG2JICE"
	sessionToken = "FwoGZXIvYXdzEXAMPLEsessiontoken0123456789"
	imsToken     = "eyJhbGciOiJSUzI1NiIsIng1dSI6Imltc19uYTEta2V5In0.eyJpZCI6IjE3MDAwMDAwMDAwMDBfYWJjIiwidHlwZSI6ImFjY2Vzc190b2tlbiJ9.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu_-x"
	emuToken     = "eyJemulator.0123456789abcdef0123456789abcdef"
	amzSignature = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
	oauthCode    = "SplxlOBeZQQYbYS6WxSbIA"

	presigned = "https://bucket.s3.us-east-1.amazonaws.com/hotfolder/in/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=" + awsKeyID + "%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z" +
		"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Security-Token=" + sessionToken + "&X-Amz-Signature=" + amzSignature
	presignedRedacted = "https://bucket.s3.us-east-1.amazonaws.com/hotfolder/in/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=[REDACTED]&X-Amz-Date=20240101T000000Z" +
		"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Security-Token=[REDACTED]&X-Amz-Signature=[REDACTED]"
)

// allSecrets are what no output may contain.
var allSecrets = []string{clientSecret, awsSecret, awsKeyID, awsTempKeyID, sessionToken, imsToken, emuToken, amzSignature, oauthCode}

func TestRedact(t *testing.T) {
	secrets := []string{clientSecret, awsSecret, "", "short"}
	tests := []struct {
		name, in, want string
		secrets        []string // nil: secrets
	}{
		{name: "nothing to hide", in: "uploaded shoes/red-01.jpg in 2.1s (remove-background)", want: "uploaded shoes/red-01.jpg in 2.1s (remove-background)"},
		{name: "empty", in: "", want: ""},
		{name: "secret in prose", in: "using " + clientSecret + " now", want: "using [REDACTED] now"},
		{name: "secret twice", in: clientSecret + clientSecret, want: "[REDACTED][REDACTED]"},
		{name: "secret url-escaped", in: "body x=" + "wJalrXUtnFEMI%2FK7MDENG%2FbPxRfiCYEXAMPLEKEY" + " y", want: "body x=[REDACTED] y"},
		{name: "secret go-quoted", secrets: []string{"line1\nline2\"x"}, in: `err: "line1\nline2\"x"`, want: `err: "[REDACTED]"`},
		{name: "short and empty secrets ignored", secrets: []string{"", "abc", "short"}, in: "abc short abc", want: "abc short abc"},
		{name: "longest secret first", secrets: []string{"secret1234", "secret123456789"}, in: "a secret123456789 b", want: "a [REDACTED] b"},
		{name: "secret with spaces around", secrets: []string{"  padded-secret\n"}, in: "x padded-secret y", want: "x [REDACTED] y"},

		{name: "bearer header", in: "Authorization: Bearer " + imsToken, want: "Authorization: Bearer [REDACTED]"},
		{name: "bearer lower case", in: "sent bearer abc123def456", want: "sent bearer [REDACTED]"},
		{name: "bearer in prose", in: "the bearer token expired", want: "the bearer token expired"},
		{name: "basic", in: "Proxy: Basic dXNlcjpwYXNzd29yZA==", want: "Proxy: Basic [REDACTED]"},
		{name: "basic in prose", in: "basic settings apply", want: "basic settings apply"},

		{name: "presigned s3", in: "GET " + presigned + " failed", want: "GET " + presignedRedacted + " failed"},
		{name: "names ignore case", in: "https://h/p?x-amz-signature=abc123&X-AMZ-DATE=1", want: "https://h/p?x-amz-signature=[REDACTED]&X-AMZ-DATE=1"},
		{name: "azure sas", in: "https://a.blob.core.windows.net/c/b.png?sv=2022-11-02&se=2024&sig=abc%2Bdef%3D&sp=r", want: "https://a.blob.core.windows.net/c/b.png?sv=2022-11-02&se=2024&sig=[REDACTED]&sp=r"},
		{name: "cloudfront", in: "https://d1.cloudfront.net/x.png?Expires=1700000000&Signature=ab~cd-ef&Key-Pair-Id=K2JCJMDEHXQW5F", want: "https://d1.cloudfront.net/x.png?Expires=1700000000&Signature=[REDACTED]&Key-Pair-Id=K2JCJMDEHXQW5F"},
		{name: "gcs", in: "https://storage.googleapis.com/b/o?X-Goog-Signature=0a1b2c", want: "https://storage.googleapis.com/b/o?X-Goog-Signature=[REDACTED]"},
		{name: "form body", in: "grant_type=client_credentials&client_id=abc123&client_secret=zzzzzz999&scope=openid,AdobeID", want: "grant_type=client_credentials&client_id=abc123&client_secret=[REDACTED]&scope=openid,AdobeID"},
		{name: "fragment token", in: "https://app/cb#access_token=abcdef123&expires_in=3600", want: "https://app/cb#access_token=[REDACTED]&expires_in=3600"},
		{name: "token param", in: "https://h/p?token=abc123", want: "https://h/p?token=[REDACTED]"},
		{name: "token_type kept", in: "token_type=bearer expires_in=86399", want: "token_type=bearer expires_in=86399"},
		{name: "quoted value", in: `msg=x token="a b c" n=1`, want: `msg=x token="[REDACTED]" n=1`},
		{name: "spaces around =", in: "client_secret = abcdef123", want: "client_secret = [REDACTED]"},
		{name: "environment", in: "ADOBE_CLIENT_SECRET=p8e-zzz AWS_SECRET_ACCESS_KEY=yyy/zzz AWS_REGION=us-east-1", secrets: []string{}, want: "ADOBE_CLIENT_SECRET=[REDACTED] AWS_SECRET_ACCESS_KEY=[REDACTED] AWS_REGION=us-east-1"},
		{name: "azure sas", in: "https://studio.blob.core.windows.net/c/k.png?sv=2025-01-05&se=2026-03-01T13%3A10%3A00Z&sp=r&sr=b&sig=Ab3%2Bcd%3D",
			want: "https://studio.blob.core.windows.net/c/k.png?sv=2025-01-05&se=2026-03-01T13%3A10%3A00Z&sp=r&sr=b&sig=[REDACTED]"},
		{name: "gcs v4", in: "https://storage.googleapis.com/b/k.png?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sa%40p.iam.gserviceaccount.com%2F20260301%2Fauto&X-Goog-Signature=0924abcdef",
			want: "https://storage.googleapis.com/b/k.png?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=[REDACTED]&X-Goog-Signature=[REDACTED]"},
		{name: "azure connection string", in: "AccountName=studio;AccountKey=abc+def/ghi==;EndpointSuffix=core.windows.net",
			want: "AccountName=studio;AccountKey=[REDACTED];EndpointSuffix=core.windows.net"},
		{name: "url in url", in: "https://h/?next=https%3A%2F%2Fs3%2Fk%3FX-Amz-Signature%3Dabc123%26a%3D1", want: "https://h/?next=https%3A%2F%2Fs3%2Fk%3FX-Amz-Signature%3D[REDACTED]%26a%3D1"},

		{name: "oauth code", in: "https://app/cb?code=" + oauthCode + "&state=xyz", want: "https://app/cb?code=[REDACTED]&state=xyz"},
		{name: "oauth code first in form", in: "code=" + oauthCode + "&grant_type=authorization_code", want: "code=[REDACTED]&grant_type=authorization_code"},
		{name: "exit code kept", in: "exited with code=3", want: "exited with code=3"},
		{name: "error_code kept", in: "error_code=403013 code:x", want: "error_code=403013 code:x"},

		{name: "json", in: `{"access_token":"` + imsToken + `","token_type":"bearer","expires_in":86399}`, want: `{"access_token":"[REDACTED]","token_type":"bearer","expires_in":86399}`},
		{name: "json spaced mixed case", in: `{ "Client_Secret" : "abc123" , "client_id": "id1" }`, want: `{ "Client_Secret" : "[REDACTED]" , "client_id": "id1" }`},
		{name: "json escaped in a string", in: `body: "{\"refresh_token\":\"abc123\",\"x\":1}"`, want: `body: "{\"refresh_token\":\"[REDACTED]\",\"x\":1}"`},
		{name: "json escape inside value", in: `{"password":"ab\"cd\\ef"}`, want: `{"password":"[REDACTED]\"cd\\ef"}`},
		{name: "json error code kept", in: `{"code":"InputValidationError","message":"bad input"}`, want: `{"code":"InputValidationError","message":"bad input"}`},
		{name: "json authorization", in: `{"Authorization":"Bearer abc.def"}`, want: `{"Authorization":"[REDACTED]"}`},

		{name: "go struct", in: "{ClientID:abc ClientSecret:xyz987 Expires:2024}", want: "{ClientID:abc ClientSecret:[REDACTED] Expires:2024}"},
		{name: "go map", in: "map[Authorization:[Bearer abcdef123456] Accept:[*/*]]", want: "map[Authorization:[Bearer [REDACTED]] Accept:[*/*]]"},
		{name: "prose after colon kept", in: "token: HTTP 401 invalid_client: bad secret", want: "token: HTTP 401 invalid_client: bad secret"},
		{name: "header line", in: "PUT /k HTTP/1.1\r\nHost: s3\r\nX-Amz-Security-Token: " + sessionToken + "\r\nX-Amz-Date: 1\r\n", want: "PUT /k HTTP/1.1\r\nHost: s3\r\nX-Amz-Security-Token: [REDACTED]\r\nX-Amz-Date: 1\r\n"},

		{name: "user info", in: "proxy http://user:pa55w0rd@proxy:3128/ refused", want: "proxy http://user:[REDACTED]@proxy:3128/ refused"},
		{name: "aws key id", in: "key " + awsKeyID + " and " + awsTempKeyID + ".", want: "key [REDACTED] and [REDACTED]."},
		{name: "jwt alone", in: "token " + imsToken + " rejected", want: "token [REDACTED] rejected"},
		{name: "emulator token", in: "got " + emuToken, want: "got [REDACTED]"},
		{name: "jwt-like word kept", in: "eyJ is base64 for {\"", want: "eyJ is base64 for {\""},
		{name: "rules see the same text", in: "authorization=Bearer abc123 bearer access_token:xyz789", want: "authorization=[REDACTED] [REDACTED] bearer [REDACTED]:[REDACTED]"},
		{name: "encoded name after %26", in: "u=https%3A%2F%2Fa%2Fb%3Fx%3D1%26sig%3Dabc123%26y%3D2", want: "u=https%3A%2F%2Fa%2Fb%3Fx%3D1%26sig%3D[REDACTED]%26y%3D2"},
		{name: "s3 error kept", in: "api error ExpiredToken: The provided token has expired.", want: "api error ExpiredToken: The provided token has expired."},
		{name: "long name", in: strings.Repeat("x", 80) + "_token=abc123", want: strings.Repeat("x", 80) + "_token=[REDACTED]"},
		{name: "redacted stays", in: "token=[REDACTED] Bearer [REDACTED]", want: "token=[REDACTED] Bearer [REDACTED]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := secrets
			if tc.secrets != nil {
				s = tc.secrets
			}
			got := Redact(tc.in, s)
			if got != tc.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if again := Redact(got, s); again != got {
				t.Errorf("not idempotent: %q became %q", got, again)
			}
		})
	}
}

func TestRedactorZeroValue(t *testing.T) {
	var r Redactor
	if got, want := r.Redact("Bearer "+imsToken), "Bearer [REDACTED]"; got != want {
		t.Errorf("zero Redactor: got %q, want %q", got, want)
	}
	if got := r.Redact(clientSecret); got != clientSecret {
		t.Errorf("zero Redactor hid %q, which it was not given (got %q)", clientSecret, got)
	}
}

// TestRedactNoAllocWhenClean: a string with nothing to hide is returned as
// it is, without a copy.
func TestRedactNoAllocWhenClean(t *testing.T) {
	r := NewRedactor([]string{clientSecret, awsSecret})
	for _, s := range []string{
		"uploaded shoes/red-01.jpg",
		"https://image.adobe.io/v2/remove-background",
		"done: 12 files in 3m2s, 0 failed",
	} {
		if n := testing.AllocsPerRun(100, func() { _ = r.Redact(s) }); n != 0 {
			t.Errorf("Redact(%q) allocates %v times, want 0", s, n)
		}
	}
}

func TestRedactConcurrent(t *testing.T) {
	var r Redactor // the zero value, from many goroutines
	done := make(chan string)
	for range 8 {
		go func() { done <- r.Redact("sig=abc123 " + awsKeyID) }()
	}
	for range 8 {
		if got := <-done; got != "sig=[REDACTED] [REDACTED]" {
			t.Errorf("got %q", got)
		}
	}
}

func TestIsSecretKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"secret", true}, {"token", true}, {"password", true}, {"authorization", true},
		{"client_secret", true}, {"access_token", true}, {"AccessToken", true}, {"X-Amz-Security-Token", true},
		{"Set-Cookie", true}, {"aws_secret_access_key", true}, {"refresh-token", true}, {"sig", true},
		{"AccountKey", true}, {"AZURE_STORAGE_ACCOUNT", false},
		{"token_type", false}, {"expires_in", false}, {"key", false}, {"client_id", false},
		{"x-api-key", false}, {"tokens", false}, {"url", false}, {"err", false}, {"", false},
	}
	for _, tc := range tests {
		if got := isSecretKey(tc.key); got != tc.want {
			t.Errorf("isSecretKey(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestEnvSecrets(t *testing.T) {
	const azureKey = "YXp1cmUtYWNjb3VudC1rZXk="
	env := map[string]string{"ADOBE_CLIENT_SECRET": clientSecret, "AWS_SECRET_ACCESS_KEY": awsSecret, "ADOBE_CLIENT_ID": "id",
		"AZURE_STORAGE_KEY": azureKey, "AZURE_STORAGE_ACCOUNT": "studio"}
	got := EnvSecrets(func(k string) string { return env[k] })
	if strings.Join(got, ",") != clientSecret+","+awsSecret+","+azureKey {
		t.Errorf("EnvSecrets = %q, want the client secret, the AWS secret key and the Azure account key", got)
	}
}

// FuzzRedactHides puts a credential in every form the rules know and checks
// that it never comes out. go test runs the seeds; go test -fuzz explores.
func FuzzRedactHides(f *testing.F) {
	for _, seed := range []string{"abc123def", "5d672d79c15b13162d92", "a.b-c~d+e/f==", "Zm9vOmJhcg==", "x1"} {
		f.Add(seed)
	}
	templates := []string{
		"https://s3/k.png?X-Amz-Date=1&X-Amz-Signature=%s&x=1",
		"https://h/p?sig=%s",
		"https://h/cb?code=%s&state=1",
		"https://h/?u=https%%3A%%2F%%2Fs3%%2Fk%%3Fsig%%3D%s%%26a%%3D1",
		"grant_type=client_credentials&client_secret=%s",
		`{"access_token":"%s","token_type":"bearer"}`,
		`{ "Password" : "%s" }`,
		`body: "{\"client_secret\":\"%s\"}"`,
		"Authorization: Bearer %s",
		"authorization: basic %s\n",
		"{ClientID:abc ClientSecret:%s}",
		"map[AccessToken:%s]",
		"X-Amz-Security-Token: %s\r\nHost: h",
		"AWS_SESSION_TOKEN=%s aws",
		`token="%s"`,
	}
	// In a URL's user info the password is percent-encoded.
	userinfo := "proxy https://me:%s@proxy:3128/"
	f.Fuzz(func(t *testing.T, v string) {
		// A credential: token characters, at least 8, with a digit (so
		// that it is no English word after Bearer).
		v = strings.Map(func(r rune) rune {
			if r < 128 && isToken68Byte(byte(r)) {
				return r
			}
			return -1
		}, v) + "7"
		if len(v) < 8 {
			t.Skip()
		}
		var r Redactor
		for _, tmpl := range templates {
			in := fmt.Sprintf(tmpl, v)
			if out := r.Redact(in); strings.Contains(out, v) {
				t.Errorf("Redact(%q) = %q: the credential is still there", in, out)
			}
		}
		pw := url.PathEscape(v)
		if out := r.Redact(fmt.Sprintf(userinfo, pw)); strings.Contains(out, pw) {
			t.Errorf("Redact(%q) = %q: the password is still there", fmt.Sprintf(userinfo, pw), out)
		}
	})
}

// FuzzRedactIdempotent: Redact never panics, and what it returns has
// nothing left to hide.
func FuzzRedactIdempotent(f *testing.F) {
	for _, s := range []string{presigned, "Bearer abc123", `{"token":"x1234"}`, "X-Amz-Security-Token: a\r\n",
		"https://u:p@h/", "%26sig%3Dabc", "eyJeyJ.eyJ", "token=\\\"a", clientSecret} {
		f.Add(s)
	}
	r := NewRedactor([]string{clientSecret})
	f.Fuzz(func(t *testing.T, s string) {
		out := r.Redact(s)
		if again := r.Redact(out); again != out {
			t.Errorf("Redact(%q) = %q, and again %q", s, out, again)
		}
	})
}
