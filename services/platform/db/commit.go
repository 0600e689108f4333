package db

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
)

// commitHooks collects what must happen only once a transaction commits:
// log lines and metrics about what it did, which a rollback (a deadlock the
// caller retries, a failed event) must not report.
type commitHooks struct {
	mu  sync.Mutex
	fns []func()
}

func (h *commitHooks) add(fns ...func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fns = append(h.fns, fns...)
}

type commitHooksKey struct{}

// OnCommit runs fn once the transaction of ctx (one begun by InTx) has
// committed, and never if it rolls back. Outside such a transaction fn
// runs at once.
func OnCommit(ctx context.Context, fn func()) {
	if h, ok := ctx.Value(commitHooksKey{}).(*commitHooks); ok {
		h.add(fn)
		return
	}
	fn()
}

// Beginner begins a transaction: a pool, a connection, or a transaction
// (which begins a savepoint).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// InTx runs fn in a transaction begun on b, as pgx.BeginFunc does, with a
// ctx whose OnCommit hooks run after the commit. A transaction nested in
// another InTx (a savepoint) hands its hooks to the enclosing one when it
// is released, so they wait for the real commit.
func InTx(ctx context.Context, b Beginner, fn func(ctx context.Context, tx pgx.Tx) error) error {
	parent, nested := ctx.Value(commitHooksKey{}).(*commitHooks)
	h := &commitHooks{}
	tctx := context.WithValue(ctx, commitHooksKey{}, h)
	if err := pgx.BeginFunc(ctx, b, func(tx pgx.Tx) error { return fn(tctx, tx) }); err != nil {
		return err
	}
	if nested {
		parent.add(h.fns...)
		return nil
	}
	for _, fn := range h.fns {
		fn()
	}
	return nil
}
