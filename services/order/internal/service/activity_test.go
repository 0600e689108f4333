package service_test

import (
	"slices"
	"testing"

	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

func TestOpenAtEnds(t *testing.T) {
	for name, tc := range map[string]struct {
		minutes []service.Minute
		now     int64
		want    []int64
	}{
		"quiet": {[]service.Minute{{}, {}}, 0, []int64{0, 0}},
		// Three placed, two confirmed in the same minute, one still open.
		"one minute": {[]service.Minute{{}, {Placed: 3, Confirmed: 2}}, 1, []int64{0, 1}},
		// Placed and open in the first minute; one confirmed, one rejected
		// and one cancelled from PENDING in the second.
		"ended later": {[]service.Minute{{Placed: 3}, {Confirmed: 1, Rejected: 1, Cancelled: 1}}, 0, []int64{3, 0}},
		// A confirmed order's later cancellation closes no open order.
		"cancelled after confirmation": {
			[]service.Minute{{Placed: 2, Confirmed: 1}, {Cancelled: 1, CancelledConfirmed: 1}, {Confirmed: 1}}, 0, []int64{1, 1, 0},
		},
		// Orders open before the window stay counted.
		"open from before": {[]service.Minute{{Confirmed: 2}, {Placed: 1}}, 3, []int64{2, 3}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := service.OpenAtEnds(tc.minutes, tc.now); !slices.Equal(got, tc.want) {
				t.Errorf("OpenAtEnds = %v, want %v", got, tc.want)
			}
		})
	}
}
