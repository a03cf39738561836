package ratelimit

import (
	"fmt"
	"strings"
	"time"
)

// Bucket names one of Adobe's per-organization request quotas. The names are
// the ones the -limit flag takes.
type Bucket string

// The four quotas in Adobe's technical usage notes. A request is charged to
// exactly one bucket: remove background requests (image.adobe.io) to the
// remove-background buckets, every other Photoshop API request to the general
// ones, since Adobe lists the two services' limits separately.
const (
	Post                 Bucket = "post"
	Get                  Bucket = "get"
	RemoveBackgroundPost Bucket = "remove-background.post"
	RemoveBackgroundGet  Bucket = "remove-background.get"
)

// Buckets returns every bucket in a stable order.
func Buckets() []Bucket { return []Bucket{Post, Get, RemoveBackgroundPost, RemoveBackgroundGet} }

// Limit is a quota of N requests in any window of length Window.
type Limit struct {
	N      int
	Window time.Duration
}

// String formats l the way [ParseLimit] reads it, e.g. "2/3s".
func (l Limit) String() string { return fmt.Sprintf("%d/%s", l.N, l.Window) }

// Profile maps each bucket to its limit.
type Profile map[Bucket]Limit

// Soft returns Adobe's soft limits, the ones to plan for.
func Soft() Profile {
	return Profile{
		Post:                 {15, 3 * time.Second},
		Get:                  {300, 3 * time.Second},
		RemoveBackgroundPost: {2, 3 * time.Second},
		RemoveBackgroundGet:  {500, 3 * time.Second},
	}
}

// Hard returns Adobe's hard limits: crossing them is refused with 429.
// Remove background's POST limit is 3 / 3 s: Adobe's technical usage
// notes lowered it from 6 on 2025-10-02.
func Hard() Profile {
	return Profile{
		Post:                 {16, 3 * time.Second},
		Get:                  {310, 3 * time.Second},
		RemoveBackgroundPost: {3, 3 * time.Second},
		RemoveBackgroundGet:  {1000, 3 * time.Second},
	}
}

// ProfileNamed returns the profile called name ("soft" or "hard").
func ProfileNamed(name string) (Profile, error) {
	switch name {
	case "soft":
		return Soft(), nil
	case "hard":
		return Hard(), nil
	}
	return nil, fmt.Errorf("ratelimit: unknown limits profile %q (want soft or hard)", name)
}

// ProfileWith returns the profile called name with each of overrides
// (-limit values, see [ParseOverride]) in place of its bucket's limit.
func ProfileWith(name string, overrides []string) (Profile, error) {
	p, err := ProfileNamed(name)
	if err != nil {
		return nil, err
	}
	for _, o := range overrides {
		b, l, err := ParseOverride(o)
		if err != nil {
			return nil, err
		}
		p[b] = l
	}
	return p, nil
}

// ParseOverride reads a -limit value such as "remove-background.post=4/1s".
func ParseOverride(s string) (Bucket, Limit, error) {
	name, spec, ok := strings.Cut(s, "=")
	if !ok {
		return "", Limit{}, fmt.Errorf("ratelimit: limit %q: want NAME=N/DURATION, e.g. remove-background.post=2/3s", s)
	}
	b := Bucket(strings.TrimSpace(name))
	known := false
	for _, k := range Buckets() {
		known = known || k == b
	}
	if !known {
		return "", Limit{}, fmt.Errorf("ratelimit: limit %q: unknown name %q (want post, get, remove-background.post or remove-background.get)", s, name)
	}
	l, err := ParseLimit(spec)
	if err != nil {
		return "", Limit{}, fmt.Errorf("ratelimit: limit %q: %w", s, err)
	}
	return b, l, nil
}

// ParseLimit reads "N/DURATION", e.g. "2/3s" or "300/1m".
func ParseLimit(s string) (Limit, error) {
	n, w, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Limit{}, fmt.Errorf("want N/DURATION, e.g. 2/3s, got %q", s)
	}
	var l Limit
	if _, err := fmt.Sscanf(n, "%d", &l.N); err != nil || l.N <= 0 || fmt.Sprint(l.N) != strings.TrimSpace(n) {
		return Limit{}, fmt.Errorf("count %q is not a positive whole number", n)
	}
	d, err := time.ParseDuration(strings.TrimSpace(w))
	if err != nil || d <= 0 {
		return Limit{}, fmt.Errorf("window %q is not a positive duration such as 3s or 1m", w)
	}
	l.Window = d
	return l, nil
}
