// Package wait is how tests wait for a condition: polled, always with a
// deadline, and failing with what the condition last said.
package wait

import (
	"testing"
	"time"
)

// Until calls check every interval until it returns nil, and fails the
// test with what check last said once timeout has passed.
func Until(t testing.TB, timeout, interval time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}
