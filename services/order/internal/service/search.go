package service

import (
	"context"
	"slices"
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

// SalesDay is one UTC day's sales in one currency: the confirmed and
// shipped orders placed that day, their totals and their units.
type SalesDay struct {
	Day           time.Time
	Currency      string
	Revenue       int64
	Orders, Units int64
}

// ProductSales is one product's sales in one currency.
type ProductSales struct {
	SKU, Name, Currency string
	Units, Revenue      int64
	Orders              int64
}

// Sales returns what sold in [from, to): by day and currency, every UTC
// day the window touches once per currency sold in (zeros where nothing
// sold), and the top products by units.
func (s *Service) Sales(ctx context.Context, from, to time.Time, top int32) ([]SalesDay, []ProductSales, error) {
	sold, err := s.store.SalesByDay(ctx, from, to)
	if err != nil {
		return nil, nil, err
	}
	products, err := s.store.TopSellers(ctx, from, to, top)
	if err != nil {
		return nil, nil, err
	}
	return everyDay(sold, from, to), products, nil
}

// everyDay returns sold with a zero day for each UTC day from from to to
// and currency in sold that has none, oldest day first.
func everyDay(sold []SalesDay, from, to time.Time) []SalesDay {
	var currencies []string
	byKey := map[string]SalesDay{}
	for _, d := range sold {
		if !slices.Contains(currencies, d.Currency) {
			currencies = append(currencies, d.Currency)
		}
		byKey[d.Day.UTC().Format(time.DateOnly)+d.Currency] = d
	}
	slices.Sort(currencies)
	var out []SalesDay
	for day := from.UTC().Truncate(24 * time.Hour); day.Before(to); day = day.Add(24 * time.Hour) {
		for _, c := range currencies {
			d, ok := byKey[day.Format(time.DateOnly)+c]
			if !ok {
				d = SalesDay{Day: day, Currency: c}
			}
			out = append(out, d)
		}
	}
	return out
}
