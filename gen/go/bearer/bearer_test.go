package bearer_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/gen/go/bearer"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
)

// orders is an OrderService that answers GetOrder and WatchOrder with
// nothing but the Authorization header it received, in the order's id.
type orders struct {
	orderv1connect.UnimplementedOrderServiceHandler
}

func (orders) GetOrder(_ context.Context, req *connect.Request[orderv1.GetOrderRequest]) (*connect.Response[orderv1.GetOrderResponse], error) {
	return connect.NewResponse(&orderv1.GetOrderResponse{Order: &orderv1.Order{Id: req.Header().Get("Authorization")}}), nil
}

func (orders) WatchOrder(_ context.Context, req *connect.Request[orderv1.WatchOrderRequest], stream *connect.ServerStream[orderv1.WatchOrderResponse]) error {
	return stream.Send(&orderv1.WatchOrderResponse{Order: &orderv1.Order{Id: req.Header().Get("Authorization")}})
}

func TestBearerOnUnaryAndStreams(t *testing.T) {
	_, h := orderv1connect.NewOrderServiceHandler(orders{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, c := range []struct{ token, want string }{{"t0k3n", "Bearer t0k3n"}, {"", ""}} {
		client := orderv1connect.NewOrderServiceClient(srv.Client(), srv.URL, connect.WithInterceptors(bearer.New(c.token)))
		res, err := client.GetOrder(context.Background(), connect.NewRequest(&orderv1.GetOrderRequest{OrderId: "x"}))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Msg.GetOrder().GetId(); got != c.want {
			t.Errorf("unary with token %q sent Authorization %q, want %q", c.token, got, c.want)
		}
		stream, err := client.WatchOrder(context.Background(), connect.NewRequest(&orderv1.WatchOrderRequest{OrderId: "x"}))
		if err != nil {
			t.Fatal(err)
		}
		if !stream.Receive() {
			t.Fatalf("stream: %v", stream.Err())
		}
		if got := stream.Msg().GetOrder().GetId(); got != c.want {
			t.Errorf("stream with token %q sent Authorization %q, want %q", c.token, got, c.want)
		}
		_ = stream.Close()
	}
}
