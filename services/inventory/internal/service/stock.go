package service

import (
	"context"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// GetStock returns one SKU's ledger.
func (s *Service) GetStock(ctx context.Context, sku string) (Stock, error) {
	return s.store.Get(ctx, sku)
}

// GetReservation returns an order's reservation, whatever became of it.
func (s *Service) GetReservation(ctx context.Context, orderID string) (Reservation, error) {
	r, found, err := s.store.Reservation(ctx, orderID)
	if err != nil {
		return Reservation{}, err
	}
	if !found {
		return Reservation{}, rpcerr.Errorf(ErrNoReservation, "order %s has no reservation", orderID)
	}
	return r, nil
}

// BatchGetStock returns the ledgers found, in the order asked, and the SKUs
// never stocked.
func (s *Service) BatchGetStock(ctx context.Context, skus []string) ([]Stock, []string, error) {
	found, err := s.store.BatchGet(ctx, skus)
	if err != nil {
		return nil, nil, err
	}
	bySKU := make(map[string]Stock, len(found))
	for _, st := range found {
		bySKU[st.SKU] = st
	}
	out := make([]Stock, 0, len(found))
	var missing []string
	for _, sku := range skus {
		if st, ok := bySKU[sku]; ok {
			out = append(out, st)
		} else {
			missing = append(missing, sku)
		}
	}
	return out, missing, nil
}

// SetStock sets a SKU's available units.
func (s *Service) SetStock(ctx context.Context, sku string, available int64, actor string) (Stock, error) {
	return s.store.Set(ctx, sku, available, actor)
}

// AdjustStock changes a SKU's available units by delta.
func (s *Service) AdjustStock(ctx context.Context, sku string, delta int64, reason, actor string) (Stock, error) {
	return s.store.Adjust(ctx, sku, delta, reason, actor)
}
