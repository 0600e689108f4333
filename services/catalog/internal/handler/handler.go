// Package handler is Catalog's transport layer: it converts between the
// Protobuf messages and the service's domain values and nothing else.
// Validation runs before it (protovalidate interceptor) and error mapping
// after it (rpcerr interceptor).
package handler

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	"github.com/ordermesh/ordermesh/services/catalog/internal/service"
)

// Handler implements catalogv1connect.CatalogServiceHandler.
type Handler struct {
	svc *service.Service
}

var _ catalogv1connect.CatalogServiceHandler = (*Handler)(nil)

// New returns a handler over svc.
func New(svc *service.Service) *Handler { return &Handler{svc: svc} }

// ListProducts implements catalogv1connect.CatalogServiceHandler.
func (h *Handler) ListProducts(ctx context.Context, req *connect.Request[catalogv1.ListProductsRequest]) (*connect.Response[catalogv1.ListProductsResponse], error) {
	products, next, err := h.svc.ListProducts(ctx, req.Msg.GetCategory(), req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.ListProductsResponse{Products: toProtos(products), NextPageToken: next}), nil
}

// SearchProducts implements catalogv1connect.CatalogServiceHandler.
func (h *Handler) SearchProducts(ctx context.Context, req *connect.Request[catalogv1.SearchProductsRequest]) (*connect.Response[catalogv1.SearchProductsResponse], error) {
	m := req.Msg
	products, next, err := h.svc.SearchProducts(ctx, m.GetQuery(), m.GetCategory(), m.GetPageSize(), m.GetPageToken())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.SearchProductsResponse{Products: toProtos(products), NextPageToken: next}), nil
}

// GetProduct implements catalogv1connect.CatalogServiceHandler.
func (h *Handler) GetProduct(ctx context.Context, req *connect.Request[catalogv1.GetProductRequest]) (*connect.Response[catalogv1.GetProductResponse], error) {
	p, err := h.svc.GetProduct(ctx, req.Msg.GetSku())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.GetProductResponse{Product: toProto(p)}), nil
}

// BatchGetProducts implements catalogv1connect.CatalogServiceHandler.
func (h *Handler) BatchGetProducts(ctx context.Context, req *connect.Request[catalogv1.BatchGetProductsRequest]) (*connect.Response[catalogv1.BatchGetProductsResponse], error) {
	found, missing, err := h.svc.BatchGetProducts(ctx, req.Msg.GetSkus())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.BatchGetProductsResponse{Products: toProtos(found), MissingSkus: missing}), nil
}

// ListCategories implements catalogv1connect.CatalogServiceHandler.
func (h *Handler) ListCategories(ctx context.Context, _ *connect.Request[catalogv1.ListCategoriesRequest]) (*connect.Response[catalogv1.ListCategoriesResponse], error) {
	cats, err := h.svc.ListCategories(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*catalogv1.Category, len(cats))
	for i, c := range cats {
		out[i] = &catalogv1.Category{Slug: c.Slug, ProductCount: c.ProductCount}
	}
	return connect.NewResponse(&catalogv1.ListCategoriesResponse{Categories: out}), nil
}

// CreateProduct implements catalogv1connect.CatalogServiceHandler.
func (h *Handler) CreateProduct(ctx context.Context, req *connect.Request[catalogv1.CreateProductRequest]) (*connect.Response[catalogv1.CreateProductResponse], error) {
	m := req.Msg
	p, err := h.svc.CreateProduct(ctx, service.Product{
		SKU: m.GetSku(), Name: m.GetName(), Description: m.GetDescription(),
		Price:    fromMoney(m.GetPrice()),
		Category: m.GetCategory(), ImageURL: m.GetImageUrl(), Attributes: m.GetAttributes(),
		WeightGrams: m.GetWeightGrams(),
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.CreateProductResponse{Product: toProto(p)}), nil
}

// UpdateProduct implements catalogv1connect.CatalogServiceHandler.
func (h *Handler) UpdateProduct(ctx context.Context, req *connect.Request[catalogv1.UpdateProductRequest]) (*connect.Response[catalogv1.UpdateProductResponse], error) {
	m := req.Msg
	u := service.ProductUpdate{
		Name: m.Name, Description: m.Description, Category: m.Category,
		ImageURL: m.ImageUrl, WeightGrams: m.WeightGrams,
	}
	if m.GetPrice() != nil {
		price := fromMoney(m.GetPrice())
		u.Price = &price
	}
	if m.GetAttributes() != nil {
		u.SetAttrs, u.Attributes = true, m.GetAttributes().GetValues()
	}
	p, err := h.svc.UpdateProduct(ctx, m.GetSku(), u)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.UpdateProductResponse{Product: toProto(p)}), nil
}

// ArchiveProduct implements catalogv1connect.CatalogServiceHandler.
func (h *Handler) ArchiveProduct(ctx context.Context, req *connect.Request[catalogv1.ArchiveProductRequest]) (*connect.Response[catalogv1.ArchiveProductResponse], error) {
	p, err := h.svc.ArchiveProduct(ctx, req.Msg.GetSku())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.ArchiveProductResponse{Product: toProto(p)}), nil
}

func fromMoney(m *commonv1.Money) service.Money {
	return service.Money{AmountMinor: m.GetAmountMinor(), Currency: m.GetCurrency()}
}

func toProtos(ps []service.Product) []*catalogv1.Product {
	out := make([]*catalogv1.Product, len(ps))
	for i, p := range ps {
		out[i] = toProto(p)
	}
	return out
}

func toProto(p service.Product) *catalogv1.Product {
	state := catalogv1.ProductState_PRODUCT_STATE_ACTIVE
	if p.Archived() {
		state = catalogv1.ProductState_PRODUCT_STATE_ARCHIVED
	}
	return &catalogv1.Product{
		Sku: p.SKU, Name: p.Name, Description: p.Description,
		Price:    &commonv1.Money{AmountMinor: p.Price.AmountMinor, Currency: p.Price.Currency},
		Category: p.Category, ImageUrl: p.ImageURL, Attributes: p.Attributes,
		WeightGrams: p.WeightGrams, State: state,
		CreateTime: timestamppb.New(p.CreatedAt), UpdateTime: timestamppb.New(p.UpdatedAt),
	}
}
