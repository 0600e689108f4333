package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/ordermesh/ordermesh/app/cli"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/money"
)

// result is one run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

// runner runs the CLI in this process against a mesh, with the given
// environment.
type runner struct {
	t   *testing.T
	env map[string]string
}

func (r runner) run(args ...string) result {
	r.t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, &out, &errOut, func(k string) string { return r.env[k] })
	return result{code, out.String(), errOut.String()}
}

// ok runs a command that must succeed and returns its output.
func (r runner) ok(args ...string) string {
	r.t.Helper()
	res := r.run(args...)
	if res.code != 0 {
		r.t.Fatalf("ordermesh %s: exit %d, stderr %q", strings.Join(args, " "), res.code, res.stderr)
	}
	return res.stdout
}

// fails runs a command that must fail with code and say want on stderr.
func (r runner) fails(code int, want string, args ...string) {
	r.t.Helper()
	res := r.run(args...)
	if res.code != code || !strings.Contains(res.stderr, want) || !strings.HasPrefix(res.stderr, "error: ") {
		r.t.Errorf("ordermesh %s: exit %d, stderr %q; want exit %d and %q", strings.Join(args, " "), res.code, res.stderr, code, want)
	}
}

// TestCommandLine is the operator's session against a real mesh: after a
// checkout and a declined card, list the orders by status and reason, read
// one's timeline, manage stock and parked events, and get every mistake
// back as a Connect code and a non-zero exit.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, nil)
	merchant := m.Token(t, "olga", auth.RoleMerchant)
	op := runner{t, map[string]string{"ORDERMESH_URL": m.URL, "ORDERMESH_TOKEN": merchant}}
	ctx := context.Background()

	if _, err := catalogv1connect.NewCatalogServiceClient(m.HTTP, m.URL).CreateProduct(ctx, meshtest.WithToken(&catalogv1.CreateProductRequest{
		Sku: "BEAN-1", Name: "Beans", Category: "coffee", WeightGrams: 250, Price: &commonv1.Money{AmountMinor: 1450, Currency: "EUR"},
	}, merchant)); err != nil {
		t.Fatalf("CreateProduct: %v", err)
	}
	if out := op.ok("stock", "set", "BEAN-1", "10"); !strings.Contains(out, "BEAN-1: 10 available, 0 reserved, 0 sold") {
		t.Errorf("stock set printed %q", out)
	}
	good := checkout(t, m, "cli-ok", "4242424242424242")
	declined := checkout(t, m, "cli-no", "4000000000000002")
	if good.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED || declined.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CANCELLED {
		t.Fatalf("orders %v and %v, want CONFIRMED and CANCELLED", good.GetStatus(), declined.GetStatus())
	}
	m.WaitQuiet(t)

	t.Run("orders list", func(t *testing.T) {
		var listed struct {
			Orders []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"orders"`
			TotalCount string `json:"totalCount"`
		}
		out := op.ok("orders", "list", "--status", "confirmed", "-o", "json")
		if err := json.Unmarshal([]byte(out), &listed); err != nil {
			t.Fatalf("orders list -o json: %v\n%s", err, out)
		}
		if len(listed.Orders) != 1 || listed.Orders[0].ID != good.GetId() || listed.Orders[0].Status != "ORDER_STATUS_CONFIRMED" || listed.TotalCount != "1" {
			t.Errorf("orders list --status confirmed -o json = %+v, want just %s", listed, good.GetId())
		}
		table := op.ok("orders", "list", "--status", "CANCELLED", "--reason", "payment-declined")
		rows := strings.Split(strings.TrimSpace(table), "\n")
		if len(rows) != 3 || !strings.HasPrefix(rows[0], "ID") || !strings.HasPrefix(rows[1], declined.GetId()) ||
			!strings.Contains(rows[1], "cancelled") || !strings.Contains(rows[1], "payment_declined") || !strings.Contains(rows[1], "cli-no") ||
			rows[2] != "1 of 1 orders" {
			t.Errorf("orders list --status CANCELLED --reason payment-declined:\n%s", table)
		}
		out = op.ok("orders", "list", "--limit", "1")
		next := regexp.MustCompile(`1 of 2 orders; the next: --page-token (\S+) \(or --all\)\n$`).FindStringSubmatch(out)
		if next == nil || !strings.Contains(out, declined.GetId()) {
			t.Fatalf("orders list --limit 1 (newest first):\n%s", out)
		}
		if out := op.ok("orders", "list", "--limit", "1", "--page-token", next[1]); !strings.Contains(out, good.GetId()) || !strings.HasSuffix(out, "1 of 2 orders\n") {
			t.Errorf("orders list --page-token (the second page):\n%s", out)
		}
		if out := op.ok("orders", "list", "--all", "-o", "jsonl"); strings.Count(out, "\n") != 2 {
			t.Errorf("orders list --all -o jsonl:\n%s", out)
		}
		op.fails(2, "--all lists every order", "orders", "list", "--all", "--limit", "5")
		if out := op.ok("orders", "list", "--older-than", "1h"); !strings.HasSuffix(out, "0 of 0 orders\n") {
			t.Errorf("orders list --older-than 1h:\n%s", out)
		}
		op.fails(2, `unknown status "lost": one of cancelled, confirmed`, "orders", "list", "--status", "lost")

		// Search: by the start of an id (with or without its dash, any
		// case), a SKU, a total range.
		only := func(want string, args ...string) {
			t.Helper()
			out := op.ok(append([]string{"orders", "list"}, args...)...)
			n := strings.Count(out, "\n") - 2 // the header and the count
			if want == "" && n != 0 || want != "" && (n != 1 || !strings.Contains(out, want)) {
				t.Errorf("orders list %s: want %q only:\n%s", strings.Join(args, " "), want, out)
			}
		}
		only(good.GetId(), "--id", good.GetId()[:13])
		only(good.GetId(), "--id", strings.ToUpper(strings.ReplaceAll(good.GetId()[:18], "-", "")))
		only(good.GetId(), "--id", good.GetId())
		only("", "--id", strings.ReplaceAll(good.GetId(), "-", "")+"0") // longer than any id
		only(declined.GetId(), "--sku", "BEAN-1", "--status", "cancelled")
		only("", "--sku", "BEAN-2")
		only("", "--min-total", "1000 EUR")
		only(good.GetId(), "--max-total", "1000 EUR", "--user", "cli-ok")
		only("", "--min-total", "0.01 USD")
		if out := op.ok("orders", "list", "--sku", "BEAN-1", "--min-total", "1 EUR", "--max-total", "99.99 EUR"); !strings.HasSuffix(out, "2 of 2 orders\n") {
			t.Errorf("orders list by SKU and total range:\n%s", out)
		}
		op.fails(1, "invalid_argument: validation error: min_total and max_total must be in the same currency", "orders", "list", "--min-total", "1 EUR", "--max-total", "9 USD")
		op.fails(1, "invalid_argument: validation error: order_id_prefix", "orders", "list", "--id", "xyz")
		op.fails(2, `--min-total "5 euros"`, "orders", "list", "--min-total", "5 euros")
		op.fails(2, "--placed-after", "orders", "list", "--placed-after", "yesterday")
		op.fails(2, "-o \"yaml\"", "orders", "list", "-o", "yaml")
	})

	t.Run("orders show", func(t *testing.T) {
		out := op.ok("orders", "show", good.GetId())
		for _, want := range []string{
			"Order     " + good.GetId(), "Status    confirmed", "Customer  cli-ok", "Payment   captured", "Stock     sold",
			"order      PENDING", "order      CONFIRMED", "inventory  reservation 1 × BEAN-1", "payment    authorize",
			"order      ORDER_PLACED order → inventory: delivered after 1 attempt", "payment    PAYMENT_AUTHORIZED payment → order: delivered",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("orders show lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "Missing") || strings.Contains(out, "! ") {
			t.Errorf("a clean saga shows a problem:\n%s", out)
		}
		out = op.ok("orders", "show", declined.GetId())
		if !strings.Contains(out, "Status    cancelled (payment_declined)") || !strings.Contains(out, "! authorize") {
			t.Errorf("the declined order's timeline lacks its status or the failed authorisation:\n%s", out)
		}
		op.fails(1, "not_found: order", "orders", "show", uuid.NewString())
		op.fails(1, "invalid_argument: validation error", "orders", "show", "not-an-id")
		op.fails(2, "accepts 1 arg(s)", "orders", "show")
	})

	t.Run("orders cancel", func(t *testing.T) {
		op.fails(2, "--reason is required", "orders", "cancel", good.GetId())
		// Cancelling a cancelled order is refused, saying why, and the
		// reason given is not silently dropped.
		op.fails(1, "failed_precondition: order "+declined.GetId()+" was already cancelled (payment_declined) at ", "orders", "cancel", declined.GetId(), "--reason", "double check")
		if out := op.ok("orders", "show", declined.GetId()); strings.Contains(out, "double check") {
			t.Errorf("the refused cancellation's reason is in the history:\n%s", out)
		}
		op.fails(1, "not_found: order", "orders", "cancel", uuid.NewString(), "--reason", "gone")
		op.fails(1, "invalid_argument", "orders", "cancel", good.GetId(), "--reason", "x")
	})

	t.Run("stock, summary, events", func(t *testing.T) {
		out := op.ok("stock", "get")
		if !strings.Contains(out, "BEAN-1") || !regexpLine(out, `BEAN-1\s+9\s+0\s+1\s`) {
			t.Errorf("stock get (every product):\n%s", out)
		}
		if out := op.ok("stock", "get", "BEAN-1", "NOPE-1"); !regexpLine(out, `NOPE-1\s+no stock record`) {
			t.Errorf("stock get BEAN-1 NOPE-1:\n%s", out)
		}
		op.fails(2, "AVAILABLE \"many\"", "stock", "set", "BEAN-1", "many")
		op.fails(1, "invalid_argument", "stock", "set", "--", "BEAN-1", "-1")
		// A negative number is an argument, not a flag, wherever the
		// global flags are.
		op.fails(1, "invalid_argument", "stock", "set", "BEAN-1", "-5")
		op.fails(1, "invalid_argument", "-o", "json", "stock", "set", "BEAN-1", "-5", "--timeout", "10s")
		out = op.ok("summary")
		if !strings.Contains(out, "Open orders  pending 0  reserved 0") || !strings.Contains(out, "Oldest open  none") ||
			!regexpLine(out, `order\s+inventory\s+0\s+-\s+0`) {
			t.Errorf("summary:\n%s", out)
		}
		if out := op.ok("events", "parked"); !strings.HasSuffix(out, "0 parked\n") {
			t.Errorf("events parked:\n%s", out)
		}
		if out := op.ok("events", "requeue", "--subscriber", "inventory", "--type", "order_placed", "--reason", "inventory is back"); out != "no parked deliveries to requeue: the filter (subscriber=inventory type=ORDER_PLACED) selects none\n" {
			t.Errorf("events requeue: %q", out)
		}
		op.fails(2, "--reason is required", "events", "requeue")
		op.fails(1, "invalid_argument", "events", "requeue", "--producer", "cart", "--dry-run")
		op.fails(2, `unknown event type "lost"`, "events", "parked", "--type", "lost")
	})

	t.Run("who and where", func(t *testing.T) {
		anonymous := runner{t, map[string]string{"ORDERMESH_URL": m.URL}}
		anonymous.fails(1, "unauthenticated: ", "summary")
		anonymous.fails(1, "set ORDERMESH_TOKEN or --token", "summary")
		customer := runner{t, map[string]string{"ORDERMESH_URL": m.URL, "ORDERMESH_TOKEN": m.Token(t, "cli-ok", auth.RoleCustomer)}}
		customer.fails(1, "permission_denied: ", "orders", "list")
		// Flags override the environment.
		nowhere := runner{t, map[string]string{"ORDERMESH_URL": "http://127.0.0.1:1", "ORDERMESH_TOKEN": "junk"}}
		nowhere.fails(1, "cannot reach http://127.0.0.1:1", "summary")
		if out := nowhere.ok("summary", "--url", m.URL, "--token", merchant); !strings.Contains(out, "Open orders") {
			t.Errorf("summary with --url and --token:\n%s", out)
		}
		op.fails(2, "unknown flag: --colour", "summary", "--colour")
	})

	t.Run("sales", func(t *testing.T) {
		// The confirmed order sold; the declined one did not.
		out := op.ok("sales")
		total := money.Format(good.GetTotal().GetAmountMinor(), "EUR")
		if !strings.Contains(out, "1 order, 1 unit, "+total+"\n") || !regexpLine(out, `BEAN-1\s+Beans\s+1\s+1\s+14\.50 EUR`) ||
			!regexpLine(out, good.GetCreateTime().AsTime().UTC().Format(time.DateOnly)+`\s+1\s+1\s+`+regexp.QuoteMeta(total)+`\s+█{30}`) {
			t.Errorf("sales:\n%s", out)
		}
		if days := strings.Count(out, " 0.00 EUR"); days != 7 {
			t.Errorf("sales shows %d days without sales, want 7 (a 7-day window touches 8 days):\n%s", days, out)
		}
		var figures struct {
			Orders     string
			TopSellers []struct{ Sku, Units string }
			Revenue    []struct{ AmountMinor, Currency string }
		}
		if err := json.Unmarshal([]byte(op.ok("sales", "--days", "1", "-o", "json")), &figures); err != nil {
			t.Fatal(err)
		}
		if figures.Orders != "1" || len(figures.TopSellers) != 1 || figures.TopSellers[0].Sku != "BEAN-1" || figures.TopSellers[0].Units != "1" ||
			len(figures.Revenue) != 1 || figures.Revenue[0].AmountMinor != strconv.FormatInt(good.GetTotal().GetAmountMinor(), 10) {
			t.Errorf("sales -o json = %+v", figures)
		}
		if out := op.ok("sales", "--to", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "--days", "1"); !strings.Contains(out, "0 orders, 0 units, no revenue") {
			t.Errorf("sales of a window before the orders:\n%s", out)
		}
		op.fails(2, "--days 0: want 1 to 366", "sales", "--days", "0")
		op.fails(1, "invalid_argument: validation error: from must be before to", "sales", "--from", "2026-12-02T00:00:00Z", "--to", "2026-12-01T00:00:00Z")
		op.fails(1, "invalid_argument: the window is", "sales", "--from", "2024-01-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z")
	})

	t.Run("output, flags, help, completion", func(t *testing.T) {
		// Global flags before the command.
		if out := op.ok("-o", "json", "summary"); !strings.HasPrefix(out, "{") {
			t.Errorf("-o json summary: %q", out)
		}
		if out := runner.ok(runner{t, map[string]string{"ORDERMESH_URL": m.URL}}, "--token", merchant, "orders", "list"); !strings.HasSuffix(out, "2 of 2 orders\n") {
			t.Errorf("--token X orders list:\n%s", out)
		}
		// One compact object a line.
		out := op.ok("orders", "list", "-o", "jsonl")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("orders list -o jsonl: %d lines, want 2:\n%s", len(lines), out)
		}
		for i, want := range []string{declined.GetId(), good.GetId()} {
			var o struct{ ID string }
			if err := json.Unmarshal([]byte(lines[i]), &o); err != nil || o.ID != want {
				t.Errorf("line %d = %q (%v), want order %s", i+1, lines[i], err, want)
			}
		}
		// The token is never printed, not even as a default in help.
		for _, args := range [][]string{{"--help"}, {"orders", "list", "--help"}, {"summary", "-h"}} {
			if out := op.ok(args...); strings.Contains(out, merchant) || !strings.Contains(out, "--token") {
				t.Errorf("ordermesh %s prints the token, or no --token flag:\n%s", strings.Join(args, " "), out)
			}
		}
		if out := op.ok("completion", "bash"); !strings.Contains(out, "__start_ordermesh") {
			t.Errorf("completion bash is not a bash completion script:\n%.300s", out)
		}
		if out := op.ok("__complete", "orders", "list", "--status", ""); !strings.Contains(out, "pending\n") || !strings.Contains(out, "cancelled\n") {
			t.Errorf("completing --status:\n%s", out)
		}
		if out := op.ok("__complete", "orders", ""); !strings.Contains(out, "list\t") || !strings.Contains(out, "show\t") {
			t.Errorf("completing orders' commands:\n%s", out)
		}
	})

	t.Run("orders show --follow", func(t *testing.T) {
		out := op.ok("orders", "show", "--follow", good.GetId())
		for _, want := range []string{"Order     " + good.GetId(), "order      PENDING", "order      CONFIRMED", "payment    authorize"} {
			if !strings.Contains(out, want) {
				t.Errorf("orders show --follow lacks %q:\n%s", want, out)
			}
		}
		out = op.ok("orders", "show", "-f", declined.GetId(), "-o", "jsonl")
		steps := strings.Split(strings.TrimSpace(out), "\n")
		var last struct {
			StatusChange struct{ Status, Reason string }
		}
		for _, l := range steps {
			if err := json.Unmarshal([]byte(l), &last); err != nil {
				t.Fatalf("orders show -f -o jsonl: %v in %q", err, l)
			}
			if last.StatusChange.Status == "ORDER_STATUS_CANCELLED" {
				break
			}
		}
		if last.StatusChange.Reason != "STATUS_REASON_PAYMENT_DECLINED" {
			t.Errorf("orders show -f -o jsonl never shows the cancellation:\n%s", out)
		}
	})

	t.Run("bulk cancel", func(t *testing.T) {
		// Two new customers' orders, placed after a whole second that no
		// earlier order was placed in.
		after := time.Now().UTC().Truncate(time.Second).Add(time.Second)
		time.Sleep(time.Until(after))
		var ids []string
		for _, user := range []string{"cli-bulk-1", "cli-bulk-2"} {
			ids = append(ids, checkout(t, m, user, "4242424242424242").GetId())
		}
		filter := []string{"orders", "bulk-cancel", "--status", "confirmed", "--placed-after", after.Format(time.RFC3339)}
		args := func(more ...string) []string { return append(slices.Clone(filter), more...) }
		dry := op.ok(args("--dry-run")...)
		if !strings.HasPrefix(dry, "2 orders to cancel (status=confirmed placed_after="+after.Format(time.RFC3339)+"):\nID") ||
			!strings.Contains(dry, ids[0]) || !strings.Contains(dry, ids[1]) {
			t.Errorf("bulk-cancel --dry-run:\n%s", dry)
		}
		op.fails(2, "--reason is required", args()...)
		op.fails(2, "nothing done: say --yes to cancel these 2 orders (stdin is not a terminal to ask)", args("--reason", "fraud ring")...)
		if out := op.ok("orders", "list", "--status", "confirmed", "--placed-after", after.Format(time.RFC3339)); !strings.HasSuffix(out, "2 of 2 orders\n") {
			t.Fatalf("refused bulk-cancel changed the orders:\n%s", out)
		}
		out := op.ok(args("--reason", "fraud ring", "--yes")...)
		done := regexp.MustCompile(`(?m)^\S+  2 of 2 cancelled, 0 skipped\nbulk action (\S+) done\n$`).FindStringSubmatch(out)
		if done == nil || !strings.HasPrefix(out, "2 orders to cancel") {
			t.Fatalf("bulk-cancel --yes:\n%s", out)
		}
		if out := op.ok("orders", "list", "--status", "cancelled", "--reason", "operator", "--placed-after", after.Format(time.RFC3339)); !strings.HasSuffix(out, "2 of 2 orders\n") {
			t.Errorf("after bulk-cancel, the orders cancelled by an operator:\n%s", out)
		}
		// Again: nothing left to cancel.
		if out := op.ok(args("--reason", "fraud ring", "--yes")...); !strings.HasPrefix(out, "no orders to cancel: the filter") {
			t.Errorf("second bulk-cancel:\n%s", out)
		}
		if out := op.ok("orders", "show", ids[0]); !strings.Contains(out, "cancelled by olga: fraud ring") || !strings.Contains(out, "bulk action "+done[1]+" on 2 (status=confirmed") {
			t.Errorf("orders show of a cancelled order has no bulk step:\n%s", out)
		}
		if out := op.ok("bulk", "show", done[1]); !strings.Contains(out, "State     done\nOperator  olga\nReason    fraud ring\n") || !strings.HasSuffix(out, "Progress  2 of 2 cancelled, 0 skipped\n") {
			t.Errorf("bulk show:\n%s", out)
		}
		var shown struct {
			State string `json:"state"`
			Done  string `json:"done"`
		}
		if err := json.Unmarshal([]byte(op.ok("bulk", "show", done[1], "-o", "json")), &shown); err != nil || shown.State != "BULK_ACTION_STATE_DONE" || shown.Done != "2" {
			t.Errorf("bulk show -o json = %+v, %v", shown, err)
		}
		list := strings.Split(op.ok("bulk", "list", "--limit", "2"), "\n")
		if len(list) != 4 || !strings.HasPrefix(list[0], "ID") || !strings.Contains(list[1], done[1]) || !strings.Contains(list[1], "cancel_orders") ||
			!strings.Contains(list[1], "fraud ring") || list[2] != "1 bulk action" {
			t.Errorf("bulk list:\n%s", strings.Join(list, "\n"))
		}
		op.fails(1, "not_found: bulk action", "bulk", "show", "0193a2b4-0000-7000-8000-000000000000")
		op.fails(1, "failed_precondition: bulk action "+done[1]+" has ended (done at ", "bulk", "stop", done[1])
	})

	t.Run("version", func(t *testing.T) {
		var v struct {
			Version   string `json:"version"`
			GoVersion string `json:"go_version"`
		}
		if err := json.Unmarshal([]byte(op.ok("version", "-o", "json")), &v); err != nil || v.Version == "" || !strings.HasPrefix(v.GoVersion, "go") {
			t.Errorf("version -o json = %+v, %v", v, err)
		}
		if out := op.ok("version"); !strings.HasPrefix(out, "ordermesh ") || !strings.Contains(out, "revision ") {
			t.Errorf("version:\n%s", out)
		}
	})
}

// checkout places one order of a BEAN-1 as a new customer paying with
// card, and follows it to the end of its saga.
func checkout(t *testing.T, m *meshtest.Mesh, user, card string) *orderv1.Order {
	t.Helper()
	ctx := context.Background()
	tok := m.Token(t, user, auth.RoleCustomer)
	pm, err := paymentv1connect.NewPaymentServiceClient(m.HTTP, m.URL).CreatePaymentMethod(ctx, meshtest.WithToken(&paymentv1.CreatePaymentMethodRequest{
		UserId: user, CardNumber: card, ExpMonth: 12, ExpYear: int32(time.Now().Year() + 2), Cvc: "123",
	}, tok))
	if err != nil {
		t.Fatalf("CreatePaymentMethod: %v", err)
	}
	orders := orderv1connect.NewOrderServiceClient(m.HTTP, m.URL)
	addr := &commonv1.PostalAddress{Recipient: "Ada", Line1: "1 Way", City: "Berlin", PostalCode: "10115", CountryCode: "DE"}
	lines := []*orderv1.LineRequest{{Sku: "BEAN-1", Quantity: 1}}
	quote, err := orders.QuoteShipping(ctx, connect.NewRequest(&orderv1.QuoteShippingRequest{ShippingAddress: addr, Lines: lines}))
	if err != nil {
		t.Fatalf("QuoteShipping: %v", err)
	}
	placed, err := orders.PlaceOrder(ctx, meshtest.WithToken(&orderv1.PlaceOrderRequest{
		UserId: user, IdempotencyKey: "cli-" + user, Source: &orderv1.PlaceOrderRequest_Lines{Lines: &orderv1.ExplicitLines{Lines: lines}},
		ShippingAddress: addr, Email: user + "@example.com", PaymentMethodId: pm.Msg.GetPaymentMethod().GetId(),
		ExpectedTotal: &commonv1.Money{AmountMinor: 1450 + quote.Msg.GetAmount().GetAmountMinor(), Currency: "EUR"},
	}, tok))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := orders.WatchOrder(wctx, meshtest.WithToken(&orderv1.WatchOrderRequest{OrderId: placed.Msg.GetOrder().GetId()}, tok))
	if err != nil {
		t.Fatalf("WatchOrder: %v", err)
	}
	var last *orderv1.Order
	for stream.Receive() {
		last = stream.Msg().GetOrder()
	}
	if err := stream.Err(); err != nil || last == nil {
		t.Fatalf("WatchOrder: %v (last %v)", err, last)
	}
	return last
}

// regexpLine reports whether a line of out matches pattern.
func regexpLine(out, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for line := range strings.SplitSeq(out, "\n") {
		if re.MatchString(line) {
			return true
		}
	}
	return false
}

// A command line whose first word after the global flags is a command is
// the CLI's; anything else is the server binary's.
func TestIsCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"orders", "list"}, true},
		{[]string{"--token", "X", "orders", "list"}, true},
		{[]string{"--token=X", "-o", "json", "summary"}, true},
		{[]string{"-ojson", "summary"}, true},
		{[]string{"--url", "http://localhost:8080", "--timeout", "5s", "events", "parked"}, true},
		{[]string{"completion", "zsh"}, true},
		{[]string{"__complete", "orders", ""}, true},
		{[]string{"token", "-role", "merchant"}, false},
		{[]string{"--token", "orders"}, false},
		{[]string{"reset"}, false},
		{nil, false},
	} {
		if got := cli.IsCommand(tc.args); got != tc.want {
			t.Errorf("IsCommand(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
