package logging

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Redacted replaces every hidden value.
const Redacted = "[REDACTED]"

// minSecret is the shortest Options.Secrets value that is hidden: shorter
// ones would blank out ordinary words.
const minSecret = 6

// Redactor hides secrets in strings by the rules in the package
// documentation. Build one with [NewRedactor]; the zero value applies the
// built-in rules with no Options.Secrets. A Redactor is safe for concurrent
// use.
type Redactor struct {
	secrets  []string // every form of every secret, longest first
	replacer *strings.Replacer
}

// NewRedactor returns a Redactor that hides secrets as well as what the
// built-in rules recognise. Empty and very short (< 6 bytes) secrets are
// ignored.
func NewRedactor(secrets []string) *Redactor {
	r := &Redactor{}
	seen := map[string]bool{}
	add := func(v string) {
		if len(v) >= minSecret && !seen[v] {
			seen[v] = true
			r.secrets = append(r.secrets, v)
		}
	}
	for _, s := range secrets {
		for _, v := range []string{s, strings.TrimSpace(s)} {
			if len(v) < minSecret {
				continue
			}
			// The forms a value takes in a URL, a form body, JSON and Go's %q.
			add(v)
			add(url.QueryEscape(v))
			add(url.PathEscape(v))
			if b, err := json.Marshal(v); err == nil {
				add(string(b[1 : len(b)-1]))
			}
			add(jsonEscapeNoHTML(v))
			q := strconv.Quote(v)
			add(q[1 : len(q)-1])
		}
	}
	// Longest first: a secret that contains another is hidden whole.
	slices.SortStableFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	if len(r.secrets) > 0 {
		pairs := make([]string, 0, 2*len(r.secrets))
		for _, s := range r.secrets {
			pairs = append(pairs, s, Redacted)
		}
		r.replacer = strings.NewReplacer(pairs...)
	}
	return r
}

// Redact returns s with secrets and what the built-in rules recognise
// replaced by [Redacted]. It builds a [Redactor] for the call: to redact
// many strings with the same secrets, use [NewRedactor] once.
func Redact(s string, secrets []string) string {
	return NewRedactor(secrets).Redact(s)
}

// jsonEscapeNoHTML is v as slog's JSON handler writes it, without quotes.
func jsonEscapeNoHTML(v string) string {
	b := appendJSONString(nil, v)
	return string(b[1 : len(b)-1])
}

// Redact returns s with every secret replaced by [Redacted]. It returns s
// itself, without allocating, when there is nothing to hide: each rule
// first looks for the few bytes it needs.
func (r *Redactor) Redact(s string) string {
	if len(s) < 5 { // "sig=x" is the shortest thing hidden
		return s
	}
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			s = r.replacer.Replace(s)
			break
		}
	}
	sp := spans{s: s}
	if strings.Contains(s, "://") && strings.IndexByte(s, '@') >= 0 {
		findUserinfo(&sp)
	}
	if strings.ContainsAny(s, " \t") {
		findAuth(&sp)
	}
	if strings.ContainsAny(s, "=:%") {
		findParams(&sp)
	}
	if strings.Contains(s, "AKIA") || strings.Contains(s, "ASIA") {
		findAWSKeyIDs(&sp)
	}
	if strings.Contains(s, "eyJ") {
		findJWTs(&sp)
	}
	return sp.apply()
}

// isSecretKey reports whether an attribute key or JSON field name names a
// secret, ignoring case, '_', '-', '.' and spaces.
func isSecretKey(k string) bool {
	var buf [64]byte
	if len(k) < 3 {
		return false
	}
	if len(k) > len(buf) {
		k = k[len(k)-len(buf):] // the suffix decides
	}
	n := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	norm := buf[:n]
	switch string(norm) {
	case "sig", "cookie", "setcookie":
		return true
	}
	for _, suf := range [...]string{
		"secret", "token", "password", "passwd", "credential", "credentials",
		"signature", "authorization", "secretaccesskey", "privatekey", "accountkey",
	} {
		if bytes.HasSuffix(norm, []byte(suf)) {
			return true
		}
	}
	return false
}

// EnvSecrets returns the values of the environment variables that hold
// hotfolder's secrets, for Options.Secrets: ADOBE_CLIENT_SECRET,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AZURE_STORAGE_KEY,
// AZURE_STORAGE_CONNECTION_STRING and AZURE_CLIENT_SECRET (unset ones are
// left out).
// getenv is os.Getenv outside tests.
func EnvSecrets(getenv func(string) string) []string {
	var out []string
	for _, name := range [...]string{"ADOBE_CLIENT_SECRET", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AZURE_STORAGE_KEY", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_SECRET"} {
		if v := getenv(name); v != "" {
			out = append(out, v)
		}
	}
	return out
}
