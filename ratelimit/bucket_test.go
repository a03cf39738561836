package ratelimit

import (
	"strings"
	"testing"
	"time"
)

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    Limit
		wantErr string // a fragment of the message; "" for success
	}{
		{"2/3s", Limit{2, 3 * time.Second}, ""},
		{" 300/1m ", Limit{300, time.Minute}, ""},
		{"4 / 1s", Limit{4, time.Second}, ""},
		{"1/100ms", Limit{1, 100 * time.Millisecond}, ""},
		{"", Limit{}, `want N/DURATION, e.g. 2/3s, got ""`},
		{"2", Limit{}, `want N/DURATION`},
		{"2/", Limit{}, `window "" is not a positive duration`},
		{"/3s", Limit{}, `count "" is not a positive whole number`},
		{"0/3s", Limit{}, `count "0" is not a positive whole number`},
		{"-1/3s", Limit{}, `count "-1"`},
		{"2.5/3s", Limit{}, `count "2.5"`},
		{"02/3s", Limit{}, `count "02"`},
		{"+2/3s", Limit{}, `count "+2"`},
		{"1 2/3s", Limit{}, `count "1 2"`},
		{"99999999999999999999/1s", Limit{}, `count "99999999999999999999"`},
		{"2/3", Limit{}, `window "3" is not a positive duration such as 3s or 1m`},
		{"2/0s", Limit{}, `window "0s"`},
		{"2/-1s", Limit{}, `window "-1s"`},
		{"2/3s/4", Limit{}, `window "3s/4"`},
	}
	for _, tc := range tests {
		got, err := ParseLimit(tc.in)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseLimit(%q): %v", tc.in, err)
		case tc.wantErr == "" && got != tc.want:
			t.Errorf("ParseLimit(%q) = %v, want %v", tc.in, got, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseLimit(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
		}
		if err == nil {
			if back, err := ParseLimit(got.String()); err != nil || back != got {
				t.Errorf("ParseLimit(%q.String() = %q) = %v, %v; want it back", tc.in, got.String(), back, err)
			}
		}
	}
}

func TestParseOverride(t *testing.T) {
	tests := []struct {
		in      string
		bucket  Bucket
		limit   Limit
		wantErr string
	}{
		{"remove-background.post=4/1s", RemoveBackgroundPost, Limit{4, time.Second}, ""},
		{"remove-background.get=1000/3s", RemoveBackgroundGet, Limit{1000, 3 * time.Second}, ""},
		{" post = 15/3s ", Post, Limit{15, 3 * time.Second}, ""},
		{"get=300/3s", Get, Limit{300, 3 * time.Second}, ""},
		{"post", "", Limit{}, `ratelimit: limit "post": want NAME=N/DURATION, e.g. remove-background.post=2/3s`},
		{"put=1/1s", "", Limit{}, `ratelimit: limit "put=1/1s": unknown name "put" (want post, get, remove-background.post or remove-background.get)`},
		{"Post=1/1s", "", Limit{}, `unknown name "Post"`},
		{"=1/1s", "", Limit{}, `unknown name ""`},
		{"post=0/1s", "", Limit{}, `ratelimit: limit "post=0/1s": count "0" is not a positive whole number`},
		{"get=300/3s=1", "", Limit{}, `ratelimit: limit "get=300/3s=1": window "3s=1"`},
	}
	for _, tc := range tests {
		b, l, err := ParseOverride(tc.in)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseOverride(%q): %v", tc.in, err)
		case tc.wantErr == "" && (b != tc.bucket || l != tc.limit):
			t.Errorf("ParseOverride(%q) = %q, %v; want %q, %v", tc.in, b, l, tc.bucket, tc.limit)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseOverride(%q) = %v; want error containing %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestProfiles(t *testing.T) {
	soft, hard := Soft(), Hard()
	for _, b := range Buckets() {
		s, h := soft[b], hard[b]
		if s.N <= 0 || h.N <= 0 || s.Window != h.Window {
			t.Errorf("%s: soft %v, hard %v: want positive, over the same window", b, s, h)
		}
		if s.N > h.N {
			t.Errorf("%s: soft %v above hard %v", b, s, h)
		}
	}
	if len(soft) != len(Buckets()) || len(hard) != len(Buckets()) {
		t.Errorf("profiles have %d and %d buckets, want %d", len(soft), len(hard), len(Buckets()))
	}
	for _, tc := range []struct {
		name string
		want Profile
		ok   bool
	}{{"soft", soft, true}, {"hard", hard, true}, {"Soft", nil, false}, {"", nil, false}, {"fast", nil, false}} {
		p, err := ProfileNamed(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ProfileNamed(%q) error %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if !tc.ok {
			if !strings.Contains(err.Error(), "want soft or hard") {
				t.Errorf("ProfileNamed(%q) = %v, want a hint naming soft and hard", tc.name, err)
			}
			continue
		}
		for _, b := range Buckets() {
			if p[b] != tc.want[b] {
				t.Errorf("ProfileNamed(%q)[%s] = %v, want %v", tc.name, b, p[b], tc.want[b])
			}
		}
	}
	// Profiles are fresh maps: overriding one must not change the next.
	soft[Post] = Limit{1, time.Hour}
	if Soft()[Post] == soft[Post] {
		t.Error("Soft returns a shared map")
	}
}

// The profiles are Adobe's published numbers (technical usage notes, as
// of the 2025-10-02 change that lowered remove background's hard POST
// limit from 6 to 3): a run planned on "hard" must never plan for more.
func TestProfilesAreAdobes(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  Profile
		want map[Bucket]int
	}{
		{"soft", Soft(), map[Bucket]int{Post: 15, Get: 300, RemoveBackgroundPost: 2, RemoveBackgroundGet: 500}},
		{"hard", Hard(), map[Bucket]int{Post: 16, Get: 310, RemoveBackgroundPost: 3, RemoveBackgroundGet: 1000}},
	} {
		for b, n := range tc.want {
			if l := tc.got[b]; l.N != n || l.Window != 3*time.Second {
				t.Errorf("%s %s = %v, want %d/3s", tc.name, b, l, n)
			}
		}
	}
}

func TestProfileWith(t *testing.T) {
	p, err := ProfileWith("hard", []string{"post=4/1s", "remove-background.post=1/3s"})
	if err != nil {
		t.Fatal(err)
	}
	want := Hard()
	want[Post], want[RemoveBackgroundPost] = Limit{4, time.Second}, Limit{1, 3 * time.Second}
	if len(p) != len(want) {
		t.Fatalf("profile %v, want %v", p, want)
	}
	for b, l := range want {
		if p[b] != l {
			t.Errorf("%s = %v, want %v", b, p[b], l)
		}
	}
	if _, err := ProfileWith("medium", nil); err == nil {
		t.Error("an unknown profile was taken")
	}
	if _, err := ProfileWith("soft", []string{"put=1/1s"}); err == nil {
		t.Error("a bad override was taken")
	}
}
