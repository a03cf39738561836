package uploader

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestNewChecksConfig(t *testing.T) {
	valid := func() Config {
		return Config{ClientID: "id", ClientSecret: "secret", Storage: &fakeStorage{}, Limiter: &fakeLimiter{}}
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string // part of the error
	}{
		{"no client id", func(c *Config) { c.ClientID = "" }, "ADOBE_CLIENT_ID"},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, "ADOBE_CLIENT_SECRET"},
		{"no storage", func(c *Config) { c.Storage = nil }, "storage"},
		{"no limiter", func(c *Config) { c.Limiter = nil }, "limiter"},
		{"bad IMS URL", func(c *Config) { c.IMSURL = "ims.example/token" }, "-ims-url"},
		{"bad image API URL", func(c *Config) { c.ImageAPIURL = "ftp://x" }, "-image-api-url"},
		{"negative timeout", func(c *Config) { c.JobTimeout = -time.Second }, "negative"},
		{"result validity too short", func(c *Config) { c.ResultValidity = time.Second }, "1m…24h"},
		{"result validity too long", func(c *Config) { c.ResultValidity = 25 * time.Hour }, "1m…24h"},
	}
	for _, tc := range tests {
		cfg := valid()
		tc.mod(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret\"") {
			t.Errorf("%s: error shows the secret: %v", tc.name, err)
		}
	}

	c, err := New(valid())
	if err != nil {
		t.Fatal(err)
	}
	got := c.cfg
	if got.IMSURL != DefaultIMSURL || got.ImageAPIURL != DefaultImageAPIURL || got.PhotoshopAPIURL != DefaultPhotoshopAPIURL {
		t.Errorf("default URLs %s %s %s", got.IMSURL, got.ImageAPIURL, got.PhotoshopAPIURL)
	}
	if got.JobTimeout != 10*time.Minute || got.Poll != (PollPolicy{2 * time.Second, 1.5, 30 * time.Second}) ||
		got.Retry != (RetryPolicy{3, time.Second, 20 * time.Second}) {
		t.Errorf("defaults: timeout %v, poll %+v, retry %+v", got.JobTimeout, got.Poll, got.Retry)
	}
	if got.ResultValidity != time.Hour {
		t.Errorf("default result validity %v, want 1h", got.ResultValidity)
	}
	if c.hc == nil || c.hc.Timeout != 0 {
		t.Error("the default HTTP client must have no overall timeout (large downloads)")
	}
}

func TestRetryCeiling(t *testing.T) {
	r := RetryPolicy{Base: time.Second, Max: 20 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 20 * time.Second, 20 * time.Second}
	for i, w := range want {
		if got := r.ceiling(i + 1); got != w {
			t.Errorf("retry %d: ceiling %v, want %v", i+1, got, w)
		}
	}
}

// Remove background's options, once the Config's, are the step's: checked
// by Normalize, and by Submit before any request.
func TestRemoveBackgroundOptionsChecked(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Step)
		want string // part of the error
	}{
		{"bad mode", func(s *Step) { s.RemoveBackground.Mode = "erase" }, "cutout, mask or psd"},
		{"bad media type", func(s *Step) { s.Outputs = []Rendition{{Format: "tiff"}} }, "png, jpeg, webp, psd"},
		{"bad colour", func(s *Step) { s.RemoveBackground.BackgroundColor = &Color{256, 0, 0, 1} }, "0…255"},
		{"bad alpha", func(s *Step) { s.RemoveBackground.BackgroundColor = &Color{0, 0, 0, 2} }, "0…1"},
		{"bad decontamination", func(s *Step) { s.RemoveBackground.ColorDecontamination = new(1.5) }, "0…1"},
	}
	for _, tc := range tests {
		s := rbStep()
		tc.mod(&s)
		r := Recipe{Steps: []Step{s}}
		if err := r.Normalize(t.TempDir()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Normalize error %v, want one mentioning %q", tc.name, err, tc.want)
		}
		e := newEnv(t, nil)
		if _, err := e.c.Submit(context.Background(), s, source().URL); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Submit error %v, want one mentioning %q", tc.name, err, tc.want)
		}
		if n := len(e.adobe.requests("POST /v2/remove-background")); n != 0 {
			t.Errorf("%s: %d requests sent", tc.name, n)
		}
	}
}
