package db

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// deferred is a transaction whose write-only statements wait and go to
// PostgreSQL together with the next statement whose answer is needed, or
// with the commit: one round trip (one pipelined batch) for several
// statements. On this machine a round trip costs about 70 µs of CPU
// between pgx, the kernel and the backend, and a pipelined statement about
// 15 (docs/performance.md), and a saga step writes two to four statements
// between its reads.
//
// A statement waits only when its result cannot matter before the next
// one: an sqlc `:exec` query, whose Go method returns only an error. Its
// error then comes from the statement that sends it, or from the commit,
// and rolls the whole transaction back as it would have; the message names
// the deferred query. `:execrows`, `:one`, `:many` and any other SQL run
// at once, after what waits. Everything runs in the order it was issued,
// in the same transaction, so a later read sees an earlier write.
//
// InTx hands fn a deferred transaction; Flush sends what waits (Sink does
// after each event, so that its statements' spans are in the event's
// trace).
type deferred struct {
	pgx.Tx
	queue []queued
}

type queued struct {
	sql  string
	args []any
}

// deferrable reports whether sql is an sqlc `:exec` query: its text starts
// with "-- name: <Name> :exec" and a line end.
func deferrable(sql string) bool {
	rest, ok := strings.CutPrefix(sql, "-- name: ")
	if !ok {
		return false
	}
	line, _, _ := strings.Cut(rest, "\n")
	return strings.HasSuffix(strings.TrimSpace(line), " :exec")
}

// Flush sends the statements tx holds back, if it is a transaction InTx
// began; otherwise it does nothing.
func Flush(ctx context.Context, tx pgx.Tx) error {
	if d, ok := tx.(*deferred); ok {
		return d.flush(ctx)
	}
	return nil
}

func (d *deferred) flush(ctx context.Context) error {
	if len(d.queue) == 0 {
		return nil
	}
	br, err := d.send(ctx, nil)
	if err != nil {
		return err
	}
	return br.Close()
}

// send sends what waits and then last, if any, in one batch, and returns
// the batch's results positioned at last's, having checked those before.
func (d *deferred) send(ctx context.Context, last *queued) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	for _, q := range d.queue {
		b.Queue(q.sql, q.args...)
	}
	if last != nil {
		b.Queue(last.sql, last.args...)
	}
	queue := d.queue
	d.queue = nil
	br := d.Tx.SendBatch(ctx, b)
	for _, q := range queue {
		if _, err := br.Exec(); err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", queryName(q.sql), err), br.Close())
		}
	}
	return br, nil
}

func (d *deferred) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if deferrable(sql) {
		d.queue = append(d.queue, queued{sql, args})
		return pgconn.NewCommandTag(""), nil
	}
	if len(d.queue) == 0 {
		return d.Tx.Exec(ctx, sql, args...)
	}
	br, err := d.send(ctx, &queued{sql, args})
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	return tag, errors.Join(err, br.Close())
}

func (d *deferred) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if len(d.queue) == 0 {
		return d.Tx.Query(ctx, sql, args...)
	}
	br, err := d.send(ctx, &queued{sql, args})
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, errors.Join(err, br.Close())
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (d *deferred) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if len(d.queue) == 0 {
		return d.Tx.QueryRow(ctx, sql, args...)
	}
	rows, err := d.Query(ctx, sql, args...)
	return &batchRow{rows: rows, err: err}
}

func (d *deferred) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := d.flush(ctx); err != nil {
		return failedBatch{err}
	}
	return d.Tx.SendBatch(ctx, b)
}

func (d *deferred) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := d.flush(ctx); err != nil {
		return 0, err
	}
	return d.Tx.CopyFrom(ctx, table, columns, src)
}

// Begin begins a savepoint after what waits, which defers in turn.
func (d *deferred) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := d.flush(ctx); err != nil {
		return nil, err
	}
	tx, err := d.Tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &deferred{Tx: tx}, nil
}

func (d *deferred) Commit(ctx context.Context) error {
	if err := d.flush(ctx); err != nil {
		_ = d.Tx.Rollback(ctx) // the error that failed it says more
		return err
	}
	return d.Tx.Commit(ctx)
}

func (d *deferred) Rollback(ctx context.Context) error {
	d.queue = nil
	return d.Tx.Rollback(ctx)
}

// batchRows are a query's rows read from a batch; closing them closes the
// batch, which frees the connection.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.br.Close()
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// batchRow is QueryRow's answer from a batch, as pgx's own: the first row,
// or pgx.ErrNoRows.
type batchRow struct {
	rows pgx.Rows
	err  error
}

func (r *batchRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// failedBatch answers every read of a batch that was never sent with the
// error that stopped it.
type failedBatch struct{ err error }

func (f failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, f.err }
func (f failedBatch) Query() (pgx.Rows, error)         { return nil, f.err }
func (f failedBatch) QueryRow() pgx.Row                { return &batchRow{err: f.err} }
func (f failedBatch) Close() error                     { return f.err }
func (f failedBatch) Tx() pgx.Tx                       { return nil }
