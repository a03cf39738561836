package uploader

import (
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
		{"bad mode", func(c *Config) { c.RemoveBackground.Mode = "erase" }, "cutout, mask or psd"},
		{"bad media type", func(c *Config) { c.RemoveBackground.MediaType = "image/gif" }, "image/png"},
		{"bad colour", func(c *Config) { c.RemoveBackground.BackgroundColor = &Color{256, 0, 0, 1} }, "0–255"},
		{"bad alpha", func(c *Config) { c.RemoveBackground.BackgroundColor = &Color{0, 0, 0, 2} }, "0–1"},
		{"negative timeout", func(c *Config) { c.JobTimeout = -time.Second }, "negative"},
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
	if got.JobTimeout != 10*time.Minute || got.Poll != (PollPolicy{time.Second, 1.5, 15 * time.Second}) ||
		got.Retry != (RetryPolicy{3, time.Second, 20 * time.Second}) {
		t.Errorf("defaults: timeout %v, poll %+v, retry %+v", got.JobTimeout, got.Poll, got.Retry)
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
