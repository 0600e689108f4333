package service

import (
	"context"
	"time"
)

// Minute is one minute of the shop's activity: orders placed, checkouts
// ended by outcome, and the cancellations among them that followed a
// confirmation (they close no open order).
type Minute struct {
	Start                                  time.Time
	Placed, Confirmed, Rejected, Cancelled int64
	CancelledConfirmed                     int64
}

// SKUUnits is a SKU's units on the orders placed in a window.
type SKUUnits struct {
	SKU   string
	Units int64
}

// Activity returns the last n minutes, oldest first and every minute
// there, with the open orders at each minute's end worked back from
// openNow: an order placed after a minute was not open at its end, and
// one that left the open statuses after it was.
func (s *Service) Activity(ctx context.Context, n int, openNow int64) ([]Minute, []int64, error) {
	now := s.now().UTC()
	first := now.Truncate(time.Minute).Add(-time.Duration(n-1) * time.Minute)
	stored, err := s.store.MinutesSince(ctx, first)
	if err != nil {
		return nil, nil, err
	}
	byStart := make(map[time.Time]Minute, len(stored))
	for _, m := range stored {
		byStart[m.Start.UTC()] = m
	}
	minutes := make([]Minute, n)
	for i := range minutes {
		start := first.Add(time.Duration(i) * time.Minute)
		minutes[i] = byStart[start]
		minutes[i].Start = start
	}
	return minutes, OpenAtEnds(minutes, openNow), nil
}

// OpenAtEnds works the open orders at each minute's end back from the
// last minute's, openNow: before a minute, the orders placed in it were
// not open yet, and the ones that left the open statuses in it (a
// cancellation after a confirmation leaves none) still were.
func OpenAtEnds(minutes []Minute, openNow int64) []int64 {
	open := make([]int64, len(minutes))
	level := openNow
	for i := len(minutes) - 1; i >= 0; i-- {
		open[i] = max(level, 0)
		m := minutes[i]
		level += m.Confirmed + m.Rejected + m.Cancelled - m.CancelledConfirmed - m.Placed
	}
	return open
}

// BusiestSKUs returns the top SKUs by units on the orders placed since a
// time.
func (s *Service) BusiestSKUs(ctx context.Context, since time.Time, top int32) ([]SKUUnits, error) {
	return s.store.BusiestSKUs(ctx, since, top)
}
