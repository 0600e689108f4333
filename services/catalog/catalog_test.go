package catalog_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

// env is one running Catalog with its tokens.
type env struct {
	m        *meshtest.Mesh
	merchant string
	customer string
}

func start(t *testing.T) env {
	t.Helper()
	m := meshtest.Start(t, []string{"catalog"})
	return env{m: m, merchant: m.Token(t, "mia", auth.RoleMerchant), customer: m.Token(t, "cleo", auth.RoleCustomer)}
}

func (e env) client(opts ...connect.ClientOption) catalogv1connect.CatalogServiceClient {
	return catalogv1connect.NewCatalogServiceClient(e.m.HTTP, e.m.URL, opts...)
}

func product(sku, name, category string, price int64) *catalogv1.CreateProductRequest {
	return &catalogv1.CreateProductRequest{
		Sku: sku, Name: name, Category: category, WeightGrams: 250,
		Description: "Freshly roasted " + strings.ToLower(name),
		Price:       &commonv1.Money{AmountMinor: price, Currency: "EUR"},
		Attributes:  map[string]string{"origin": "Ethiopia"},
	}
}

func (e env) create(t *testing.T, c catalogv1connect.CatalogServiceClient, req *catalogv1.CreateProductRequest) *catalogv1.Product {
	t.Helper()
	res, err := c.CreateProduct(context.Background(), meshtest.WithToken(req, e.merchant))
	if err != nil {
		t.Fatalf("CreateProduct(%s): %v", req.GetSku(), err)
	}
	return res.Msg.GetProduct()
}

func TestCreateAndGet(t *testing.T) {
	t.Parallel()
	e := start(t)
	for _, p := range meshtest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			c := e.client(p.Opts...)
			ctx := context.Background()
			sku := "BEAN-" + p.Name
			created := e.create(t, c, product(sku, "Yirgacheffe Beans", "coffee-beans", 1450))
			if created.GetState() != catalogv1.ProductState_PRODUCT_STATE_ACTIVE || created.GetCreateTime() == nil {
				t.Errorf("created product = %v, want ACTIVE with a create time", created)
			}
			got, err := c.GetProduct(ctx, connect.NewRequest(&catalogv1.GetProductRequest{Sku: sku}))
			if err != nil {
				t.Fatalf("GetProduct: %v", err)
			}
			if diff := cmp.Diff(created, got.Msg.GetProduct(), cmpProto()); diff != "" {
				t.Errorf("GetProduct differs from CreateProduct (-create +get):\n%s", diff)
			}
		})
	}
}

func cmpProto() cmp.Option {
	return cmp.Comparer(proto.Equal)
}

func TestCreateErrors(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.create(t, e.client(), product("TAKEN-1", "Taken", "tea", 100))
	bad := func(mut func(*catalogv1.CreateProductRequest)) *catalogv1.CreateProductRequest {
		r := product("NEW-1", "New", "tea", 100)
		mut(r)
		return r
	}
	invalidToken := e.m.Token(t, "mia", auth.RoleMerchant) + "x"
	for _, tc := range []struct {
		name     string
		req      *catalogv1.CreateProductRequest
		token    string
		code     connect.Code
		contains string
	}{
		{"duplicate sku", product("TAKEN-1", "Again", "tea", 1), e.merchant, connect.CodeAlreadyExists, `"TAKEN-1"`},
		{"bad sku", bad(func(r *catalogv1.CreateProductRequest) { r.Sku = "no spaces" }), e.merchant, connect.CodeInvalidArgument, "sku"},
		{"empty name", bad(func(r *catalogv1.CreateProductRequest) { r.Name = "" }), e.merchant, connect.CodeInvalidArgument, "name"},
		{"no price", bad(func(r *catalogv1.CreateProductRequest) { r.Price = nil }), e.merchant, connect.CodeInvalidArgument, "price"},
		{"negative price", bad(func(r *catalogv1.CreateProductRequest) { r.Price.AmountMinor = -1 }), e.merchant, connect.CodeInvalidArgument, "price.amount_minor"},
		{"lowercase currency", bad(func(r *catalogv1.CreateProductRequest) { r.Price.Currency = "eur" }), e.merchant, connect.CodeInvalidArgument, "price.currency"},
		{"unknown currency", bad(func(r *catalogv1.CreateProductRequest) { r.Price.Currency = "XYZ" }), e.merchant, connect.CodeInvalidArgument, "ISO 4217"},
		{"bad category", bad(func(r *catalogv1.CreateProductRequest) { r.Category = "Tea Leaves" }), e.merchant, connect.CodeInvalidArgument, "category"},
		{"bad image url", bad(func(r *catalogv1.CreateProductRequest) { r.ImageUrl = "ftp://x/y.png" }), e.merchant, connect.CodeInvalidArgument, "image_url"},
		{"zero weight", bad(func(r *catalogv1.CreateProductRequest) { r.WeightGrams = 0 }), e.merchant, connect.CodeInvalidArgument, "weight_grams"},
		{"no token", product("NEW-2", "New", "tea", 1), "", connect.CodeUnauthenticated, "bearer token"},
		{"invalid token", product("NEW-3", "New", "tea", 1), invalidToken, connect.CodeUnauthenticated, "not valid"},
		{"customer token", product("NEW-4", "New", "tea", 1), e.customer, connect.CodePermissionDenied, "merchant"},
	} {
		for _, p := range meshtest.Protocols {
			t.Run(tc.name+"/"+p.Name, func(t *testing.T) {
				_, err := e.client(p.Opts...).CreateProduct(context.Background(), meshtest.WithToken(tc.req, tc.token))
				meshtest.WantCode(t, err, tc.code, tc.contains)
			})
		}
	}
	// Nothing half-written: the refused SKUs do not exist.
	for _, sku := range []string{"NEW-1", "NEW-2", "NEW-3", "NEW-4"} {
		_, err := e.client().GetProduct(context.Background(), connect.NewRequest(&catalogv1.GetProductRequest{Sku: sku}))
		meshtest.WantCode(t, err, connect.CodeNotFound, sku)
	}
}

func TestGetAndBatchGet(t *testing.T) {
	t.Parallel()
	e := start(t)
	c := e.client()
	ctx := context.Background()
	for _, sku := range []string{"A-1", "B-2", "C-3"} {
		e.create(t, c, product(sku, "Item "+sku, "misc", 100))
	}
	if _, err := c.ArchiveProduct(ctx, meshtest.WithToken(&catalogv1.ArchiveProductRequest{Sku: "C-3"}, e.merchant)); err != nil {
		t.Fatalf("ArchiveProduct: %v", err)
	}
	for _, p := range meshtest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			c := e.client(p.Opts...)
			_, err := c.GetProduct(ctx, connect.NewRequest(&catalogv1.GetProductRequest{Sku: "NOPE-1"}))
			meshtest.WantCode(t, err, connect.CodeNotFound, `"NOPE-1"`)
			_, err = c.GetProduct(ctx, connect.NewRequest(&catalogv1.GetProductRequest{Sku: ""}))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "sku")

			res, err := c.BatchGetProducts(ctx, connect.NewRequest(&catalogv1.BatchGetProductsRequest{Skus: []string{"C-3", "X-9", "A-1"}}))
			if err != nil {
				t.Fatalf("BatchGetProducts: %v", err)
			}
			var got []string
			for _, p := range res.Msg.GetProducts() {
				got = append(got, p.GetSku()+":"+p.GetState().String())
			}
			want := []string{"C-3:PRODUCT_STATE_ARCHIVED", "A-1:PRODUCT_STATE_ACTIVE"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("BatchGetProducts products (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"X-9"}, res.Msg.GetMissingSkus()); diff != "" {
				t.Errorf("BatchGetProducts missing (-want +got):\n%s", diff)
			}
			_, err = c.BatchGetProducts(ctx, connect.NewRequest(&catalogv1.BatchGetProductsRequest{Skus: []string{"A-1", "A-1"}}))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "skus")
			_, err = c.BatchGetProducts(ctx, connect.NewRequest(&catalogv1.BatchGetProductsRequest{}))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "skus")
		})
	}
}

func TestReadsWorkOverHTTPGet(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.create(t, e.client(), product("GET-1", "Gettable", "misc", 100))
	c := e.client(connect.WithHTTPGet())
	res, err := c.GetProduct(context.Background(), connect.NewRequest(&catalogv1.GetProductRequest{Sku: "GET-1"}))
	if err != nil {
		t.Fatalf("GetProduct over GET: %v", err)
	}
	if res.Msg.GetProduct().GetName() != "Gettable" {
		t.Errorf("GetProduct over GET = %v", res.Msg.GetProduct())
	}
	// A plain browser-style GET with the message in the query string.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet,
		e.m.URL+"/ordermesh.catalog.v1.CatalogService/ListProducts?encoding=json&message=%7B%7D", nil)
	httpRes, err := e.m.HTTP.Do(req)
	if err != nil {
		t.Fatalf("plain GET: %v", err)
	}
	defer func() { _ = httpRes.Body.Close() }()
	body, _ := io.ReadAll(httpRes.Body)
	if httpRes.StatusCode != http.StatusOK || !strings.Contains(string(body), `"GET-1"`) {
		t.Errorf("plain GET = %d %s, want 200 listing GET-1", httpRes.StatusCode, body)
	}
}

func TestListPaginatesAndFilters(t *testing.T) {
	t.Parallel()
	e := start(t)
	c := e.client()
	ctx := context.Background()
	var want []string
	for i := range 7 {
		sku := fmt.Sprintf("TEA-%02d", i)
		e.create(t, c, product(sku, "Tea "+sku, "tea", 300))
		want = append(want, sku)
	}
	e.create(t, c, product("MUG-1", "Mug", "mugs", 900))
	e.create(t, c, product("TEA-99", "Gone tea", "tea", 300))
	if _, err := c.ArchiveProduct(ctx, meshtest.WithToken(&catalogv1.ArchiveProductRequest{Sku: "TEA-99"}, e.merchant)); err != nil {
		t.Fatalf("ArchiveProduct: %v", err)
	}
	for _, p := range meshtest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			c := e.client(p.Opts...)
			var got []string
			token := ""
			pages := 0
			for {
				res, err := c.ListProducts(ctx, connect.NewRequest(&catalogv1.ListProductsRequest{Category: "tea", PageSize: 3, PageToken: token}))
				if err != nil {
					t.Fatalf("ListProducts: %v", err)
				}
				pages++
				for _, p := range res.Msg.GetProducts() {
					got = append(got, p.GetSku())
				}
				if token = res.Msg.GetNextPageToken(); token == "" {
					break
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("listed tea (-want +got):\n%s", diff)
			}
			if pages != 3 {
				t.Errorf("pages = %d, want 3 for 7 products at 3 a page", pages)
			}
			all, err := c.ListProducts(ctx, connect.NewRequest(&catalogv1.ListProductsRequest{}))
			if err != nil {
				t.Fatalf("ListProducts: %v", err)
			}
			if n := len(all.Msg.GetProducts()); n != 8 {
				t.Errorf("unfiltered list has %d products, want 8 (archived excluded)", n)
			}
			_, err = c.ListProducts(ctx, connect.NewRequest(&catalogv1.ListProductsRequest{PageToken: "garbage"}))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "page_token")
			first, _ := c.ListProducts(ctx, connect.NewRequest(&catalogv1.ListProductsRequest{Category: "tea", PageSize: 1}))
			_, err = c.ListProducts(ctx, connect.NewRequest(&catalogv1.ListProductsRequest{Category: "mugs", PageToken: first.Msg.GetNextPageToken()}))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "page_token")
			_, err = c.ListProducts(ctx, connect.NewRequest(&catalogv1.ListProductsRequest{PageSize: 101}))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "page_size")

			cats, err := c.ListCategories(ctx, connect.NewRequest(&catalogv1.ListCategoriesRequest{}))
			if err != nil {
				t.Fatalf("ListCategories: %v", err)
			}
			gotCats := map[string]int64{}
			for _, cat := range cats.Msg.GetCategories() {
				gotCats[cat.GetSlug()] = cat.GetProductCount()
			}
			if diff := cmp.Diff(map[string]int64{"tea": 7, "mugs": 1}, gotCats); diff != "" {
				t.Errorf("categories (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSearchRanksAndPaginates(t *testing.T) {
	t.Parallel()
	e := start(t)
	c := e.client()
	ctx := context.Background()
	mk := func(sku, name, desc, category string) {
		r := product(sku, name, category, 500)
		r.Description = desc
		e.create(t, c, r)
	}
	mk("ESP-1", "Espresso Roast", "Dark and bold", "coffee-beans")
	mk("FLT-1", "Filter Roast", "Light, great for espresso lovers who like filter", "coffee-beans")
	mk("GRN-1", "Green Tea", "Grassy sencha", "tea")
	mk("ESP-2", "Espresso Cup", "Porcelain espresso cup, espresso sized", "mugs")
	mk("ESP-OLD", "Espresso Old", "Retired espresso blend", "coffee-beans")
	if _, err := c.ArchiveProduct(ctx, meshtest.WithToken(&catalogv1.ArchiveProductRequest{Sku: "ESP-OLD"}, e.merchant)); err != nil {
		t.Fatalf("ArchiveProduct: %v", err)
	}
	for _, p := range meshtest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			c := e.client(p.Opts...)
			var got []string
			token := ""
			for {
				res, err := c.SearchProducts(ctx, connect.NewRequest(&catalogv1.SearchProductsRequest{Query: "espresso", PageSize: 2, PageToken: token}))
				if err != nil {
					t.Fatalf("SearchProducts: %v", err)
				}
				for _, p := range res.Msg.GetProducts() {
					got = append(got, p.GetSku())
				}
				if token = res.Msg.GetNextPageToken(); token == "" {
					break
				}
			}
			if len(got) != 3 || got[2] != "FLT-1" {
				t.Errorf("search espresso = %v, want ESP-1 and ESP-2 (name matches) before FLT-1 (description), archived excluded", got)
			}
			seen := map[string]bool{}
			for _, s := range got {
				if seen[s] {
					t.Errorf("product %s returned twice across pages: %v", s, got)
				}
				seen[s] = true
			}
			res, err := c.SearchProducts(ctx, connect.NewRequest(&catalogv1.SearchProductsRequest{Query: "espresso", Category: "mugs"}))
			if err != nil {
				t.Fatalf("SearchProducts: %v", err)
			}
			if len(res.Msg.GetProducts()) != 1 || res.Msg.GetProducts()[0].GetSku() != "ESP-2" {
				t.Errorf("search espresso in mugs = %v, want ESP-2", res.Msg.GetProducts())
			}
			res, err = c.SearchProducts(ctx, connect.NewRequest(&catalogv1.SearchProductsRequest{Query: "ethiopia -espresso"}))
			if err != nil {
				t.Fatalf("SearchProducts: %v", err)
			}
			if len(res.Msg.GetProducts()) != 1 || res.Msg.GetProducts()[0].GetSku() != "GRN-1" {
				t.Errorf(`search "ethiopia -espresso" (attribute match, negation) = %v, want GRN-1`, res.Msg.GetProducts())
			}
			_, err = c.SearchProducts(ctx, connect.NewRequest(&catalogv1.SearchProductsRequest{Query: ""}))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "query")
		})
	}
}

func TestUpdateAndArchive(t *testing.T) {
	t.Parallel()
	e := start(t)
	c := e.client()
	ctx := context.Background()
	e.create(t, c, product("UPD-1", "Before", "tea", 100))
	for _, p := range meshtest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			c := e.client(p.Opts...)
			name := "After " + p.Name
			res, err := c.UpdateProduct(ctx, meshtest.WithToken(&catalogv1.UpdateProductRequest{
				Sku: "UPD-1", Name: &name,
				Price:      &commonv1.Money{AmountMinor: 250, Currency: "EUR"},
				Attributes: &catalogv1.Attributes{Values: map[string]string{"grade": "A"}},
			}, e.merchant))
			if err != nil {
				t.Fatalf("UpdateProduct: %v", err)
			}
			got := res.Msg.GetProduct()
			if got.GetName() != name || got.GetPrice().GetAmountMinor() != 250 || got.GetCategory() != "tea" ||
				!cmp.Equal(got.GetAttributes(), map[string]string{"grade": "A"}) {
				t.Errorf("updated product = %v, want new name, price and attributes and the old category", got)
			}
			_, err = c.UpdateProduct(ctx, meshtest.WithToken(&catalogv1.UpdateProductRequest{Sku: "NOPE-1", Name: &name}, e.merchant))
			meshtest.WantCode(t, err, connect.CodeNotFound, "NOPE-1")
			empty := ""
			_, err = c.UpdateProduct(ctx, meshtest.WithToken(&catalogv1.UpdateProductRequest{Sku: "UPD-1", Name: &empty}, e.merchant))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "name")
			_, err = c.UpdateProduct(ctx, meshtest.WithToken(&catalogv1.UpdateProductRequest{Sku: "UPD-1", Price: &commonv1.Money{AmountMinor: 1, Currency: "QQQ"}}, e.merchant))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "currency")
			_, err = c.UpdateProduct(ctx, meshtest.WithToken(&catalogv1.UpdateProductRequest{Sku: "UPD-1", Name: &name}, e.customer))
			meshtest.WantCode(t, err, connect.CodePermissionDenied, "merchant")
			_, err = c.UpdateProduct(ctx, connect.NewRequest(&catalogv1.UpdateProductRequest{Sku: "UPD-1", Name: &name}))
			meshtest.WantCode(t, err, connect.CodeUnauthenticated, "")
			_, err = c.ArchiveProduct(ctx, meshtest.WithToken(&catalogv1.ArchiveProductRequest{Sku: "UPD-1"}, e.customer))
			meshtest.WantCode(t, err, connect.CodePermissionDenied, "merchant")
			_, err = c.ArchiveProduct(ctx, connect.NewRequest(&catalogv1.ArchiveProductRequest{Sku: "UPD-1"}))
			meshtest.WantCode(t, err, connect.CodeUnauthenticated, "")
			_, err = c.ArchiveProduct(ctx, meshtest.WithToken(&catalogv1.ArchiveProductRequest{Sku: "NOPE-1"}, e.merchant))
			meshtest.WantCode(t, err, connect.CodeNotFound, "NOPE-1")
		})
	}
	first, err := c.ArchiveProduct(ctx, meshtest.WithToken(&catalogv1.ArchiveProductRequest{Sku: "UPD-1"}, e.merchant))
	if err != nil {
		t.Fatalf("ArchiveProduct: %v", err)
	}
	again, err := c.ArchiveProduct(ctx, meshtest.WithToken(&catalogv1.ArchiveProductRequest{Sku: "UPD-1"}, e.merchant))
	if err != nil {
		t.Fatalf("ArchiveProduct again: %v", err)
	}
	if diff := cmp.Diff(first.Msg.GetProduct(), again.Msg.GetProduct(), cmpProto()); diff != "" {
		t.Errorf("archiving twice changed the product (-first +second):\n%s", diff)
	}
	name := "Too late"
	_, err = c.UpdateProduct(ctx, meshtest.WithToken(&catalogv1.UpdateProductRequest{Sku: "UPD-1", Name: &name}, e.merchant))
	meshtest.WantCode(t, err, connect.CodeFailedPrecondition, "archived")
}
