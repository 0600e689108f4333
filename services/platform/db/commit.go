package db

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// commitHooks collects what must happen only once a transaction commits:
// log lines and metrics about what it did, which a rollback (a deadlock the
// caller retries, a failed event) must not report.
type commitHooks struct {
	mu  sync.Mutex
	fns []func()
	// sender sends the notes after the commit; nil when the transaction
	// is not ours to commit.
	sender Sender
	// notes are the NOTIFYs to send once the transaction has committed,
	// each channel and payload once.
	notes map[note]struct{}
}

type note struct{ channel, payload string }

func (h *commitHooks) add(fns ...func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fns = append(h.fns, fns...)
}

func (h *commitHooks) addNotes(notes ...note) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.notes == nil {
		h.notes = map[note]struct{}{}
	}
	for _, n := range notes {
		h.notes[n] = struct{}{}
	}
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

// Notify sends NOTIFY channel with payload when the transaction of ctx
// commits, and not at all if it rolls back, as a NOTIFY inside it would.
// In a transaction begun by InTx on a pool it is sent right after the
// commit, on its own: a transaction that notifies takes PostgreSQL's one
// notification lock for its whole commit, WAL flush included, so every
// notifying commit in the cluster would wait for the one before it.
// Elsewhere it is sent inside tx.
func Notify(ctx context.Context, tx pgx.Tx, channel, payload string) error {
	if h, ok := ctx.Value(commitHooksKey{}).(*commitHooks); ok && h.sender != nil {
		h.addNotes(note{channel, payload})
		return nil
	}
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, payload)
	return err
}

// Sender sends statements outside any transaction: a pool.
type Sender interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
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
	if nested {
		h.sender = parent.sender
	} else if _, inTx := b.(pgx.Tx); !inTx {
		// Only a transaction of our own commits here; on a caller's
		// transaction, NOTIFYs stay inside it (see Notify).
		h.sender, _ = b.(Sender)
	}
	tctx := context.WithValue(ctx, commitHooksKey{}, h)
	if err := pgx.BeginFunc(ctx, b, func(tx pgx.Tx) error { return fn(tctx, tx) }); err != nil {
		return err
	}
	if nested {
		parent.add(h.fns...)
		parent.addNotes(slices.Collect(maps.Keys(h.notes))...)
		return nil
	}
	if len(h.notes) > 0 {
		sendNotes(context.WithoutCancel(ctx), h.sender, h.notes)
	}
	for _, fn := range h.fns {
		fn()
	}
	return nil
}

// sendNotes sends committed NOTIFYs in one statement. It cannot fail the
// transaction, which has committed: a lost one is logged, and what it
// would have woken looks on its own soon (relays poll, watches re-read).
func sendNotes(ctx context.Context, s Sender, notes map[note]struct{}) {
	channels, payloads := make([]string, 0, len(notes)), make([]string, 0, len(notes))
	for n := range notes {
		channels, payloads = append(channels, n.channel), append(payloads, n.payload)
	}
	if _, err := s.Exec(ctx, "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)", channels, payloads); err != nil {
		slog.WarnContext(ctx, "notification after commit not sent; listeners catch up by polling", slog.Any("channels", channels), slog.Any("error", err))
	}
}
