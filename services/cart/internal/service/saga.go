package service

import (
	"context"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
)

// OnOrderConfirmed takes what an order placed from the cart bought out of
// the cart once the order is confirmed. An order of explicit lines leaves
// the cart alone.
func (s *Service) OnOrderConfirmed(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	ev := env.GetOrderConfirmed()
	if !ev.GetFromCart() {
		return nil
	}
	ordered := map[string]int32{}
	for _, l := range ev.GetLines() {
		ordered[l.GetSku()] += l.GetQuantity()
	}
	_, err := tx.Change(ctx, ev.GetUserId(), func(lines []Line) ([]Line, error) {
		return removeOrdered(lines, ordered), nil
	})
	return err
}

// removeOrdered takes what a confirmed order bought out of the cart's
// lines: each line loses the ordered quantity and disappears at zero.
// Units added after the order was placed stay.
func removeOrdered(lines []Line, ordered map[string]int32) []Line {
	out := lines[:0]
	for _, l := range lines {
		l.Quantity -= ordered[l.SKU]
		if l.Quantity > 0 {
			out = append(out, l)
		}
	}
	return out
}
