package store

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/services/payment/internal/service"
	"github.com/ordermesh/ordermesh/services/payment/internal/store/paymentdb"
)

// Stage returns the store of one delivered batch of events in tx (see
// events.Staging): Load reads the batch's payments (locked), cancelled
// orders and payment methods with one statement each, the saga's handlers
// decide against them in Go, and Write stores what they decided with one
// statement per table. It is a service.Tx, so the handlers are the ones a
// single event would run.
func (s *Store) Stage(tx pgx.Tx) events.Staging {
	return &Batch{tx: tx, q: s.q.WithTx(tx), outbox: s.outbox}
}

// Batch is the store of one delivered batch; see Stage.
type Batch struct {
	tx     pgx.Tx
	q      *paymentdb.Queries
	outbox *events.Outbox

	payments  map[string]*stagedPayment // by order id
	cancelled map[string]bool           // orders cancelled before their payment; true when this batch marked it
	methods   map[string]service.Method
	ops       []stagedOperation
	emitted   events.Emitted

	marks struct{ ops int }
	// saved holds, per order the current event changed, its payment and
	// cancellation as they were before.
	saved map[string]savedOrder
}

type stagedPayment struct {
	payment service.Payment
	created bool // by this batch: inserted, not updated
	changed bool
}

type stagedOperation struct {
	paymentID string
	op        service.Operation
}

type savedOrder struct {
	payment              *stagedPayment // nil: it had none
	cancelled, wasMarked bool
}

var (
	_ service.Tx     = (*Batch)(nil)
	_ events.Staging = (*Batch)(nil)
)

// Load implements events.Staging.
func (b *Batch) Load(ctx context.Context, envs []*eventsv1.Envelope) error {
	var orders []string
	var methods []uuid.UUID
	authorises := false
	for _, env := range envs {
		orders = append(orders, env.GetOrderId())
		if env.GetType() != eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED {
			continue
		}
		authorises = true
		if id, err := uuid.Parse(env.GetStockReserved().GetPaymentMethodId()); err == nil {
			methods = append(methods, id)
		}
	}
	slices.Sort(orders)
	orders = slices.Compact(orders)
	rows, err := b.q.LockPaymentsByOrders(ctx, orders)
	if err != nil {
		return fmt.Errorf("lock payments: %w", err)
	}
	b.payments = make(map[string]*stagedPayment, len(rows))
	for _, r := range rows {
		b.payments[r.OrderID] = &stagedPayment{payment: toPayment(r)}
	}
	b.cancelled, b.methods = map[string]bool{}, map[string]service.Method{}
	if !authorises {
		return nil // only StockReserved asks for these
	}
	cancelled, err := b.q.CancelledAmong(ctx, orders)
	if err != nil {
		return fmt.Errorf("cancelled orders: %w", err)
	}
	for _, id := range cancelled {
		b.cancelled[id] = false
	}
	ms, err := b.q.GetPaymentMethods(ctx, methods)
	if err != nil {
		return fmt.Errorf("payment methods: %w", err)
	}
	for _, m := range ms {
		b.methods[m.ID.String()] = toMethod(m)
	}
	return nil
}

// Mark implements events.Staging.
func (b *Batch) Mark() {
	b.marks.ops = len(b.ops)
	b.emitted.Mark()
	clear(b.saved)
}

// Undo implements events.Staging.
func (b *Batch) Undo() {
	b.ops = b.ops[:b.marks.ops]
	b.emitted.Undo()
	for orderID, was := range b.saved {
		if was.payment == nil {
			delete(b.payments, orderID)
		} else {
			b.payments[orderID] = was.payment
		}
		delete(b.cancelled, orderID)
		if was.cancelled {
			b.cancelled[orderID] = was.wasMarked
		}
	}
	clear(b.saved)
}

// save remembers an order's payment and cancellation as they were before
// the current event changes them.
func (b *Batch) save(orderID string) {
	if b.saved == nil {
		b.saved = map[string]savedOrder{}
	}
	if _, ok := b.saved[orderID]; ok {
		return
	}
	var was savedOrder
	if p, ok := b.payments[orderID]; ok {
		cp := *p
		was.payment = &cp
	}
	was.wasMarked, was.cancelled = b.cancelled[orderID]
	b.saved[orderID] = was
}

// Write implements events.Staging.
func (b *Batch) Write(ctx context.Context) error {
	var created paymentdb.InsertPaymentsParams
	var changed paymentdb.SetPaymentStatusesParams
	for _, orderID := range slices.Sorted(maps.Keys(b.payments)) {
		sp := b.payments[orderID]
		p := sp.payment
		switch {
		case sp.created:
			mid, _ := uuid.Parse(p.MethodID) // the nil UUID for a method that does not exist
			created.Ids, created.OrderIds, created.UserIds = append(created.Ids, uuid.MustParse(p.ID)), append(created.OrderIds, p.OrderID), append(created.UserIds, p.UserID)
			created.PaymentMethodIds, created.AmountsMinor = append(created.PaymentMethodIds, mid), append(created.AmountsMinor, p.Amount.AmountMinor)
			created.Currencies, created.Statuses = append(created.Currencies, p.Amount.Currency), append(created.Statuses, p.Status)
			created.DeclineCodes = append(created.DeclineCodes, p.DeclineCode)
		case sp.changed:
			changed.Ids, changed.Statuses = append(changed.Ids, uuid.MustParse(p.ID)), append(changed.Statuses, p.Status)
		}
	}
	if len(created.Ids) > 0 {
		if err := b.q.InsertPayments(ctx, created); err != nil {
			return fmt.Errorf("insert payments: %w", err)
		}
	}
	if len(changed.Ids) > 0 {
		if err := b.q.SetPaymentStatuses(ctx, changed); err != nil {
			return fmt.Errorf("set payment statuses: %w", err)
		}
	}
	if len(b.ops) > 0 {
		var ops paymentdb.InsertOperationsParams
		for _, o := range b.ops {
			ops.PaymentIds, ops.Kinds = append(ops.PaymentIds, uuid.MustParse(o.paymentID)), append(ops.Kinds, o.op.Kind)
			ops.Succeeded, ops.GatewayReferences = append(ops.Succeeded, o.op.Succeeded), append(ops.GatewayReferences, o.op.Reference)
			ops.Messages = append(ops.Messages, o.op.Message)
		}
		if err := b.q.InsertOperations(ctx, ops); err != nil {
			return fmt.Errorf("insert operations: %w", err)
		}
	}
	var marked []string
	for orderID, byBatch := range b.cancelled {
		if byBatch {
			marked = append(marked, orderID)
		}
	}
	if len(marked) > 0 {
		slices.Sort(marked)
		if err := b.q.InsertCancelledOrders(ctx, marked); err != nil {
			return fmt.Errorf("mark cancelled: %w", err)
		}
	}
	return b.emitted.Write(ctx, b.tx, b.outbox)
}

// Payment implements service.Tx: the batch's payments are locked already.
func (b *Batch) Payment(_ context.Context, orderID string) (service.Payment, bool, error) {
	p, ok := b.payments[orderID]
	if !ok {
		return service.Payment{}, false, nil
	}
	return p.payment, true, nil
}

// Method implements service.Tx.
func (b *Batch) Method(_ context.Context, id string) (service.Method, bool, error) {
	m, ok := b.methods[id]
	return m, ok, nil
}

// CreatePayment implements service.Tx.
func (b *Batch) CreatePayment(_ context.Context, p service.Payment) error {
	if _, err := uuid.Parse(p.ID); err != nil {
		return fmt.Errorf("payment id %q: %w", p.ID, err)
	}
	if _, ok := b.payments[p.OrderID]; ok {
		return fmt.Errorf("store: order %s has a payment already", p.OrderID)
	}
	b.save(p.OrderID)
	b.payments[p.OrderID] = &stagedPayment{payment: p, created: true}
	return nil
}

// SetStatus implements service.Tx.
func (b *Batch) SetStatus(_ context.Context, paymentID, status string) error {
	for orderID, sp := range b.payments {
		if sp.payment.ID == paymentID {
			b.save(orderID)
			cp := *sp
			cp.payment.Status, cp.changed = status, true
			b.payments[orderID] = &cp
			return nil
		}
	}
	return fmt.Errorf("store: payment %s was not loaded with its batch", paymentID)
}

// AddOperation implements service.Tx.
func (b *Batch) AddOperation(_ context.Context, paymentID string, op service.Operation) error {
	if _, err := uuid.Parse(paymentID); err != nil {
		return fmt.Errorf("payment id %q: %w", paymentID, err)
	}
	b.ops = append(b.ops, stagedOperation{paymentID: paymentID, op: op})
	return nil
}

// Cancelled implements service.Tx.
func (b *Batch) Cancelled(_ context.Context, orderID string) (bool, error) {
	_, ok := b.cancelled[orderID]
	return ok, nil
}

// MarkCancelled implements service.Tx.
func (b *Batch) MarkCancelled(_ context.Context, orderID string) error {
	if _, ok := b.cancelled[orderID]; ok {
		return nil
	}
	b.save(orderID)
	b.cancelled[orderID] = true
	return nil
}

// Emit implements service.Tx: the event continues the trace of ctx, the
// span of the event that caused it.
func (b *Batch) Emit(ctx context.Context, orderID string, payload proto.Message) error {
	b.emitted.Add(ctx, orderID, payload)
	return nil
}
