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
// In a transaction begun by InTx on a pool it is sent after the commit,
// by the pool's notifier (see notifier): a transaction that notifies takes
// PostgreSQL's one notification lock for its whole commit, WAL flush
// included, so every notifying commit in the cluster would wait for the
// one before it. Elsewhere it is sent inside tx.
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
// ctx whose OnCommit hooks run after the commit. The transaction defers
// fn's write-only statements and sends them in batches (see deferred). A transaction nested in
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
	err := pgx.BeginFunc(ctx, b, func(tx pgx.Tx) error {
		d, ok := tx.(*deferred) // a savepoint of ours defers already
		if !ok {
			d = &deferred{Tx: tx}
		}
		if err := fn(tctx, d); err != nil {
			return err
		}
		return d.flush(tctx)
	})
	if err != nil {
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

// sendNotes hands committed NOTIFYs to the sender's notifier.
func sendNotes(ctx context.Context, s Sender, notes map[note]struct{}) {
	n, _ := notifiers.LoadOrStore(s, &notifier{sender: s})
	n.(*notifier).send(ctx, notes) //nolint:forcetypeassert // only notifiers are stored
}

// notifiers holds one notifier per Sender (pool).
var notifiers sync.Map

// notifier sends the NOTIFYs of committed transactions, one statement at
// a time: those that commit while one is being sent go together in the
// next, so under load many commits share one round trip and one
// transaction. It cannot fail a transaction, which has committed: a lost
// NOTIFY is logged, and what it would have woken looks on its own soon
// (relays poll, watches re-read).
type notifier struct {
	sender  Sender
	mu      sync.Mutex
	pending map[note]struct{}
	sending bool
}

func (n *notifier) send(ctx context.Context, notes map[note]struct{}) {
	n.mu.Lock()
	if n.pending == nil {
		n.pending = map[note]struct{}{}
	}
	maps.Copy(n.pending, notes)
	if n.sending {
		n.mu.Unlock()
		return // the sender in flight takes them next
	}
	n.sending = true
	n.mu.Unlock()
	go n.drain(ctx) // the committer does not wait for the round trip
}

func (n *notifier) drain(ctx context.Context) {
	for {
		n.mu.Lock()
		batch := n.pending
		n.pending = nil
		if len(batch) == 0 {
			n.sending = false
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		channels, payloads := make([]string, 0, len(batch)), make([]string, 0, len(batch))
		for nt := range batch {
			channels, payloads = append(channels, nt.channel), append(payloads, nt.payload)
		}
		if _, err := n.sender.Exec(ctx, "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)", channels, payloads); err != nil {
			slog.WarnContext(ctx, "notification after commit not sent; listeners catch up by polling", slog.Int("notifications", len(channels)), slog.Any("error", err))
		}
	}
}

// Hold runs what ctx's OnCommit hooks and NOTIFYs would collect from here
// on in a scope of its own: keep(true) hands them to the enclosing
// transaction, keep(false) drops them. A batch of events applied in one
// transaction holds each event's, so that an event that fails reports
// nothing of what it did before it failed.
func Hold(ctx context.Context) (held context.Context, keep func(bool)) {
	parent, ok := ctx.Value(commitHooksKey{}).(*commitHooks)
	if !ok {
		return ctx, func(bool) {}
	}
	h := &commitHooks{sender: parent.sender}
	return context.WithValue(ctx, commitHooksKey{}, h), func(ok bool) {
		if ok {
			parent.add(h.fns...)
			parent.addNotes(slices.Collect(maps.Keys(h.notes))...)
		}
	}
}
