package db_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
)

// sqlc's texts, as its generated code sends them.
const (
	insertNote = "-- name: InsertNote :exec\nINSERT INTO notes (id, body) VALUES ($1, $2)"
	touchNotes = "-- name: TouchNotes :execrows\nUPDATE notes SET body = body || '!' WHERE id <= $1"
	countNotes = "-- name: CountNotes :one\nSELECT count(*) FROM notes"
)

// A transaction of InTx holds its `:exec` statements back and sends them
// in one batch with the next statement that answers, or before the
// commit, in issue order; everything else runs when called.
func TestInTxDefersExecStatements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	pool, err := db.Open(ctx, dbtest.New(t).URL, 2, tp)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL CHECK (body <> 'bad'))"); err != nil {
		t.Fatal(err)
	}
	count := func(t *testing.T) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, countNotes).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("reads see earlier writes, and the commit sends the rest", func(t *testing.T) {
		ctx, root := tp.Tracer("test").Start(ctx, "root")
		trips := db.RoundTrips(pool)
		err := db.InTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			for i := 1; i <= 3; i++ {
				if _, err := tx.Exec(ctx, insertNote, i, "note"); err != nil {
					return err
				}
			}
			var n int
			if err := tx.QueryRow(ctx, countNotes).Scan(&n); err != nil || n != 3 {
				t.Errorf("in the transaction, after 3 inserts: count %d, %v; want 3", n, err)
			}
			tag, err := tx.Exec(ctx, touchNotes, 2)
			if err != nil || tag.RowsAffected() != 2 {
				t.Errorf(":execrows affected %d, %v; want 2 (it must run at once)", tag.RowsAffected(), err)
			}
			_, err = tx.Exec(ctx, insertNote, 4, "last")
			return err // the commit sends it
		})
		root.End()
		if err != nil {
			t.Fatal(err)
		}
		// BEGIN; the inserts with the count; the update; the last insert,
		// sent before COMMIT; COMMIT.
		if got := db.RoundTrips(pool) - trips; got != 5 {
			t.Errorf("the transaction took %d round trips, want 5", got)
		}
		if n := count(t); n != 4 {
			t.Errorf("committed %d notes, want 4", n)
		}
		// The three inserts went as one batch with the count: their spans
		// hang under one batch span, inside the caller's trace.
		var batched []string
		batches := map[string]bool{}
		for _, s := range recorder.Ended() {
			if s.SpanContext().TraceID() == root.SpanContext().TraceID() && strings.Contains(s.Name(), "InsertNote") {
				batched = append(batched, s.Parent().SpanID().String())
				batches[s.Parent().SpanID().String()] = true
			}
		}
		if len(batched) != 4 || len(batches) != 2 || slices.Contains(batched, root.SpanContext().SpanID().String()) {
			t.Errorf("InsertNote spans under parents %v, want 4 under 2 batch spans (3 with the count, 1 at the commit)", batched)
		}
	})

	t.Run("a deferred statement's error fails the transaction and names it", func(t *testing.T) {
		before := count(t)
		reached := false
		err := db.InTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, insertNote, 10, "fine"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, insertNote, 11, "bad"); err != nil {
				return err
			}
			reached = true
			var n int
			return tx.QueryRow(ctx, countNotes).Scan(&n)
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23514" || !strings.Contains(err.Error(), "InsertNote") {
			t.Errorf("err = %v, want the check violation, naming InsertNote", err)
		}
		if !reached {
			t.Error("the failing insert was not deferred")
		}
		if n := count(t); n != before {
			t.Errorf("%d notes after a failed transaction, want %d: nothing of it may stay", n, before)
		}
	})

	t.Run("an error at the commit rolls back", func(t *testing.T) {
		before := count(t)
		err := db.InTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, insertNote, 20, "bad")
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "InsertNote") {
			t.Errorf("err = %v, want the check violation at the commit", err)
		}
		if n := count(t); n != before {
			t.Errorf("%d notes, want %d", n, before)
		}
	})

	t.Run("a savepoint that fails takes only its own writes", func(t *testing.T) {
		before := count(t)
		err := db.InTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, insertNote, 30, "kept"); err != nil {
				return err
			}
			nested := db.InTx(ctx, tx, func(ctx context.Context, sp pgx.Tx) error {
				if _, err := sp.Exec(ctx, insertNote, 31, "dropped"); err != nil {
					return err
				}
				_, err := sp.Exec(ctx, insertNote, 32, "bad")
				return err
			})
			if nested == nil {
				t.Error("the savepoint's bad insert did not fail it")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int32
		rows, err := pool.Query(ctx, "SELECT id FROM notes WHERE id >= 30 ORDER BY id")
		if err == nil {
			ids, err = pgx.CollectRows(rows, pgx.RowTo[int32])
		}
		if err != nil || !slices.Equal(ids, []int32{30}) || count(t) != before+1 {
			t.Errorf("notes from 30 on: %v (%v), want [30]", ids, err)
		}
	})

	t.Run("a query with no rows and a failing query after deferred writes", func(t *testing.T) {
		err := db.InTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, insertNote, 40, "x"); err != nil {
				return err
			}
			var body string
			if err := tx.QueryRow(ctx, "SELECT body FROM notes WHERE id = -1").Scan(&body); !errors.Is(err, pgx.ErrNoRows) {
				t.Errorf("no row: %v, want pgx.ErrNoRows", err)
			}
			if _, err := tx.Exec(ctx, insertNote, 41, "x"); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "SELECT no_such_column FROM notes")
			if err == nil {
				rows.Close()
			}
			return err
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42703" {
			t.Errorf("err = %v, want undefined_column", err)
		}
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM notes WHERE id IN (40, 41)").Scan(&n); err != nil || n != 0 {
			t.Errorf("%d of the failed transaction's notes stayed (%v)", n, err)
		}
	})
}
