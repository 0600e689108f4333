package cart_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1/cartv1connect"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

type env struct {
	m        *meshtest.Mesh
	merchant string
	alice    string
	bob      string
	service  string
}

// start runs Catalog and Cart and stocks the catalog: TEA-1 at 3.50 EUR,
// MUG-1 at 12.00 EUR, USD-1 priced in dollars and OLD-1 archived.
func start(t *testing.T) env {
	t.Helper()
	m := meshtest.Start(t, []string{"catalog", "cart"})
	e := env{
		m:        m,
		merchant: m.Token(t, "mia", auth.RoleMerchant),
		alice:    m.Token(t, "alice", auth.RoleCustomer),
		bob:      m.Token(t, "bob", auth.RoleCustomer),
		service:  m.Token(t, "order", auth.RoleService),
	}
	cat := catalogv1connect.NewCatalogServiceClient(m.HTTP, m.URL)
	for _, p := range []struct {
		sku, name, cur string
		price          int64
	}{{"TEA-1", "Sencha", "EUR", 350}, {"MUG-1", "Mug", "EUR", 1200}, {"USD-1", "Import", "USD", 999}, {"OLD-1", "Old", "EUR", 100}} {
		_, err := cat.CreateProduct(context.Background(), meshtest.WithToken(&catalogv1.CreateProductRequest{
			Sku: p.sku, Name: p.name, Category: "shop", WeightGrams: 100,
			Price: &commonv1.Money{AmountMinor: p.price, Currency: p.cur},
		}, e.merchant))
		if err != nil {
			t.Fatalf("CreateProduct(%s): %v", p.sku, err)
		}
	}
	if _, err := cat.ArchiveProduct(context.Background(), meshtest.WithToken(&catalogv1.ArchiveProductRequest{Sku: "OLD-1"}, e.merchant)); err != nil {
		t.Fatalf("ArchiveProduct: %v", err)
	}
	return e
}

func (e env) client(opts ...connect.ClientOption) cartv1connect.CartServiceClient {
	return cartv1connect.NewCartServiceClient(e.m.HTTP, e.m.URL, opts...)
}

// summary renders a cart as "SKU×qty=total ... total=T" for comparisons.
func summary(c *cartv1.Cart) string {
	var parts []string
	for _, l := range c.GetLines() {
		s := fmt.Sprintf("%s×%d", l.GetSku(), l.GetQuantity())
		if l.GetAvailable() {
			s += fmt.Sprintf("=%d", l.GetLineTotal().GetAmountMinor())
		} else {
			s += "=unavailable"
		}
		parts = append(parts, s)
	}
	if c.GetTotal() != nil {
		parts = append(parts, fmt.Sprintf("total=%d %s", c.GetTotal().GetAmountMinor(), c.GetTotal().GetCurrency()))
	}
	return strings.Join(parts, " ")
}

func TestCartLifecycle(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	for _, p := range meshtest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			c := e.client(p.Opts...)
			user := "alice"
			tok := e.alice
			if p.Name != "connect" { // a fresh cart per protocol
				user, tok = "alice-"+p.Name, e.m.Token(t, "alice-"+p.Name, auth.RoleCustomer)
			}
			empty, err := c.GetCart(ctx, meshtest.WithToken(&cartv1.GetCartRequest{UserId: user}, tok))
			if err != nil {
				t.Fatalf("GetCart: %v", err)
			}
			if len(empty.Msg.GetCart().GetLines()) != 0 || empty.Msg.GetCart().GetTotal() != nil || empty.Msg.GetCart().GetVersion() != 0 {
				t.Errorf("new cart = %v, want empty with no total", empty.Msg.GetCart())
			}
			steps := []struct {
				name string
				call func() (*cartv1.Cart, error)
				want string
			}{
				{"add tea", func() (*cartv1.Cart, error) {
					r, err := c.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: user, Sku: "TEA-1", Quantity: 2}, tok))
					return r.Msg.GetCart(), err
				}, "TEA-1×2=700 total=700 EUR"},
				{"add mug", func() (*cartv1.Cart, error) {
					r, err := c.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: user, Sku: "MUG-1", Quantity: 1}, tok))
					return r.Msg.GetCart(), err
				}, "TEA-1×2=700 MUG-1×1=1200 total=1900 EUR"},
				{"add more tea", func() (*cartv1.Cart, error) {
					r, err := c.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: user, Sku: "TEA-1", Quantity: 3}, tok))
					return r.Msg.GetCart(), err
				}, "TEA-1×5=1750 MUG-1×1=1200 total=2950 EUR"},
				{"update mug", func() (*cartv1.Cart, error) {
					r, err := c.UpdateItem(ctx, meshtest.WithToken(&cartv1.UpdateItemRequest{UserId: user, Sku: "MUG-1", Quantity: 4}, tok))
					return r.Msg.GetCart(), err
				}, "TEA-1×5=1750 MUG-1×4=4800 total=6550 EUR"},
				{"remove tea", func() (*cartv1.Cart, error) {
					r, err := c.RemoveItem(ctx, meshtest.WithToken(&cartv1.RemoveItemRequest{UserId: user, Sku: "TEA-1"}, tok))
					return r.Msg.GetCart(), err
				}, "MUG-1×4=4800 total=4800 EUR"},
				{"get", func() (*cartv1.Cart, error) {
					r, err := c.GetCart(ctx, meshtest.WithToken(&cartv1.GetCartRequest{UserId: user}, tok))
					return r.Msg.GetCart(), err
				}, "MUG-1×4=4800 total=4800 EUR"},
				{"clear", func() (*cartv1.Cart, error) {
					r, err := c.ClearCart(ctx, meshtest.WithToken(&cartv1.ClearCartRequest{UserId: user}, tok))
					return r.Msg.GetCart(), err
				}, ""},
			}
			var version int64
			for _, s := range steps {
				got, err := s.call()
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if diff := cmp.Diff(s.want, summary(got)); diff != "" {
					t.Errorf("%s: cart (-want +got):\n%s", s.name, diff)
				}
				if got.GetVersion() < version {
					t.Errorf("%s: version went back from %d to %d", s.name, version, got.GetVersion())
				}
				version = got.GetVersion()
			}
			if version != 6 {
				t.Errorf("version after 6 changes = %d, want 6", version)
			}
		})
	}
}

func TestCartErrors(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	c := e.client()
	if _, err := c.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: "alice", Sku: "TEA-1", Quantity: 990}, e.alice)); err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	add := func(user, sku string, q int32) *cartv1.AddItemRequest {
		return &cartv1.AddItemRequest{UserId: user, Sku: sku, Quantity: q}
	}
	for _, tc := range []struct {
		name     string
		call     func(cartv1connect.CartServiceClient) error
		code     connect.Code
		contains string
	}{
		{"unknown product", func(c cartv1connect.CartServiceClient) error {
			_, err := c.AddItem(ctx, meshtest.WithToken(add("alice", "NOPE-1", 1), e.alice))
			return err
		}, connect.CodeNotFound, `"NOPE-1" does not exist`},
		{"archived product", func(c cartv1connect.CartServiceClient) error {
			_, err := c.AddItem(ctx, meshtest.WithToken(add("alice", "OLD-1", 1), e.alice))
			return err
		}, connect.CodeFailedPrecondition, "archived"},
		{"other currency", func(c cartv1connect.CartServiceClient) error {
			_, err := c.AddItem(ctx, meshtest.WithToken(add("alice", "USD-1", 1), e.alice))
			return err
		}, connect.CodeFailedPrecondition, "USD"},
		{"line over 999", func(c cartv1connect.CartServiceClient) error {
			_, err := c.AddItem(ctx, meshtest.WithToken(add("alice", "TEA-1", 10), e.alice))
			return err
		}, connect.CodeFailedPrecondition, "999"},
		{"zero quantity", func(c cartv1connect.CartServiceClient) error {
			_, err := c.AddItem(ctx, meshtest.WithToken(add("alice", "TEA-1", 0), e.alice))
			return err
		}, connect.CodeInvalidArgument, "quantity"},
		{"quantity too large", func(c cartv1connect.CartServiceClient) error {
			_, err := c.UpdateItem(ctx, meshtest.WithToken(&cartv1.UpdateItemRequest{UserId: "alice", Sku: "TEA-1", Quantity: 1000}, e.alice))
			return err
		}, connect.CodeInvalidArgument, "quantity"},
		{"missing user", func(c cartv1connect.CartServiceClient) error {
			_, err := c.GetCart(ctx, meshtest.WithToken(&cartv1.GetCartRequest{}, e.alice))
			return err
		}, connect.CodeInvalidArgument, "user_id"},
		{"update line not in cart", func(c cartv1connect.CartServiceClient) error {
			_, err := c.UpdateItem(ctx, meshtest.WithToken(&cartv1.UpdateItemRequest{UserId: "alice", Sku: "MUG-1", Quantity: 1}, e.alice))
			return err
		}, connect.CodeNotFound, "not in the cart"},
		{"update archived product", func(c cartv1connect.CartServiceClient) error {
			_, err := c.UpdateItem(ctx, meshtest.WithToken(&cartv1.UpdateItemRequest{UserId: "alice", Sku: "OLD-1", Quantity: 1}, e.alice))
			return err
		}, connect.CodeFailedPrecondition, "archived"},
		{"remove line not in cart", func(c cartv1connect.CartServiceClient) error {
			_, err := c.RemoveItem(ctx, meshtest.WithToken(&cartv1.RemoveItemRequest{UserId: "alice", Sku: "MUG-1"}, e.alice))
			return err
		}, connect.CodeNotFound, "not in the cart"},
	} {
		for _, p := range meshtest.Protocols {
			t.Run(tc.name+"/"+p.Name, func(t *testing.T) {
				meshtest.WantCode(t, tc.call(e.client(p.Opts...)), tc.code, tc.contains)
			})
		}
	}
	// The refused calls changed nothing.
	got, err := c.GetCart(ctx, meshtest.WithToken(&cartv1.GetCartRequest{UserId: "alice"}, e.alice))
	if err != nil {
		t.Fatalf("GetCart: %v", err)
	}
	if diff := cmp.Diff("TEA-1×990=346500 total=346500 EUR", summary(got.Msg.GetCart())); diff != "" {
		t.Errorf("cart after refused calls (-want +got):\n%s", diff)
	}
}

func TestCartAuthorization(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	calls := map[string]func(c cartv1connect.CartServiceClient, token string) error{
		"GetCart": func(c cartv1connect.CartServiceClient, tok string) error {
			_, err := c.GetCart(ctx, meshtest.WithToken(&cartv1.GetCartRequest{UserId: "alice"}, tok))
			return err
		},
		"AddItem": func(c cartv1connect.CartServiceClient, tok string) error {
			_, err := c.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: "alice", Sku: "TEA-1", Quantity: 1}, tok))
			return err
		},
		"UpdateItem": func(c cartv1connect.CartServiceClient, tok string) error {
			_, err := c.UpdateItem(ctx, meshtest.WithToken(&cartv1.UpdateItemRequest{UserId: "alice", Sku: "TEA-1", Quantity: 1}, tok))
			return err
		},
		"RemoveItem": func(c cartv1connect.CartServiceClient, tok string) error {
			_, err := c.RemoveItem(ctx, meshtest.WithToken(&cartv1.RemoveItemRequest{UserId: "alice", Sku: "TEA-1"}, tok))
			return err
		},
		"ClearCart": func(c cartv1connect.CartServiceClient, tok string) error {
			_, err := c.ClearCart(ctx, meshtest.WithToken(&cartv1.ClearCartRequest{UserId: "alice"}, tok))
			return err
		},
	}
	expired, err := auth.Mint(e.m.Config.Auth, "alice", []auth.Role{auth.RoleCustomer}, -2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	otherIssuer := e.m.Config.Auth
	otherIssuer.Issuer = "someone-else"
	foreign, err := auth.Mint(otherIssuer, "alice", []auth.Role{auth.RoleCustomer}, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range calls {
		for _, p := range meshtest.Protocols {
			t.Run(name+"/"+p.Name, func(t *testing.T) {
				c := e.client(p.Opts...)
				meshtest.WantCode(t, call(c, ""), connect.CodeUnauthenticated, "bearer token")
				meshtest.WantCode(t, call(c, expired), connect.CodeUnauthenticated, "expired")
				meshtest.WantCode(t, call(c, foreign), connect.CodeUnauthenticated, "issuer")
				meshtest.WantCode(t, call(c, e.bob), connect.CodePermissionDenied, `"bob" may not act on behalf of user "alice"`)
				meshtest.WantCode(t, call(c, e.merchant), connect.CodePermissionDenied, "customer or service")
			})
		}
	}
	// The service role may act for any user (Order clears carts on confirm).
	if err := calls["AddItem"](e.client(), e.service); err != nil {
		t.Errorf("AddItem with a service token: %v", err)
	}
	if err := calls["GetCart"](e.client(), e.alice); err != nil {
		t.Errorf("GetCart by the owner: %v", err)
	}
}

func TestConcurrentChangesLoseNothing(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			c := e.client(meshtest.Protocols[w%len(meshtest.Protocols)].Opts...)
			sku := []string{"TEA-1", "MUG-1"}[w%2]
			for range each {
				if _, err := c.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: "alice", Sku: sku, Quantity: 1}, e.alice)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent AddItem: %v", err)
	}
	got, err := e.client().GetCart(ctx, meshtest.WithToken(&cartv1.GetCartRequest{UserId: "alice"}, e.alice))
	if err != nil {
		t.Fatalf("GetCart: %v", err)
	}
	half := int64(workers / 2 * each)
	want := fmt.Sprintf("TEA-1×%d=%d MUG-1×%d=%d total=%d EUR", half, half*350, half, half*1200, half*1550)
	if s := summary(got.Msg.GetCart()); s != want && s != reorder(want) {
		t.Errorf("cart after %d concurrent adds = %q, want %q (in either line order)", workers*each, s, want)
	}
	if v := got.Msg.GetCart().GetVersion(); v != workers*each {
		t.Errorf("version = %d, want %d: one per change", v, workers*each)
	}
}

// reorder swaps the two lines of a two-line summary.
func reorder(s string) string {
	f := strings.Fields(s)
	return strings.Join(append([]string{f[1], f[0]}, f[2:]...), " ")
}

func TestPricesComeFromCatalog(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	c := e.client()
	cat := catalogv1connect.NewCatalogServiceClient(e.m.HTTP, e.m.URL)
	if _, err := c.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: "alice", Sku: "TEA-1", Quantity: 2}, e.alice)); err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	if _, err := c.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: "alice", Sku: "MUG-1", Quantity: 1}, e.alice)); err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	if _, err := cat.UpdateProduct(ctx, meshtest.WithToken(&catalogv1.UpdateProductRequest{Sku: "TEA-1", Price: &commonv1.Money{AmountMinor: 400, Currency: "EUR"}}, e.merchant)); err != nil {
		t.Fatalf("UpdateProduct: %v", err)
	}
	if _, err := cat.ArchiveProduct(ctx, meshtest.WithToken(&catalogv1.ArchiveProductRequest{Sku: "MUG-1"}, e.merchant)); err != nil {
		t.Fatalf("ArchiveProduct: %v", err)
	}
	got, err := c.GetCart(ctx, meshtest.WithToken(&cartv1.GetCartRequest{UserId: "alice"}, e.alice))
	if err != nil {
		t.Fatalf("GetCart: %v", err)
	}
	if diff := cmp.Diff("TEA-1×2=800 MUG-1×1=unavailable total=800 EUR", summary(got.Msg.GetCart())); diff != "" {
		t.Errorf("cart after a price change and an archive (-want +got):\n%s", diff)
	}
	if n := got.Msg.GetCart().GetItemCount(); n != 2 {
		t.Errorf("item count = %d, want 2 (the archived line does not count)", n)
	}
}

func TestCatalogDownIsUnavailable(t *testing.T) {
	t.Parallel()
	// Cart alone, pointed at a Catalog that is not there.
	m := meshtest.Start(t, []string{"cart"}, func(c *mesh.Config) { c.Endpoints.Catalog = "http://127.0.0.1:1" })
	c := cartv1connect.NewCartServiceClient(m.HTTP, m.URL)
	_, err := c.AddItem(context.Background(), meshtest.WithToken(&cartv1.AddItemRequest{UserId: "alice", Sku: "TEA-1", Quantity: 1}, m.Token(t, "alice", auth.RoleCustomer)))
	meshtest.WantCode(t, err, connect.CodeUnavailable, "catalog is unavailable")
}
