package db

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
)

// inTraceOnly traces queries that run inside a trace (a request, an event,
// a batch) and skips the rest: relay polls and periodic jobs would
// otherwise start a trace per query, all noise and most of the cost.
//
// It also counts the pool's round trips: every statement sent alone and
// every batch (see deferred), transactions' BEGIN and COMMIT included.
type inTraceOnly struct {
	tracer *otelpgx.Tracer
	trips  *atomic.Int64
}

type tracedKey struct{}

func newTracer(tp trace.TracerProvider) pgx.QueryTracer {
	return inTraceOnly{trips: new(atomic.Int64), tracer: otelpgx.NewTracer(
		otelpgx.WithTracerProvider(tp),
		otelpgx.WithDisableAcquireTracer(),
		otelpgx.WithDisableConnectionDetailsInAttributes(),
		// The sqlc query name says what a span did; the full SQL text on
		// every span was most of the exported bytes.
		otelpgx.WithDisableSQLStatementInAttributes(),
		otelpgx.WithSpanNameFunc(queryName),
	)}
}

// queryName names a span after the sqlc query ("-- name: CommitBatch :one"
// gives "CommitBatch"), or the statement's first word for other SQL.
func queryName(stmt string) string {
	if rest, ok := strings.CutPrefix(strings.TrimSpace(stmt), "-- name: "); ok {
		name, _, _ := strings.Cut(rest, " ")
		return name
	}
	first, _, _ := strings.Cut(strings.TrimSpace(stmt), " ")
	return strings.ToUpper(first)
}

// RoundTrips returns how many round trips to PostgreSQL pool has made, or
// 0 for a pool Open did not make.
func RoundTrips(pool *pgxpool.Pool) int64 {
	if t, ok := pool.Config().ConnConfig.Tracer.(inTraceOnly); ok {
		return t.trips.Load()
	}
	return 0
}

func (t inTraceOnly) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	t.trips.Add(1)
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return context.WithValue(t.tracer.TraceQueryStart(ctx, conn, data), tracedKey{}, true)
}

func (t inTraceOnly) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	if ctx.Value(tracedKey{}) != nil {
		t.tracer.TraceQueryEnd(ctx, conn, data)
	}
}

// A batch (the statements a transaction deferred, see deferred) is traced
// as its queries are, when in a trace.

func (t inTraceOnly) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	t.trips.Add(1)
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return context.WithValue(t.tracer.TraceBatchStart(ctx, conn, data), tracedKey{}, true)
}

func (t inTraceOnly) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	if ctx.Value(tracedKey{}) != nil {
		t.tracer.TraceBatchQuery(ctx, conn, data)
	}
}

func (t inTraceOnly) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchEndData) {
	if ctx.Value(tracedKey{}) != nil {
		t.tracer.TraceBatchEnd(ctx, conn, data)
	}
}
