package e2e_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
)

// TestConcurrentPlacementsShareBatchesAndKeepTheirAnswers places many
// orders at once, so that they share placement transactions, with some
// idempotency keys sent twice with the same body and some with another:
// each caller gets its own answer, as it would alone. Every distinct key
// places exactly one order, and every order is confirmed.
func TestConcurrentPlacementsShareBatchesAndKeepTheirAnswers(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	dave := s.customer(t, "dave", "4242424242424242")
	const keys = 40
	type call struct {
		key   int
		other bool // another body under the key
	}
	var calls []call
	for k := range keys {
		calls = append(calls, call{key: k}, call{key: k}) // the same request twice
		if k%4 == 0 {
			calls = append(calls, call{key: k, other: true})
		}
	}
	type answer struct {
		call
		id  string
		err error
	}
	answers := make([]answer, len(calls))
	one, two := s.request(t, dave, "DE", lines("BEAN-1", 1)), s.request(t, dave, "DE", lines("BEAN-1", 2))
	var wg sync.WaitGroup
	for i, c := range calls {
		req := proto.CloneOf(one)
		if c.other {
			req = proto.CloneOf(two)
		}
		req.IdempotencyKey = fmt.Sprintf("batched-key-%d", c.key)
		wg.Go(func() {
			res, err := s.orders.PlaceOrder(ctx, meshtest.WithToken(req, dave.token))
			answers[i] = answer{call: c, err: err}
			if err == nil {
				answers[i].id = res.Msg.GetOrder().GetId()
			}
		})
	}
	wg.Wait()
	placed := map[int]string{} // key → the order of the same-body calls
	winner := map[int]bool{}   // key → the other body won the key
	for _, a := range answers {
		if a.err != nil {
			continue
		}
		if a.other {
			winner[a.key] = true
		}
	}
	for _, a := range answers {
		switch {
		case a.err != nil:
			// Only a body that lost its key to another is refused.
			if a.other == winner[a.key] {
				t.Errorf("key %d (other body %v): %v", a.key, a.other, a.err)
				continue
			}
			meshtest.WantCode(t, a.err, connect.CodeAlreadyExists, fmt.Sprintf("batched-key-%d", a.key))
		case a.other:
		default:
			if prev, ok := placed[a.key]; ok && prev != a.id {
				t.Errorf("key %d placed two orders: %s and %s", a.key, prev, a.id)
			}
			placed[a.key] = a.id
		}
	}
	if len(placed)+len(winner) != keys {
		t.Errorf("%d keys placed orders (%d by the other body), want %d", len(placed)+len(winner), len(winner), keys)
	}
	res, err := s.orders.ListOrders(ctx, meshtest.WithToken(&orderv1.ListOrdersRequest{UserId: "dave", PageSize: 100}, dave.token))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Msg.GetOrders()); n != keys {
		t.Errorf("dave has %d orders, want one per key, %d", n, keys)
	}
	for _, id := range placed {
		s.settle(t, dave, id)
	}
	s.m.CheckInvariants(t)
}
