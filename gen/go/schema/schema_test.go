package schema_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
	"github.com/ordermesh/ordermesh/gen/go/schema"
)

// TestSchemaHasEveryServiceWithComments: the embedded set describes the
// services the generated code does, and keeps the .proto comments.
func TestSchemaHasEveryServiceWithComments(t *testing.T) {
	files, err := schema.Files()
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName(orderv1connect.OrderServiceName)
	if err != nil {
		t.Fatalf("%s is not in the schema: %v", orderv1connect.OrderServiceName, err)
	}
	m := d.(protoreflect.ServiceDescriptor).Methods().ByName("PlaceOrder")
	if m == nil {
		t.Fatal("OrderService has no PlaceOrder in the schema")
	}
	comment := m.ParentFile().SourceLocations().ByDescriptor(m).LeadingComments
	if !strings.Contains(comment, "PlaceOrder") {
		t.Errorf("PlaceOrder's leading comment is %q; want the .proto comment", comment)
	}
}
