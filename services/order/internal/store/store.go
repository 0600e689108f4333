// Package store keeps orders in PostgreSQL through the sqlc-generated
// queries in orderdb, and wakes WatchOrder streams through LISTEN/NOTIFY.
package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/internal/platform/coalesce"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
	"github.com/ordermesh/ordermesh/services/order/internal/store/orderdb"
)

// StatusChannel is the NOTIFY channel that carries the id of every order
// whose status changed (see the Transition query).
const StatusChannel = "ordermesh_order_status"

// Store implements service.Storer.
type Store struct {
	pool   *pgxpool.Pool
	q      *orderdb.Queries
	outbox *events.Outbox
	// placer shares a transaction among concurrent placements.
	placer coalesce.Group[*placement, *placement]
}

var _ service.Storer = (*Store)(nil)

// New returns a store on pool that emits events through outbox.
func New(pool *pgxpool.Pool, outbox *events.Outbox) *Store {
	s := &Store{pool: pool, q: orderdb.New(pool), outbox: outbox}
	s.placer.Run = s.placeBatch
	return s
}

// InTx implements service.Storer.
func (s *Store) InTx(ctx context.Context, fn func(context.Context, service.Tx) error) error {
	return db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error { return fn(ctx, s.Bind(tx)) })
}

// OpenOrders reports, per status, the orders whose saga has not ended
// and the age of the oldest, for /metrics.
func (s *Store) OpenOrders(ctx context.Context) ([]service.OpenOrders, error) {
	rows, err := s.q.OpenOrders(ctx)
	if err != nil {
		return nil, fmt.Errorf("open orders: %w", err)
	}
	out := make([]service.OpenOrders, len(rows))
	for i, r := range rows {
		out[i] = service.OpenOrders{Status: service.Status(r.Status), Count: r.Open, OldestSeconds: r.OldestSeconds}
	}
	return out, nil
}

// Bind returns the store inside an open transaction.
func (s *Store) Bind(tx pgx.Tx) service.Tx {
	return &txStore{tx: tx, q: s.q.WithTx(tx), outbox: s.outbox}
}

// Get implements service.Storer.
func (s *Store) Get(ctx context.Context, id string) (service.Order, error) {
	oid, err := uuid.Parse(id)
	if err != nil {
		return service.Order{}, rpcerr.Errorf(service.ErrNotFound, "order %s does not exist", id)
	}
	rows, err := s.q.GetOrdersFull(ctx, []uuid.UUID{oid})
	if err != nil {
		return service.Order{}, fmt.Errorf("get order: %w", err)
	}
	if len(rows) == 0 {
		return service.Order{}, rpcerr.Errorf(service.ErrNotFound, "order %s does not exist", id)
	}
	row := rows[0]
	return fullOrder(row.Order, row.Lines, row.History)
}

// fullOrder is an order read with its lines and history as JSON.
func fullOrder(row orderdb.Order, lines, history []byte) (service.Order, error) {
	o, err := toOrder(row)
	if err != nil {
		return service.Order{}, err
	}
	if o.Lines, err = decodeLines(o.ID, lines); err != nil {
		return service.Order{}, err
	}
	var changes []struct {
		Status string    `json:"status"`
		Reason string    `json:"reason"`
		Detail string    `json:"detail"`
		At     time.Time `json:"at"`
	}
	if err := json.Unmarshal(history, &changes); err != nil {
		return service.Order{}, fmt.Errorf("decode history of %s: %w", o.ID, err)
	}
	for _, h := range changes {
		o.History = append(o.History, service.Change{Status: service.Status(h.Status), Reason: service.Reason(h.Reason), Detail: h.Detail, At: h.At})
	}
	return o, nil
}

// decodeLines reads the lines the order queries aggregate as JSON.
func decodeLines(id string, raw []byte) ([]service.Line, error) {
	var lines []struct {
		SKU       string `json:"sku"`
		Name      string `json:"name"`
		Quantity  int32  `json:"quantity"`
		UnitPrice int64  `json:"unit_price"`
	}
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, fmt.Errorf("decode lines of %s: %w", id, err)
	}
	out := make([]service.Line, len(lines))
	for i, l := range lines {
		out[i] = service.Line{SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice}
	}
	return out, nil
}

// List implements service.Storer.
func (s *Store) List(ctx context.Context, userID, beforeID string, limit int32) ([]service.Order, error) {
	before := uuid.Max
	if beforeID != "" {
		var err error
		if before, err = uuid.Parse(beforeID); err != nil {
			return nil, err
		}
	}
	rows, err := s.q.ListOrders(ctx, orderdb.ListOrdersParams{UserID: userID, BeforeID: before, PageLimit: limit})
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return complete(ctx, s.q, rows)
}

// KeyOwner implements service.Storer.
func (s *Store) KeyOwner(ctx context.Context, userID, key string) (string, []byte, bool, error) {
	k, err := s.q.GetIdempotencyKey(ctx, orderdb.GetIdempotencyKeyParams{UserID: userID, Key: key})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("idempotency key: %w", err)
	}
	return k.OrderID.String(), k.RequestHash, true, nil
}

// complete reads the lines and history of rows, in their order, the one
// way every order is read whole: GetOrdersFull's JSON, decoded by
// fullOrder.
func complete(ctx context.Context, q *orderdb.Queries, rows []orderdb.Order) ([]service.Order, error) {
	ids := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	full, err := q.GetOrdersFull(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("get orders: %w", err)
	}
	byID := make(map[uuid.UUID]orderdb.GetOrdersFullRow, len(full))
	for _, f := range full {
		byID[f.Order.ID] = f
	}
	out := make([]service.Order, 0, len(rows))
	for _, r := range rows {
		f, ok := byID[r.ID]
		if !ok {
			continue // deleted in between: only `make reset` deletes
		}
		o, err := fullOrder(f.Order, f.Lines, f.History)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

type txStore struct {
	tx     pgx.Tx
	q      *orderdb.Queries
	outbox *events.Outbox
}

func (t *txStore) Lock(ctx context.Context, id string, withLines bool) (service.Order, bool, error) {
	oid, perr := uuid.Parse(id)
	if perr != nil {
		return service.Order{}, false, nil //nolint:nilerr // not an order id: no such order
	}
	if !withLines {
		row, err := t.q.LockOrder(ctx, oid)
		if errors.Is(err, pgx.ErrNoRows) {
			return service.Order{}, false, nil
		}
		if err != nil {
			return service.Order{}, false, fmt.Errorf("lock order: %w", err)
		}
		o, err := toOrder(row)
		return o, err == nil, err
	}
	rows, err := t.q.LockOrdersWithLines(ctx, []uuid.UUID{oid})
	if err != nil {
		return service.Order{}, false, fmt.Errorf("lock order: %w", err)
	}
	if len(rows) == 0 {
		return service.Order{}, false, nil
	}
	row := rows[0]
	o, err := toOrder(row.Order)
	if err != nil {
		return service.Order{}, false, err
	}
	o.Lines, err = decodeLines(id, row.Lines)
	return o, err == nil, err
}

func (t *txStore) Transition(ctx context.Context, id string, status service.Status, reason service.Reason, detail string) error {
	uid, err := parseID(id)
	if err != nil {
		return err
	}
	if err := t.q.Transition(ctx, orderdb.TransitionParams{OrderID: uid, Status: string(status), Reason: string(reason), Detail: detail}); err != nil {
		return fmt.Errorf("transition to %s: %w", status, err)
	}
	if err := db.Notify(ctx, t.tx, StatusChannel, id); err != nil {
		return fmt.Errorf("wake watchers: %w", err)
	}
	return nil
}

func (t *txStore) SetShortLines(ctx context.Context, id string, short []service.ShortLine) error {
	b, err := json.Marshal(short)
	if err != nil {
		return err
	}
	uid, err := parseID(id)
	if err != nil {
		return err
	}
	return t.q.SetShortLines(ctx, orderdb.SetShortLinesParams{ID: uid, ShortLines: b})
}

func (t *txStore) SetBooking(ctx context.Context, id, booking string) error {
	uid, err := parseID(id)
	if err != nil {
		return err
	}
	return t.q.SetBooking(ctx, orderdb.SetBookingParams{ID: uid, BookingID: booking})
}

func (t *txStore) SetShipped(ctx context.Context, id, tracking string) error {
	uid, err := parseID(id)
	if err != nil {
		return err
	}
	return t.q.SetShipped(ctx, orderdb.SetShippedParams{ID: uid, TrackingNumber: tracking})
}

// parseID reads an order id the service has handed the store. The service
// only passes ids it has read or made, so a bad one is a bug: an error,
// never a panic.
func parseID(id string) (uuid.UUID, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return uuid.UUID{}, fmt.Errorf("store: order id %q is not a UUID: %w", id, err)
	}
	return uid, nil
}

func (t *txStore) Expired(ctx context.Context, n int) ([]string, error) {
	ids, err := t.q.ExpiredOrders(ctx, int32(n))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out, nil
}

func (t *txStore) Emit(ctx context.Context, orderID string, payload proto.Message) error {
	_, err := t.outbox.Add(ctx, t.tx, orderID, payload)
	return err
}

// storedAddress is the address column's JSON: the PostalAddress message's
// JSON form, camelCase and without empty fields, as rows written before
// the domain had its own address type hold it.
type storedAddress struct {
	Recipient   string `json:"recipient,omitempty"`
	Line1       string `json:"line1,omitempty"`
	Line2       string `json:"line2,omitempty"`
	City        string `json:"city,omitempty"`
	Region      string `json:"region,omitempty"`
	PostalCode  string `json:"postalCode,omitempty"`
	CountryCode string `json:"countryCode,omitempty"`
	Phone       string `json:"phone,omitempty"`
}

func toOrder(r orderdb.Order) (service.Order, error) {
	var addr storedAddress
	if err := json.Unmarshal(r.ShippingAddress, &addr); err != nil {
		return service.Order{}, fmt.Errorf("decode address of %s: %w", r.ID, err)
	}
	var short []service.ShortLine
	if err := json.Unmarshal(r.ShortLines, &short); err != nil {
		return service.Order{}, fmt.Errorf("decode short lines of %s: %w", r.ID, err)
	}
	return service.Order{
		ID: r.ID.String(), UserID: r.UserID, Status: service.Status(r.Status), Reason: service.Reason(r.Reason), Currency: r.Currency,
		Subtotal: r.SubtotalMinor, Shipping: r.ShippingMinor, Total: r.TotalMinor, Address: service.Address(addr), Email: r.Email,
		PaymentMethodID: r.PaymentMethodID.String(), FromCart: r.FromCart, Carrier: r.Carrier, ServiceLevel: r.ServiceLevel,
		BookingID: r.BookingID, TrackingNumber: r.TrackingNumber, ShippedAt: r.ShippedAt, ShortLines: short,
		ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, TraceParent: r.Traceparent,
	}, nil
}

// Search implements service.Storer.
func (s *Store) Search(ctx context.Context, f service.Filter, afterID string, limit int32) ([]service.Order, error) {
	cursor := uuid.Max
	if f.OldestFirst {
		cursor = uuid.Nil
	}
	if afterID != "" {
		var err error
		if cursor, err = uuid.Parse(afterID); err != nil {
			return nil, err
		}
	}
	from, to := idRange(f.IDPrefix)
	rows, err := s.q.SearchOrders(ctx, orderdb.SearchOrdersParams{
		Statuses: strs(f.Statuses), Reasons: strs(f.Reasons), PlacedAfter: f.PlacedAfter, PlacedBefore: f.PlacedBefore,
		OpenBefore: f.OpenBefore, UserID: f.UserID, IDFrom: from, IDTo: to, Sku: f.SKU,
		TotalCurrency: f.Currency, MinTotal: f.MinTotal, MaxTotal: f.MaxTotal,
		OldestFirst: f.OldestFirst, Cursor: cursor, PageLimit: limit,
	})
	if err != nil {
		return nil, fmt.Errorf("search orders: %w", err)
	}
	return complete(ctx, s.q, rows)
}

// Count implements service.Storer.
func (s *Store) Count(ctx context.Context, f service.Filter) (int64, error) {
	from, to := idRange(f.IDPrefix)
	n, err := s.q.CountOrders(ctx, orderdb.CountOrdersParams{
		Statuses: strs(f.Statuses), Reasons: strs(f.Reasons), PlacedAfter: f.PlacedAfter, PlacedBefore: f.PlacedBefore,
		OpenBefore: f.OpenBefore, UserID: f.UserID, IDFrom: from, IDTo: to, Sku: f.SKU,
		TotalCurrency: f.Currency, MinTotal: f.MinTotal, MaxTotal: f.MaxTotal,
	})
	if err != nil {
		return 0, fmt.Errorf("count orders: %w", err)
	}
	return n, nil
}

// SalesByDay implements service.Storer.
func (s *Store) SalesByDay(ctx context.Context, from, to time.Time) ([]service.SalesDay, error) {
	rows, err := s.q.SalesByDay(ctx, orderdb.SalesByDayParams{FromTime: from, ToTime: to})
	if err != nil {
		return nil, fmt.Errorf("sales by day: %w", err)
	}
	out := make([]service.SalesDay, len(rows))
	for i, r := range rows {
		out[i] = service.SalesDay{Day: r.Day.UTC(), Currency: r.Currency, Revenue: r.RevenueMinor, Orders: r.Orders, Units: r.Units}
	}
	return out, nil
}

// TopSellers implements service.Storer.
func (s *Store) TopSellers(ctx context.Context, from, to time.Time, top int32) ([]service.ProductSales, error) {
	rows, err := s.q.TopSellers(ctx, orderdb.TopSellersParams{FromTime: from, ToTime: to, Top: top})
	if err != nil {
		return nil, fmt.Errorf("top sellers: %w", err)
	}
	out := make([]service.ProductSales, len(rows))
	for i, r := range rows {
		out[i] = service.ProductSales{SKU: r.Sku, Name: r.Name, Currency: r.Currency, Units: r.Units, Revenue: r.RevenueMinor, Orders: r.Orders}
	}
	return out, nil
}

// MinutesSince implements service.Storer.
func (s *Store) MinutesSince(ctx context.Context, since time.Time) ([]service.Minute, error) {
	rows, err := s.q.MinutesSince(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("activity by minute: %w", err)
	}
	out := make([]service.Minute, len(rows))
	for i, r := range rows {
		out[i] = service.Minute{Start: r.Minute, Placed: r.Placed, Confirmed: r.Confirmed, Rejected: r.Rejected,
			Cancelled: r.Cancelled, CancelledConfirmed: r.CancelledConfirmed}
	}
	return out, nil
}

// BusiestSKUs implements service.Storer.
func (s *Store) BusiestSKUs(ctx context.Context, since time.Time, top int32) ([]service.SKUUnits, error) {
	rows, err := s.q.BusiestSKUs(ctx, orderdb.BusiestSKUsParams{SinceID: firstIDAt(since), Top: top})
	if err != nil {
		return nil, fmt.Errorf("busiest SKUs: %w", err)
	}
	out := make([]service.SKUUnits, len(rows))
	for i, r := range rows {
		out[i] = service.SKUUnits{SKU: r.Sku, Units: r.Units}
	}
	return out, nil
}

// firstIDAt is the smallest UUIDv7 of a time: its milliseconds, the
// version, and zeros. Every order id made at or after t sorts at or after
// it.
func firstIDAt(t time.Time) uuid.UUID {
	var id uuid.UUID
	ms := uint64(max(t.UnixMilli(), 0))
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	id[6], id[8] = 0x70, 0x80
	return id
}

// OldestOpen implements service.Storer.
func (s *Store) OldestOpen(ctx context.Context) (string, time.Time, bool, error) {
	row, err := s.q.OldestOpenOrder(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("oldest open order: %w", err)
	}
	return row.ID.String(), row.CreatedAt, true, nil
}

// idRange is the range of ids that start with prefix (at most 32
// hexadecimal digits, dashes ignored, as the API validates): the prefix
// padded with zeros, and with fs. No prefix is no range (NULL: every id).
func idRange(prefix string) (from, to pgtype.UUID) {
	digits := strings.ReplaceAll(strings.ToLower(prefix), "-", "")
	if digits == "" {
		return from, to
	}
	pad := max(32-len(digits), 0)
	lo, errLo := hex.DecodeString(digits + strings.Repeat("0", pad))
	hi, errHi := hex.DecodeString(digits + strings.Repeat("f", pad))
	if errLo != nil || errHi != nil || len(lo) != 16 {
		// Not an id's start: a range that holds no id.
		return pgtype.UUID{Bytes: uuid.Max, Valid: true}, pgtype.UUID{Bytes: uuid.Nil, Valid: true}
	}
	return pgtype.UUID{Bytes: [16]byte(lo), Valid: true}, pgtype.UUID{Bytes: [16]byte(hi), Valid: true}
}

// strs converts a filter of typed strings for a query's text[] parameter,
// never nil: PostgreSQL's cardinality of a NULL array is NULL, not 0.
func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}
