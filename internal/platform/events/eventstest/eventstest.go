// Package eventstest reads a producer's outbox and hands a consumer's sink
// its events, for tests of what a service emits and how it reacts.
package eventstest

import (
	"context"
	"testing"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/events"
)

// Deliver hands envs to sink as their producers' relays would: one
// delivery per producer, each made as that service (see As), and returns
// the events it did not apply.
func Deliver(ctx context.Context, t testing.TB, sink *events.Sink, envs ...*eventsv1.Envelope) []*eventsv1.DeliveryFailure {
	t.Helper()
	var producers []string
	byProducer := map[string][]*eventsv1.Envelope{}
	for _, env := range envs {
		p := env.GetProducer()
		if _, ok := byProducer[p]; !ok {
			producers = append(producers, p)
		}
		byProducer[p] = append(byProducer[p], env)
	}
	var failed []*eventsv1.DeliveryFailure
	for _, p := range producers {
		res, err := sink.Deliver(As(ctx, p), connect.NewRequest(&eventsv1.DeliverRequest{Events: byProducer[p]}))
		if err != nil {
			t.Fatalf("eventstest: deliver %s's events: %v", p, err)
		}
		failed = append(failed, res.Msg.GetFailures()...)
	}
	return failed
}

// As returns ctx carrying service's verified identity, as the auth
// interceptor leaves it for a call the service made.
func As(ctx context.Context, service string) context.Context {
	return auth.WithPrincipal(ctx, auth.Principal{Subject: service, Roles: []auth.Role{auth.RoleService}, Service: service})
}

// Outbox returns the events in the outbox of pool's database, oldest
// first: every event when orderID is "", else those about that order.
func Outbox(ctx context.Context, t testing.TB, pool *pgxpool.Pool, orderID string) []*eventsv1.Envelope {
	t.Helper()
	rows, err := pool.Query(ctx, "SELECT envelope FROM outbox WHERE $1 = '' OR order_id = $1 ORDER BY created_at, id", orderID)
	if err != nil {
		t.Fatalf("eventstest: read the outbox: %v", err)
	}
	defer rows.Close()
	var out []*eventsv1.Envelope
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			t.Fatalf("eventstest: %v", err)
		}
		env := &eventsv1.Envelope{}
		if err := proto.Unmarshal(raw, env); err != nil {
			t.Fatalf("eventstest: an outbox row is not an envelope: %v", err)
		}
		out = append(out, env)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("eventstest: %v", err)
	}
	return out
}
