package service

import (
	"context"
	"time"
)

// Filter selects orders across customers, for operators. Empty fields
// match everything; the fields combine with AND.
type Filter struct {
	Statuses []Status
	Reasons  []Reason
	// PlacedAfter and PlacedBefore bound the placement time: at or after,
	// and before.
	PlacedAfter, PlacedBefore *time.Time
	// OpenBefore keeps only open orders placed before this time.
	OpenBefore *time.Time
	UserID     string
	// IDPrefix keeps the orders whose id starts with it: hexadecimal
	// digits, dashes ignored.
	IDPrefix string
	// SKU keeps the orders with a line of it.
	SKU string
	// MinTotal and MaxTotal bound the total, in minor units of Currency,
	// which they require when either is set.
	MinTotal, MaxTotal *int64
	Currency           string
	OldestFirst        bool
}

// SearchOrders returns a page of the orders f selects, after afterID in
// f's direction.
func (s *Service) SearchOrders(ctx context.Context, f Filter, afterID string, limit int32) ([]Order, error) {
	return s.store.Search(ctx, f, afterID, limit)
}

// CountOrders returns how many orders f selects.
func (s *Service) CountOrders(ctx context.Context, f Filter) (int64, error) {
	return s.store.Count(ctx, f)
}

// OldestOpenOrder returns the id and age of the open order placed longest
// ago, and false when no order is open.
func (s *Service) OldestOpenOrder(ctx context.Context) (string, time.Duration, bool, error) {
	id, placed, found, err := s.store.OldestOpen(ctx)
	if err != nil || !found {
		return "", 0, false, err
	}
	return id, s.now().Sub(placed), true, nil
}

// Now is the service's clock, for a filter relative to the present.
func (s *Service) Now() time.Time { return s.now() }
