package jsoncodec_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/jsoncodec"
)

func TestUnknownEnumNamesAreErrors(t *testing.T) {
	t.Parallel()
	codec := jsoncodec.HandlerOptions() // the options install the codec; the test drives it directly
	if len(codec) != 2 {
		t.Fatalf("HandlerOptions = %d options, want one per JSON name", len(codec))
	}
	var c jsoncodec.Codec
	for _, tc := range []struct {
		name string
		json string
		msg  proto.Message
		want proto.Message // nil: refused
		says string
	}{
		{"known names", `{"statuses":["ORDER_STATUS_PENDING"],"sort":"ORDER_SORT_OLDEST_FIRST"}`, &opsv1.ListOrdersRequest{},
			&opsv1.ListOrdersRequest{Statuses: []orderv1.OrderStatus{orderv1.OrderStatus_ORDER_STATUS_PENDING}, Sort: opsv1.OrderSort_ORDER_SORT_OLDEST_FIRST}, ""},
		{"numbers", `{"statuses":[1]}`, &opsv1.ListOrdersRequest{}, &opsv1.ListOrdersRequest{Statuses: []orderv1.OrderStatus{1}}, ""},
		{"unknown field, dropped", `{"userId":"alice","colour":"blue"}`, &opsv1.ListOrdersRequest{}, &opsv1.ListOrdersRequest{UserId: "alice"}, ""},
		{"unknown name in a list", `{"statuses":["ORDER_STATUS_PENDING","ORDER_STATUS_NOPE"]}`, &opsv1.ListOrdersRequest{}, nil,
			`statuses[1]: "ORDER_STATUS_NOPE" is no value of OrderStatus; use one of ORDER_STATUS_UNSPECIFIED, ORDER_STATUS_PENDING`},
		{"unknown name in a field", `{"sort":"SIDEWAYS"}`, &opsv1.ListOrdersRequest{}, nil, `sort: "SIDEWAYS" is no value of OrderSort`},
		{"unknown name beside an unknown field", `{"colour":"blue","reasons":["REASON_NOPE"]}`, &opsv1.ListOrdersRequest{}, nil, `reasons[0]: "REASON_NOPE"`},
		{"proto field name", `{"type":"EVENT_TYPE_NOPE"}`, &eventsv1.ListParkedDeliveriesRequest{}, nil, `type: "EVENT_TYPE_NOPE" is no value of EventType`},
		{"nested message", `{"events":[{"id":"x","type":"EVENT_TYPE_NOPE"}]}`, &eventsv1.DeliverRequest{}, nil, `events[0].type: "EVENT_TYPE_NOPE"`},
		{"not JSON", `{"statuses":`, &opsv1.ListOrdersRequest{}, nil, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Unmarshal([]byte(tc.json), tc.msg)
			switch {
			case tc.want == nil && (err == nil || !strings.Contains(err.Error(), tc.says)):
				t.Fatalf("Unmarshal(%s) = %v, want an error saying %q", tc.json, err, tc.says)
			case tc.want != nil && err != nil:
				t.Fatalf("Unmarshal(%s) = %v", tc.json, err)
			case tc.want != nil && !proto.Equal(tc.msg, tc.want):
				t.Fatalf("Unmarshal(%s) = %v, want %v", tc.json, tc.msg, tc.want)
			case tc.want == nil && proto.Size(tc.msg) != 0:
				t.Fatalf("a refused message kept what was decoded: %v", tc.msg)
			}
		})
	}
}
