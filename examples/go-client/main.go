// Command go-client is a whole checkout through the ordermesh Go client
// module, as a project outside this repository writes it: a merchant
// stocks a product, then a customer saves a card, quotes shipping, places
// an order and follows it with WatchOrder until the saga has finished;
// once over Connect (HTTP/1.1 or HTTP/2) and once over gRPC on cleartext
// HTTP/2 (h2c), with a bearer token on every call.
//
// From this folder, with the mesh at ORDERMESH_URL (default
// http://localhost:8080):
//
//	ORDERMESH_MERCHANT_TOKEN=$(make -s -C ../.. token ROLE=merchant USER=mia) \
//	ORDERMESH_CUSTOMER_TOKEN=$(make -s -C ../.. token ROLE=customer USER=cleo) \
//	ORDERMESH_CUSTOMER_ID=cleo go run .
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/gen/go/bearer"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
)

func main() {
	if err := run(context.Background()); err != nil {
		var ce *connect.Error
		if errors.As(err, &ce) {
			fmt.Fprintf(os.Stderr, "go-client: %s: %s\n", ce.Code(), ce.Message())
		} else {
			fmt.Fprintf(os.Stderr, "go-client: %v\n", err)
		}
		os.Exit(1)
	}
}

func env(name string) (string, error) {
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("set %s", name)
}

func run(ctx context.Context) error {
	base := os.Getenv("ORDERMESH_URL")
	if base == "" {
		base = "http://localhost:8080"
	}
	var settings [3]string
	for i, name := range []string{"ORDERMESH_MERCHANT_TOKEN", "ORDERMESH_CUSTOMER_TOKEN", "ORDERMESH_CUSTOMER_ID"} {
		v, err := env(name)
		if err != nil {
			return err
		}
		settings[i] = v
	}
	merchant, customer, userID := bearer.New(settings[0]), bearer.New(settings[1]), settings[2]

	// gRPC needs HTTP/2 end to end; on a plaintext URL that is h2c, with
	// prior knowledge. Connect speaks HTTP/1.1 or HTTP/2, whichever the
	// client has.
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	grpcHTTP := &http.Client{Transport: &http.Transport{Protocols: h2c}}
	connectHTTP := &http.Client{Timeout: 30 * time.Second}

	for _, p := range []struct {
		name string
		http *http.Client
		opts []connect.ClientOption
	}{
		{"connect", connectHTTP, nil},
		{"grpc", grpcHTTP, []connect.ClientOption{connect.WithGRPC()}},
	} {
		asMerchant := append([]connect.ClientOption{connect.WithInterceptors(merchant)}, p.opts...)
		asCustomer := append([]connect.ClientOption{connect.WithInterceptors(customer)}, p.opts...)
		catalog := catalogv1connect.NewCatalogServiceClient(p.http, base, asMerchant...)
		stock := inventoryv1connect.NewInventoryServiceClient(p.http, base, asMerchant...)
		payments := paymentv1connect.NewPaymentServiceClient(p.http, base, asCustomer...)
		orders := orderv1connect.NewOrderServiceClient(p.http, base, asCustomer...)

		order, err := checkout(ctx, p.name, userID, catalog, stock, payments, orders)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Printf("checkout protocol=%s order=%s status=%s\n", p.name, order.GetId(), order.GetStatus())
		if order.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED {
			return fmt.Errorf("%s: order %s ended %s (%s)", p.name, order.GetId(), order.GetStatus(), order.GetReason())
		}
	}
	return nil
}

func checkout(ctx context.Context, protocol, userID string,
	catalog catalogv1connect.CatalogServiceClient, stock inventoryv1connect.InventoryServiceClient,
	payments paymentv1connect.PaymentServiceClient, orders orderv1connect.OrderServiceClient,
) (*orderv1.Order, error) {
	sku := fmt.Sprintf("GO-DRIPPER-%s-%d", protocol, time.Now().UnixNano())
	const price = 3200
	if _, err := catalog.CreateProduct(ctx, connect.NewRequest(&catalogv1.CreateProductRequest{
		Sku: sku, Name: "Ceramic dripper", Category: "brewing", WeightGrams: 400,
		Price: &commonv1.Money{AmountMinor: price, Currency: "EUR"},
	})); err != nil {
		return nil, fmt.Errorf("create product: %w", err)
	}
	if _, err := stock.SetStock(ctx, connect.NewRequest(&inventoryv1.SetStockRequest{Sku: sku, Available: 4})); err != nil {
		return nil, fmt.Errorf("set stock: %w", err)
	}
	card, err := payments.CreatePaymentMethod(ctx, connect.NewRequest(&paymentv1.CreatePaymentMethodRequest{
		UserId: userID, CardNumber: "4242424242424242", ExpMonth: 12, ExpYear: int32(time.Now().Year() + 2), Cvc: "123",
	}))
	if err != nil {
		return nil, fmt.Errorf("save a card: %w", err)
	}
	address := &commonv1.PostalAddress{Recipient: "Alan Turing", Line1: "2 Bletchley Road", City: "Milton Keynes", PostalCode: "MK3 6EB", CountryCode: "GB"}
	lines := []*orderv1.LineRequest{{Sku: sku, Quantity: 1}}
	quote, err := orders.QuoteShipping(ctx, connect.NewRequest(&orderv1.QuoteShippingRequest{ShippingAddress: address, Lines: lines}))
	if err != nil {
		return nil, fmt.Errorf("quote shipping: %w", err)
	}
	placed, err := orders.PlaceOrder(ctx, connect.NewRequest(&orderv1.PlaceOrderRequest{
		UserId:          userID,
		IdempotencyKey:  "go-example-" + sku, // one per checkout attempt: a retry never orders twice
		Source:          &orderv1.PlaceOrderRequest_Lines{Lines: &orderv1.ExplicitLines{Lines: lines}},
		ShippingAddress: address,
		Email:           "alan@example.com",
		PaymentMethodId: card.Msg.GetPaymentMethod().GetId(),
		ExpectedTotal:   &commonv1.Money{AmountMinor: price + quote.Msg.GetAmount().GetAmountMinor(), Currency: "EUR"},
	}))
	if err != nil {
		return nil, fmt.Errorf("place order: %w", err)
	}
	// WatchOrder sends the order now and at every change, and ends when
	// the order is terminal.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	stream, err := orders.WatchOrder(wctx, connect.NewRequest(&orderv1.WatchOrderRequest{OrderId: placed.Msg.GetOrder().GetId()}))
	if err != nil {
		return nil, fmt.Errorf("watch order: %w", err)
	}
	defer stream.Close()
	last := placed.Msg.GetOrder()
	for stream.Receive() {
		last = stream.Msg().GetOrder()
	}
	if err := stream.Err(); err != nil {
		return nil, fmt.Errorf("watch order: %w", err)
	}
	return last, nil
}
