package meshtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/app/mesh/invariants"
)

func (m *Mesh) pools() map[string]*pgxpool.Pool {
	out := map[string]*pgxpool.Pool{}
	for name, d := range m.Databases {
		out[name] = d.Pool
	}
	return out
}

// WaitQuiet waits until no service has an event left to deliver (parked
// deliveries do not count), so that the saga has done all it will do.
func (m *Mesh) WaitQuiet(t testing.TB) {
	t.Helper()
	if err := invariants.Settle(context.Background(), m.pools(), 30*time.Second); err != nil {
		t.Fatalf("meshtest: %v", err)
	}
}

// CheckInvariants waits for the saga to settle and fails the test for
// every invariant (package invariants) that does not hold.
func (m *Mesh) CheckInvariants(t testing.TB) {
	t.Helper()
	m.WaitQuiet(t)
	if err := invariants.Check(context.Background(), m.pools()); err != nil {
		t.Errorf("invariants broken:\n%v", err)
	}
}
