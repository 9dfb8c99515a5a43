package ui

import "time"

// Clock is the dashboard's time: the current time, and a way to be called back later. The window uses it
// to slide its range as time passes; tests pass a clock they move by hand.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it and reports whether it did.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// nextSlide is when a window ending at now next needs to move: at the next whole minute, and so at
// every hour and day boundary of loc (checked apart, for zones whose offset is not whole minutes).
func nextSlide(now time.Time, loc *time.Location) time.Time {
	l := now.In(loc)
	next := now.Truncate(time.Minute).Add(time.Minute)
	hour := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), 0, 0, 0, loc).Add(time.Hour)
	day := time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
	for _, t := range []time.Time{hour, day} {
		if t.After(now) && t.Before(next) {
			next = t
		}
	}
	return next
}
