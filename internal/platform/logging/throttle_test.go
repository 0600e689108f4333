package logging_test

import (
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/internal/platform/logging"
)

// The first call logs; calls within Every are held back and counted, and
// the first call after it logs with their number.
func TestThrottleHoldsBackAndCounts(t *testing.T) {
	th := logging.Throttle{Every: time.Minute}
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		after   time.Duration
		ok      bool
		skipped int
	}{
		{0, true, 0},
		{10 * time.Second, false, 0},
		{59 * time.Second, false, 0},
		{time.Minute, true, 2},
		{time.Minute + time.Second, false, 0},
		{3 * time.Minute, true, 1},
	} {
		skipped, ok := th.Allow(start.Add(c.after))
		if ok != c.ok || skipped != c.skipped {
			t.Errorf("call %d at +%v: Allow = %d, %v; want %d, %v", i, c.after, skipped, ok, c.skipped, c.ok)
		}
	}
}
