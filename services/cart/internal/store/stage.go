package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/services/cart/internal/service"
	"github.com/ordermesh/ordermesh/services/cart/internal/store/cartdb"
)

// Stage returns the store of one delivered batch of events in tx (see
// events.Staging): Load locks the batch's carts, with their lines, in one
// statement; the handlers edit them in Go; Write stores every change in
// one statement. It is a service.Tx, so the handlers are the ones a single
// event would run.
func (s *Store) Stage(tx pgx.Tx) events.Staging {
	return &Batch{q: s.q.WithTx(tx)}
}

// Batch is the store of one delivered batch; see Stage.
type Batch struct {
	q       *cartdb.Queries
	carts   map[string]*stagedCart // by user; only carts that exist
	changed map[string][]service.Line
	saved   map[string]savedCart
}

type stagedCart struct {
	cart   service.Cart
	before []service.Line // as loaded
}

type savedCart struct {
	lines   []service.Line
	changed bool
	was     []service.Line
}

var (
	_ service.Tx     = (*Batch)(nil)
	_ events.Staging = (*Batch)(nil)
)

// errAdded refuses an edit that adds lines: events only take lines out.
var errAdded = errors.New("store: an event may only take lines out of a cart")

// Load implements events.Staging.
func (b *Batch) Load(ctx context.Context, envs []*eventsv1.Envelope) error {
	users := make([]string, 0, len(envs))
	for _, env := range envs {
		if ev := env.GetOrderConfirmed(); ev.GetFromCart() {
			users = append(users, ev.GetUserId())
		}
	}
	slices.Sort(users)
	b.carts, b.changed = map[string]*stagedCart{}, map[string][]service.Line{}
	if len(users) == 0 {
		return nil
	}
	rows, err := b.q.LockCarts(ctx, slices.Compact(users))
	if err != nil {
		return fmt.Errorf("lock carts: %w", err)
	}
	for _, r := range rows {
		c := service.Cart{UserID: r.UserID, Version: r.Version, UpdatedAt: &r.UpdatedAt}
		for i, sku := range r.Skus {
			c.Lines = append(c.Lines, service.Line{SKU: sku, Quantity: r.Quantities[i], AddedAt: r.AddedAt[i]})
		}
		b.carts[r.UserID] = &stagedCart{cart: c, before: clone(c.Lines)}
	}
	return nil
}

// Mark implements events.Staging.
func (b *Batch) Mark() { clear(b.saved) }

// Undo implements events.Staging.
func (b *Batch) Undo() {
	for user, was := range b.saved {
		b.carts[user].cart.Lines = was.lines
		if was.changed {
			b.changed[user] = was.was
		} else {
			delete(b.changed, user)
		}
	}
	clear(b.saved)
}

// Change implements service.Tx. A cart that does not exist has no lines
// to take out, and stays as it is.
func (b *Batch) Change(_ context.Context, userID string, edit func([]service.Line) ([]service.Line, error)) (service.Cart, error) {
	c, ok := b.carts[userID]
	if !ok {
		return service.Cart{UserID: userID}, nil
	}
	after, err := edit(clone(c.cart.Lines))
	if err != nil {
		return service.Cart{}, err
	}
	had := map[string]bool{}
	for _, l := range c.before {
		had[l.SKU] = true
	}
	for _, l := range after {
		if !had[l.SKU] {
			return service.Cart{}, errAdded
		}
	}
	if b.saved == nil {
		b.saved = map[string]savedCart{}
	}
	if _, ok := b.saved[userID]; !ok {
		was, changed := b.changed[userID]
		b.saved[userID] = savedCart{lines: c.cart.Lines, changed: changed, was: was}
	}
	c.cart.Lines, b.changed[userID] = after, after
	return c.cart, nil
}

// Write implements events.Staging.
func (b *Batch) Write(ctx context.Context) error {
	if len(b.changed) == 0 {
		return nil
	}
	var p cartdb.ApplyCartChangesParams
	for _, user := range slices.Sorted(maps.Keys(b.changed)) {
		after := map[string]int32{}
		for _, l := range b.changed[user] {
			after[l.SKU] = l.Quantity
		}
		for _, l := range b.carts[user].before {
			q, kept := after[l.SKU]
			switch {
			case !kept:
				p.RemovedUsers, p.RemovedSkus = append(p.RemovedUsers, user), append(p.RemovedSkus, l.SKU)
			case q != l.Quantity:
				p.UpdatedUsers, p.UpdatedSkus, p.UpdatedQuantities = append(p.UpdatedUsers, user), append(p.UpdatedSkus, l.SKU), append(p.UpdatedQuantities, q)
			}
		}
		p.ChangedUsers = append(p.ChangedUsers, user)
	}
	if err := b.q.ApplyCartChanges(ctx, p); err != nil {
		return fmt.Errorf("apply cart changes: %w", err)
	}
	return nil
}
