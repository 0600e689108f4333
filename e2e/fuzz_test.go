package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"unicode/utf8"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
)

// postJSON sends body to procedure over the Connect protocol's JSON
// encoding, as a browser or curl would, and fails the test on a panic
// (the connection breaks), a 5xx or an Internal or Unknown code: bad input
// must get a client error.
func postJSON(t *testing.T, s *shop, procedure, token string, body []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.m.URL+procedure, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.m.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", procedure, err)
	}
	defer func() { _ = res.Body.Close() }()
	raw, _ := io.ReadAll(res.Body)
	var e struct{ Code string }
	_ = json.Unmarshal(raw, &e)
	if res.StatusCode >= 500 || e.Code == "internal" || e.Code == "unknown" {
		t.Fatalf("%s answered %d %s for %q", procedure, res.StatusCode, raw, body)
	}
}

// Any JSON a client sends as a PlaceOrderRequest gets an answer that is
// not a server error: decoding, validation, pricing and the order's own
// checks catch everything.
func FuzzPlaceOrderJSON(f *testing.F) {
	s := newShop(f)
	alice := s.customer(f, "alice", cardOK)
	good, err := json.Marshal(map[string]any{
		"userId": "alice", "idempotencyKey": "fuzz-order-1", "lines": map[string]any{"lines": []any{map[string]any{"sku": "BEAN-1", "quantity": 1}}},
		"shippingAddress": map[string]any{"recipient": "A", "line1": "B", "city": "C", "postalCode": "10115", "countryCode": "DE"},
		"email":           "a@example.com", "paymentMethodId": alice.card, "expectedTotal": map[string]any{"amountMinor": "2040", "currency": "EUR"},
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(good), `{}`, `{"userId":"alice","fromCart":{}}`, `{"lines":{"lines":[{"sku":"\u0000","quantity":-1}]}}`,
		`{"expectedTotal":{"amountMinor":"-1","currency":"eur"}}`, `{"shippingAddress":{"countryCode":"AQ"}}`, `[`, `{"userId":1}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		postJSON(t, s, "/ordermesh.order.v1.OrderService/PlaceOrder", alice.token, body)
	})
}

// The same for AddItemRequest.
func FuzzAddItemJSON(f *testing.F) {
	s := newShop(f)
	alice := s.customer(f, "alice", cardOK)
	for _, seed := range []string{`{"userId":"alice","sku":"BEAN-1","quantity":2}`, `{}`, `{"userId":"alice","sku":"NOPE","quantity":1}`,
		`{"userId":"alice","sku":"BEAN-1","quantity":100000}`, `{"userId":"bob","sku":"BEAN-1","quantity":1}`, `{"sku":"\u0000"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		postJSON(t, s, "/ordermesh.cart.v1.CartService/AddItem", alice.token, body)
	})
}

// Money and PostalAddress, whatever their fields, are validated into a
// client error or accepted: a quote for any address and an order for any
// expected total never fail on the server's side.
func FuzzMoneyAndAddress(f *testing.F) {
	s := newShop(f)
	alice := s.customer(f, "alice", cardOK)
	f.Add(int64(2040), "EUR", "Alice", "1 Road", "Berlin", "10115", "DE")
	f.Add(int64(-1), "eur", "", "", "", "", "")
	f.Add(int64(1<<62), "XXX", "A\x00", "B\n", "C", "1", "AQ")
	f.Fuzz(func(t *testing.T, amount int64, currency, recipient, line1, city, postal, country string) {
		for _, v := range []string{currency, recipient, line1, city, postal, country} {
			if !utf8.ValidString(v) {
				t.Skip("a Protobuf client cannot send a string that is not UTF-8; FuzzPlaceOrderJSON sends raw bytes")
			}
		}
		addr := &commonv1.PostalAddress{Recipient: recipient, Line1: line1, City: city, PostalCode: postal, CountryCode: country}
		_, err := s.orders.QuoteShipping(context.Background(), connect.NewRequest(&orderv1.QuoteShippingRequest{
			ShippingAddress: addr, Lines: []*orderv1.LineRequest{{Sku: "BEAN-1", Quantity: 1}}}))
		if c := connect.CodeOf(err); err != nil && (c == connect.CodeInternal || c == connect.CodeUnknown) {
			t.Fatalf("QuoteShipping(%v) = %v", addr, err)
		}
		_, err = s.orders.PlaceOrder(context.Background(), meshtest.WithToken(&orderv1.PlaceOrderRequest{
			UserId: "alice", IdempotencyKey: "fuzz-money-and-address", Source: lines("BEAN-1", 1), ShippingAddress: addr,
			Email: "a@example.com", PaymentMethodId: alice.card, ExpectedTotal: &commonv1.Money{AmountMinor: amount, Currency: currency},
		}, alice.token))
		if c := connect.CodeOf(err); err != nil && (c == connect.CodeInternal || c == connect.CodeUnknown) {
			t.Fatalf("PlaceOrder with %d %q to %v = %v", amount, currency, addr, err)
		}
	})
}
