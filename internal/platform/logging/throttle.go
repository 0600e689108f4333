package logging

import "time"

// Throttle lets a repeating failure be logged at most once per Every, and
// counts the occurrences it held back, so the next line can say how many
// there were. The zero value with Every set is ready; it is not safe for
// concurrent use (callers hold their own lock or own goroutine).
type Throttle struct {
	Every time.Duration

	last    time.Time
	skipped int
}

// Allow reports whether now may log; when it may, it also returns how many
// calls since the last logged one were held back, and starts counting
// again.
func (t *Throttle) Allow(now time.Time) (skipped int, ok bool) {
	if !t.last.IsZero() && now.Sub(t.last) < t.Every {
		t.skipped++
		return 0, false
	}
	skipped, t.last, t.skipped = t.skipped, now, 0
	return skipped, true
}
