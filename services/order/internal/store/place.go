package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/internal/platform/coalesce"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
	"github.com/ordermesh/ordermesh/services/order/internal/store/orderdb"
)

// placement is one caller's order to place; its ctx carries the caller's
// trace, which the batch links to and the OrderPlaced event continues.
type placement struct {
	ctx   context.Context //nolint:containedctx // the caller's, for its trace
	order service.Order
	key   string
	hash  []byte
	event proto.Message
	// placed is set by insertAll: false when the key was taken.
	placed bool
}

// Place implements service.Storer. Concurrent calls share a transaction
// (a coalesce.Group, with no waiting window): one statement claims every
// key and inserts every order, one inserts all their lines, one their
// history and one their OrderPlaced events. Each caller still gets its own
// answer: its order as stored, or false when its key was taken.
func (s *Store) Place(ctx context.Context, o service.Order, key string, requestHash []byte, placed proto.Message) (service.Order, bool, error) {
	p, err := s.placer.Do(ctx, &placement{ctx: ctx, order: o, key: key, hash: requestHash, event: placed})
	if err != nil {
		return service.Order{}, false, err
	}
	return p.order, p.placed, nil
}

// placeBatch writes one batch of placements. When the batch fails as a
// whole, each is placed alone, so that one bad order fails only its own
// caller.
func (s *Store) placeBatch(ctx context.Context, batch []*placement) []coalesce.Result[*placement] {
	links := make([]trace.Link, len(batch))
	for i, p := range batch {
		links[i] = trace.LinkFromContext(p.ctx, attribute.String("ordermesh.order_id", p.order.ID))
	}
	ctx, span := trace.SpanFromContext(ctx).TracerProvider().Tracer(service.Instrumentation).Start(ctx, "order.place_batch",
		trace.WithNewRoot(), trace.WithLinks(links...), trace.WithAttributes(attribute.Int("ordermesh.batch.size", len(batch))))
	defer span.End()
	out := make([]coalesce.Result[*placement], len(batch))
	err := db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error { return s.insertAll(ctx, tx, batch) })
	if err != nil && len(batch) > 1 {
		for i, p := range batch {
			err := db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error { return s.insertAll(ctx, tx, []*placement{p}) })
			out[i] = coalesce.Result[*placement]{Value: p, Err: err}
		}
		return out
	}
	for i, p := range batch {
		out[i] = coalesce.Result[*placement]{Value: p, Err: err}
	}
	return out
}

// insertAll writes a batch's orders, lines, history and events.
func (s *Store) insertAll(ctx context.Context, tx pgx.Tx, batch []*placement) error {
	var p orderdb.InsertOrdersParams
	for _, pl := range batch {
		o := pl.order
		id, err := uuid.Parse(o.ID)
		if err != nil {
			return fmt.Errorf("order id %q: %w", o.ID, err)
		}
		addr, err := json.Marshal(storedAddress(o.Address))
		if err != nil {
			return fmt.Errorf("encode address: %w", err)
		}
		pm, _ := uuid.Parse(o.PaymentMethodID)
		p.Ids, p.UserIds, p.IdempotencyKeys, p.RequestHashes = append(p.Ids, id), append(p.UserIds, o.UserID), append(p.IdempotencyKeys, pl.key), append(p.RequestHashes, pl.hash)
		p.Currencies, p.SubtotalsMinor, p.ShippingsMinor = append(p.Currencies, o.Currency), append(p.SubtotalsMinor, o.Subtotal), append(p.ShippingsMinor, o.Shipping)
		p.TotalsMinor, p.ShippingAddresses, p.Emails = append(p.TotalsMinor, o.Total), append(p.ShippingAddresses, addr), append(p.Emails, o.Email)
		p.PaymentMethodIds, p.FromCarts, p.Carriers = append(p.PaymentMethodIds, pm), append(p.FromCarts, o.FromCart), append(p.Carriers, o.Carrier)
		p.ServiceLevels, p.ExpiresAt, p.Traceparents = append(p.ServiceLevels, o.ServiceLevel), append(p.ExpiresAt, o.ExpiresAt), append(p.Traceparents, o.TraceParent)
	}
	rows, err := s.q.WithTx(tx).InsertOrders(ctx, p)
	if err != nil {
		return fmt.Errorf("insert orders: %w", err)
	}
	created := make(map[uuid.UUID]orderdb.InsertOrdersRow, len(rows))
	for _, r := range rows {
		created[r.ID] = r
	}
	var lines orderdb.InsertOrdersLinesParams
	var placedIDs []uuid.UUID
	var emitted []events.Pending
	for _, pl := range batch {
		id := uuid.MustParse(pl.order.ID) // parsed above
		r, ok := created[id]
		pl.placed = ok
		if !ok {
			continue // the key was taken: nothing of this order is written
		}
		for i, l := range pl.order.Lines {
			lines.OrderIds, lines.Positions = append(lines.OrderIds, id), append(lines.Positions, int32(i+1))
			lines.Skus, lines.Names = append(lines.Skus, l.SKU), append(lines.Names, l.Name)
			lines.Quantities, lines.UnitPrices = append(lines.Quantities, l.Quantity), append(lines.UnitPrices, l.UnitPrice)
		}
		placedIDs = append(placedIDs, id)
		// now() is the transaction's start, so the row, its history entry
		// and what the caller gets all carry the same time.
		pl.order.CreatedAt, pl.order.UpdatedAt = r.CreatedAt, r.CreatedAt
		pl.order.History = []service.Change{{Status: service.StatusPending, Detail: "placed", At: r.CreatedAt}}
		emitted = append(emitted, events.Pending{OrderID: pl.order.ID, Payload: pl.event, Trace: trace.SpanContextFromContext(pl.ctx)})
		if err := db.Notify(ctx, tx, StatusChannel, pl.order.ID); err != nil {
			return fmt.Errorf("wake watchers: %w", err)
		}
	}
	if len(placedIDs) == 0 {
		return nil
	}
	q := s.q.WithTx(tx)
	if err := q.InsertOrdersLines(ctx, lines); err != nil {
		return fmt.Errorf("insert lines: %w", err)
	}
	if err := q.RecordPlacedMany(ctx, placedIDs); err != nil {
		return fmt.Errorf("record placements: %w", err)
	}
	return s.outbox.AddAll(ctx, tx, emitted)
}
