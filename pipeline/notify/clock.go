package notify

import (
	"fmt"
	"time"
)

// Clock is a time of day, as -notify-at gives it.
type Clock struct{ Hour, Minute int }

// ParseClock reads "HH:MM" (24-hour).
func ParseClock(s string) (Clock, error) {
	var c Clock
	t, err := time.Parse("15:04", s)
	if err != nil {
		return c, fmt.Errorf("%q is not a time of day HH:MM (e.g. 08:00)", s)
	}
	return Clock{t.Hour(), t.Minute()}, nil
}

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute) }

// Next is the first time after now, in now's location, that the wall
// clock reads c. On a day when c does not exist (a DST gap) it is the
// moment the clock jumps past it; time.Date normalizes that.
func (c Clock) Next(now time.Time) time.Time {
	y, m, d := now.Date()
	t := time.Date(y, m, d, c.Hour, c.Minute, 0, 0, now.Location())
	for !t.After(now) {
		d++
		t = time.Date(y, m, d, c.Hour, c.Minute, 0, 0, now.Location())
	}
	return t
}
