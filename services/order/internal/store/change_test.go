package store

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// A change notified by the batch that made it applies to a watcher's
// order only as the next entry of its history; anything else (an id
// alone, a gap, a repeat) makes the watcher read the order instead.
func TestStatusChangeAppliesOnlyInSequence(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	placed := service.Order{ID: "o-1", Status: service.StatusPending, History: []service.Change{{Status: service.StatusPending, Detail: "placed", At: at}}}
	reserved := statusChange{OrderID: "o-1", Seq: 2, Status: service.StatusReserved, At: at.Add(time.Second)}
	confirmed := statusChange{OrderID: "o-1", Seq: 3, Status: service.StatusConfirmed, Detail: "booked", At: at.Add(2 * time.Second), BookingID: "B-1"}

	c, whole := parseChange(reserved.payload())
	if !whole {
		t.Fatalf("a change's payload read back as an id: %q", reserved.payload())
	}
	got, ok := c.apply(placed)
	if !ok {
		t.Fatal("the next entry did not apply")
	}
	want := placed
	want.Status, want.UpdatedAt = service.StatusReserved, at.Add(time.Second)
	want.History = append(append([]service.Change(nil), placed.History...), service.Change{Status: service.StatusReserved, At: at.Add(time.Second)})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after the change (-want +got):\n%s", diff)
	}
	if len(placed.History) != 1 {
		t.Errorf("applying changed the order it was given: %d entries", len(placed.History))
	}
	if _, ok := confirmed.apply(placed); ok {
		t.Error("a change with a gap before it applied")
	}
	if _, ok := reserved.apply(got); ok {
		t.Error("a repeated change applied twice")
	}
	if then, ok := confirmed.apply(got); !ok || then.BookingID != "B-1" || then.Status != service.StatusConfirmed {
		t.Errorf("the confirmation applied as %+v, %v; want confirmed with its booking", then, ok)
	}
	if c, whole := parseChange("0190a7e2-0000-7000-8000-000000000001"); whole || c.OrderID != "0190a7e2-0000-7000-8000-000000000001" {
		t.Errorf("an id payload read as %+v, %v; want the id, to read", c, whole)
	}
}
