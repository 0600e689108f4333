package controlchars_test

import (
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/controlchars"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	freeText := controlchars.FreeText{controlchars.Field(&catalogv1.CreateProductRequest{}, "description"): true}
	for name, tc := range map[string]struct {
		msg   proto.Message
		field string // "" when the message is fine
	}{
		"clean":                  {&catalogv1.SearchProductsRequest{Query: "ethiopia light"}, ""},
		"NUL":                    {&catalogv1.SearchProductsRequest{Query: "a\x00b"}, "query"},
		"escape":                 {&catalogv1.SearchProductsRequest{Query: "\x1b[31m"}, "query"},
		"DEL":                    {&catalogv1.SearchProductsRequest{Query: "a\x7f"}, "query"},
		"newline in a name":      {&catalogv1.CreateProductRequest{Sku: "A-1", Name: "two\nlines"}, "name"},
		"newline in description": {&catalogv1.CreateProductRequest{Sku: "A-1", Description: "two\nlines\tand a tab"}, ""},
		"NUL in description":     {&catalogv1.CreateProductRequest{Sku: "A-1", Description: "a\x00"}, "description"},
		"map value":              {&catalogv1.CreateProductRequest{Attributes: map[string]string{"origin": "x\x01"}}, `attributes["origin"]`},
		"map key":                {&catalogv1.CreateProductRequest{Attributes: map[string]string{"or\x00igin": "x"}}, "(key)"},
		"nested":                 {&orderv1.QuoteShippingRequest{ShippingAddress: &commonv1.PostalAddress{Line1: "1\x00 Road"}}, "shipping_address.line1"},
		"in a list": {&orderv1.QuoteShippingRequest{Lines: []*orderv1.LineRequest{
			{Sku: "A-1", Quantity: 1}, {Sku: "B\x00", Quantity: 1},
		}}, "lines[1].sku"},
		"unicode is text": {&catalogv1.SearchProductsRequest{Query: "café — 珈琲"}, ""},
	} {
		err := controlchars.Check(tc.msg, freeText)
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v, want no error", name, err)
		case tc.field != "" && (connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field)):
			t.Errorf("%s: %v, want InvalidArgument naming %s", name, err, tc.field)
		}
	}
}
