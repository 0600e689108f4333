//go:build tsclient

package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1/opsv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/services/order"
)

// TestConsole drives the operator's web console, as the mesh serves it at
// /console/, in real headless Chromium:
//   - sign in by pasting a merchant's token;
//   - watch an order go PENDING → CONFIRMED on its timeline without a
//     reload (Inventory's deliveries are held, then let through), drawn
//     as a waterfall, with a link to its trace;
//   - with Inventory down, see the order's OrderPlaced parked after its two
//     attempts, requeue it with the button once Inventory is back, and see
//     the order confirmed in the orders list;
//   - requeue a parked delivery from its order's timeline;
//   - page through the orders ten at a time, and search them by the start
//     of an id, a SKU and a customer;
//   - read the summary, the stock and the sales.
//
// It saves a screenshot of each view under .build/console/.
func TestConsole(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t, findChromium(t))
	s := newShopUntraced(t, func(c *mesh.Config) {
		c.Relay.MaxAttempts = 2
		mesh.ServiceConfig[order.Config](c).TraceURL = "http://grafana.example/explore?trace={trace_id}"
	})
	buyer := s.customer(t, "console-buyer", cardOK)
	shots := filepath.Join("..", ".build", "console")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	console, exceptions := watchConsole(tab)
	ctx, cancelTimeout := context.WithTimeout(tab, 2*time.Minute)
	defer cancelTimeout()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			body, _ := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`body`)))
			t.Fatalf("%s: %v\npage: %s\nconsole: %q", what, err, body, console())
		}
	}
	text := func(sel chromedp.CSS) string { t.Helper(); return textOf(ctx, t, sel) }
	// now reads an element's text in one go: views redraw themselves every
	// two seconds, and a node found can be gone before a second call
	// reads it.
	now := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q)?.textContent ?? "(none)"`, sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return v
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 makes a PNG
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Signing in: the pasted token is all the console needs.
	step("sign in",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(s.m.URL+"/console/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), s.merchant),
		chromedp.Click(chromedp.CSS(`#sign-in button`)),
		chromedp.WaitVisible(chromedp.CSS(`#summary-open li[data-status="pending"]`)),
		// A marker that a reload would wipe: every later view must keep it.
		chromedp.Evaluate[chromedp.Void](`window.stillTheSamePage = true`),
	)
	shot("summary")
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("ordermesh.token")`))
	if err != nil || stored != s.merchant {
		t.Errorf("the token is kept as %q (%v), want the pasted one in sessionStorage", stored, err)
	}

	// 1. An order, followed live: PENDING while Inventory's deliveries
	// wait, CONFIRMED once they go through.
	s.m.Gates["inventory"].Hold()
	live := s.place(t, buyer, s.request(t, buyer, "DE", lines("BEAN-1", 1)))
	step("open the timeline",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#/orders/%s"`, live.GetId())),
		chromedp.WaitVisible(chromedp.CSS(`#timeline-status[data-status="pending"]`)),
	)
	shot("timeline-pending")
	s.m.Gates["inventory"].Release()
	step("follow the order to CONFIRMED",
		chromedp.WaitVisible(chromedp.CSS(`#timeline-status[data-status="confirmed"]`)),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#timeline tr")].some(r => r.textContent.includes("capture"))`),
	)
	shot("timeline")
	// The waterfall: a lane per service, a bar per step, none failed.
	// Order: three statuses and the two events it took in; Inventory: the
	// reservation held and sold, and its two events; Payment: authorise,
	// capture and its two events; Cart: OrderConfirmed.
	lanes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#waterfall .lane[data-lane]")].map(l => l.dataset.lane + ":" + l.querySelectorAll(".span").length)`))
	if want := []string{"order:5", "inventory:4", "payment:4", "cart:1"}; err != nil || !slices.Equal(lanes, want) {
		t.Errorf("the waterfall's lanes and bars are %q (%v), want %q", lanes, err, want)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#waterfall .span.failed").length`)); err != nil || n != 0 {
		t.Errorf("a clean saga's waterfall marks %d steps failed (%v)", n, err)
	}
	// Steps of a lane that overlap in time are drawn on rows of their own:
	// no two bars of a row cover each other.
	overlaps, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#waterfall .lane[data-lane] .track")].flatMap(track => {
		const bars = [...track.querySelectorAll(".span")].map(b => b.getBoundingClientRect()).sort((a, b) => a.left - b.left);
		return bars.slice(1).filter((b, i) => b.left < bars[i].right - 0.5).map(() => track.closest(".lane").dataset.lane);
	})`))
	if err != nil || len(overlaps) != 0 {
		t.Errorf("bars overlap in the lanes %q (%v)", overlaps, err)
	}
	traceID := now(`#timeline-trace code`)
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("open-trace").href`))
	if err != nil || len(traceID) != 32 || href != "http://grafana.example/explore?trace="+traceID {
		t.Errorf("trace %q links to %q (%v); want the configured template with the order's trace id", traceID, href, err)
	}
	entries := text(`#timeline`)
	for _, want := range []string{"PENDING", "RESERVED", "CONFIRMED", "reservation 1 × BEAN-1", "authorize", "capture",
		"ORDER_PLACED order → inventory: delivered"} {
		if !strings.Contains(entries, want) {
			t.Errorf("the timeline lacks %q:\n%s", want, entries)
		}
	}
	if strings.Contains(entries, "unspecified") {
		t.Errorf("the timeline names an unspecified reason:\n%s", entries)
	}

	// 2. A parked delivery, requeued from the console.
	s.m.WaitQuiet(t)
	s.m.Gates["inventory"].Down()
	stuck := s.place(t, buyer, s.request(t, buyer, "DE", lines("MUG-1", 1)))
	ops := opsv1connect.NewOpsServiceClient(s.m.HTTP, s.m.URL)
	waitParked(t, ops, s.merchant, &opsv1.DeliveryFilter{}, 1)
	row := chromedp.CSS(fmt.Sprintf(`#parked-table tr:has(a[href="#/orders/%s"])`, stuck.GetId()))
	step("see it parked",
		chromedp.Click(chromedp.ID("nav-parked")),
		chromedp.WaitVisible(row),
	)
	shot("parked")
	if r := text(row); !strings.Contains(r, "order_placed") || !strings.Contains(r, "inventory") || !strings.Contains(r, "2") {
		t.Errorf("the parked row reads %q, want order → inventory order_placed after 2 attempts", r)
	}
	step("requeueing all that match asks first",
		chromedp.Click(chromedp.ID("requeue-all")),
		chromedp.WaitVisible(chromedp.ID("requeue-confirm")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#requeue-sample a[href="#/orders/%s"]`, stuck.GetId()))),
	)
	shot("parked-confirm")
	if q := now(`#requeue-count`); q != "1 parked delivery to requeue (every parked delivery):" {
		t.Errorf("the confirmation asks %q", q)
	}
	step("and keeping them parked changes nothing",
		chromedp.Click(chromedp.ID("requeue-no")),
		chromedp.WaitNotVisible(chromedp.ID("requeue-confirm")),
		chromedp.WaitVisible(row),
	)
	s.m.Gates["inventory"].Up()
	step("requeue it, with a reason",
		chromedp.Click(chromedp.ID("requeue-all")),
		chromedp.WaitVisible(chromedp.ID("requeue-yes")),
		chromedp.Click(chromedp.ID("requeue-yes")),
		// No reason: the field is marked and nothing starts.
		chromedp.WaitVisible(chromedp.CSS(`#requeue-reason.invalid`)),
		chromedp.SendKeys(chromedp.ID("requeue-reason"), "inventory is back"),
		chromedp.Click(chromedp.ID("requeue-yes")),
		chromedp.WaitVisible(chromedp.CSS(`#requeue-progress[data-state="done"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p#parked-table.empty`)),
	)
	shot("parked-requeued")
	if p := now(`#requeue-progress`); p != "1 of 1 requeued, 0 skipped: done" {
		t.Errorf("the requeue's progress reads %q", p)
	}
	step("see the order confirmed in the list",
		chromedp.Click(chromedp.ID("nav-orders")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders-table tr[data-order=%q][data-status="confirmed"]`, stuck.GetId()))),
	)
	shot("orders")

	// A parked delivery requeued from its order's timeline.
	s.m.WaitQuiet(t)
	s.m.Gates["inventory"].Down()
	stuck2 := s.place(t, buyer, s.request(t, buyer, "DE", lines("BEAN-1", 1)))
	waitParked(t, ops, s.merchant, &opsv1.DeliveryFilter{}, 1)
	parkedStep := chromedp.CSS(`#timeline tr.problem button.requeue`)
	step("see it parked on the timeline",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#/orders/%s"`, stuck2.GetId())),
		chromedp.WaitVisible(parkedStep),
	)
	shot("timeline-parked")
	if lane, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#waterfall .span.failed")?.closest(".lane").dataset.lane ?? ""`)); err != nil || lane != "inventory" {
		t.Errorf("the parked delivery is marked failed in lane %q (%v), want inventory's", lane, err)
	}
	s.m.Gates["inventory"].Up()
	step("requeue it from there",
		chromedp.Click(parkedStep),
		chromedp.Poll[chromedp.Void](`document.getElementById("timeline-result").textContent === "Requeued the order_placed delivery to inventory."`),
		chromedp.WaitVisible(chromedp.CSS(`#timeline-status[data-status="confirmed"]`)),
	)
	if err := chromedp.Do(ctx, chromedp.WaitNotPresent(parkedStep)); err != nil {
		t.Errorf("the requeued delivery still has its button: %v", err)
	}
	step("back to the list", chromedp.Click(chromedp.ID("nav-orders")), chromedp.WaitVisible(chromedp.ID("orders-table")))

	// Paging and search: ten more orders, ten a page.
	for range 10 {
		s.place(t, buyer, s.request(t, buyer, "DE", lines("BEAN-1", 1)))
	}
	s.m.WaitQuiet(t)
	count := func(want string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.getElementById("orders-count").textContent === %q`, want))
	}
	// set gives a field a value as typing or choosing would: the form
	// hears it.
	set := func(id, value string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
			`(e => { e.value = %q; e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })(document.getElementById(%q))`, value, id))
	}
	rows := func(n int) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelectorAll("#orders-table tbody tr").length === %d`, n))
	}
	step("ten a page",
		set("page-size", "10"),
		count("1–10 of 13 orders"),
		rows(10),
	)
	step("the next page",
		chromedp.Click(chromedp.ID("orders-next")),
		count("11–13 of 13 orders"),
		// The oldest three, newest first: the second stuck one, the stuck
		// one, the live one.
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders-table tr[data-order=%q]`, live.GetId()))),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders-table tr[data-order=%q]`, stuck.GetId()))),
	)
	shot("orders-page-2")
	if next, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("orders-next").disabled`)); err != nil || !next {
		t.Errorf("Next is enabled on the last page (%v)", err)
	}
	step("back to the first",
		chromedp.Click(chromedp.ID("orders-prev")),
		count("1–10 of 13 orders"),
	)
	step("search by the start of an id",
		chromedp.SendKeys(chromedp.ID("filter-id"), stuck.GetId()[:13]),
		count("1–1 of 1 orders"),
		rows(1),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders-table tr[data-order=%q]`, stuck.GetId()))),
	)
	shot("orders-search")
	step("search by SKU",
		set("filter-id", ""),
		chromedp.SendKeys(chromedp.ID("filter-sku"), "BEAN-1"),
		count("1–10 of 12 orders"),
		rows(10),
	)
	step("a search that matches nothing",
		chromedp.SendKeys(chromedp.ID("filter-customer"), "nobody"),
		count("0 of 0 orders"),
		chromedp.WaitVisible(chromedp.CSS(`p#orders-table.empty`)),
	)

	// One time zone throughout: UTC, or the operator's own.
	step("times in the operator's zone",
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			_, err := cdp.Call(ctx, tgt, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
			return err
		}),
		set("filter-customer", ""),
		set("filter-sku", ""),
		set("page-size", "50"),
		count("1–13 of 13 orders"),
		set("zone", "local"),
		// The table is drawn again in the new zone: its header says so.
		chromedp.Poll[chromedp.Void](`document.querySelector("#orders-table thead")?.textContent.includes("Placed (Asia/Tokyo)")`),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders-table tr[data-order=%q]`, stuck.GetId()))),
	)
	// The stuck order's placement, in the one zone and then the other:
	// nine hours apart.
	placed := func() time.Time {
		t.Helper()
		cell := now(fmt.Sprintf(`#orders-table tr[data-order=%q] td:nth-child(6)`, stuck.GetId()))
		at, err := time.Parse("2006-01-02 15:04:05.000", cell)
		if err != nil {
			t.Fatalf("placed: %v", err)
		}
		return at
	}
	inTokyo := placed()
	if head, clock := now(`#orders-table thead`), now(`#live`); !strings.Contains(head, "Placed (Asia/Tokyo)") || !strings.HasSuffix(clock, "Asia/Tokyo") {
		t.Errorf("with local time chosen, the orders' header reads %q and the clock %q; want Asia/Tokyo in both", head, clock)
	}
	shot("orders-local-time")
	step("and back to UTC",
		set("zone", "utc"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#orders-table thead")?.textContent.includes("Placed (UTC)")`),
	)
	if d := inTokyo.Sub(placed()); d != 9*time.Hour {
		t.Errorf("the stuck order was placed %v apart in Tokyo and UTC, want 9h", d)
	}
	got, err := s.orders.GetOrder(context.Background(), meshtest.WithToken(&orderv1.GetOrderRequest{OrderId: stuck.GetId()}, buyer.token))
	if err != nil || got.Msg.GetOrder().GetStatus() != confirmed {
		t.Errorf("the requeued order is %v (%v), want CONFIRMED", got.Msg.GetOrder().GetStatus(), err)
	}

	// 3. Stock per SKU: two sold, one BEAN-1 and one MUG-1.
	step("read the stock",
		chromedp.Click(chromedp.ID("nav-stock")),
		chromedp.WaitVisible(chromedp.CSS(`#stock-table tr[data-sku="MUG-1"]`)),
	)
	shot("stock")
	if r := text(`#stock-table tr[data-sku="MUG-1"]`); !strings.Contains(r, "MUG-1Product MUG-1401") {
		t.Errorf("MUG-1's row reads %q, want 4 available, 0 reserved, 1 sold", r)
	}
	// 4. Sales: the thirteen confirmed orders, a bar per day, the top
	// sellers.
	today := live.GetCreateTime().AsTime().UTC().Format(time.DateOnly)
	step("read the sales",
		chromedp.Click(chromedp.ID("nav-sales")),
		chromedp.WaitVisible(chromedp.CSS(`#sales-top tr[data-sku="BEAN-1"]`)),
	)
	shot("sales")

	if total := now(`#sales-total`); !strings.HasPrefix(total, "13 orders, 13 units, €") {
		t.Errorf("the sales total reads %q, want 13 orders and 13 units", total)
	}
	if r := now(`#sales-top tr[data-sku="BEAN-1"]`); !strings.HasPrefix(r, "BEAN-1Product BEAN-11212") {
		t.Errorf("BEAN-1's top-seller row reads %q, want 12 units in 12 orders", r)
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('#sales-days-table tr[data-day=%q] .bar').style.width`, today)))
	if err != nil || width != "100%" {
		t.Errorf("today's bar is %q wide (%v), want 100%%: the only day with sales", width, err)
	}
	// 5. A bulk cancel from the orders list: a customer's two orders, a dry
	// run, a reason, the progress, and the record on each order.
	fraud := s.customer(t, "console-fraud", cardOK)
	var frauds []string
	for range 2 {
		frauds = append(frauds, s.settle(t, fraud, s.place(t, fraud, s.request(t, fraud, "DE", lines("MUG-1", 1))).GetId()).GetId())
	}
	step("select a customer's orders",
		chromedp.Click(chromedp.ID("nav-orders")),
		chromedp.WaitVisible(chromedp.ID("orders-table")),
		chromedp.SendKeys(chromedp.ID("filter-customer"), "console-fraud"),
		count("1–2 of 2 orders"),
	)
	step("cancelling all that match asks first",
		chromedp.Click(chromedp.ID("orders-cancel-all")),
		chromedp.WaitVisible(chromedp.ID("bulk-cancel-yes")),
	)
	shot("bulk-cancel-confirm")
	if q, sample := now(`#bulk-cancel-count`), now(`#bulk-cancel-sample`); q != "2 orders to cancel (customer=console-fraud):" ||
		!strings.Contains(sample, frauds[0]) || !strings.Contains(sample, frauds[1]) {
		t.Errorf("the bulk cancel asks %q about %q", q, sample)
	}
	step("cancel them, with a reason",
		chromedp.SendKeys(chromedp.ID("bulk-cancel-reason"), "fraud ring"),
		chromedp.Click(chromedp.ID("bulk-cancel-yes")),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-cancel-progress[data-state="done"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders-table tr[data-order=%q][data-status="cancelled"]`, frauds[1]))),
	)
	shot("bulk-cancel-done")
	if p := now(`#bulk-cancel-progress`); p != "2 of 2 cancelled, 0 skipped: done" {
		t.Errorf("the bulk cancel's progress reads %q", p)
	}
	step("the action on the order's timeline",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#/orders/%s"`, frauds[0])),
		chromedp.WaitVisible(chromedp.CSS(`#timeline tr[data-kind="bulkAction"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#waterfall .lane[data-lane="operator"] .span`)),
		// A cancelled order offers no cancel form.
		chromedp.WaitNotVisible(chromedp.ID("cancel-form")),
	)
	shot("timeline-bulk")
	if r := now(`#timeline tr[data-kind="bulkAction"]`); !strings.Contains(r, "cancelled by mia: fraud ring") || !strings.Contains(r, "on 2 (customer=console-fraud)") {
		t.Errorf("the timeline's bulk step reads %q", r)
	}
	step("and among the bulk actions",
		chromedp.Click(chromedp.ID("nav-bulk")),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-table tbody tr[data-state="done"]`)),
	)
	shot("bulk")
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#bulk-table tbody tr")].map(r => r.cells[1].textContent + "|" + r.cells[4].textContent + "|" + r.cells[7].textContent)`)); err != nil ||
		!slices.Equal(n, []string{"cancel orders| 2 of 2|fraud ring", "requeue deliveries| 1 of 1|inventory is back"}) {
		t.Errorf("the bulk actions read %q (%v)", n, err)
	}
	step("back to the summary",
		chromedp.Click(chromedp.ID("nav-summary")),
		chromedp.WaitVisible(chromedp.CSS(`#summary-queues tr[data-queue="order-inventory"]`)),
	)
	if q := text(`#summary-queues tr[data-queue="order-inventory"]`); q != "orderinventory0–0" {
		t.Errorf("order → inventory reads %q in the summary, want nothing pending or parked", q)
	}
	// The charts: fifteen orders placed and confirmed in the last hour, the
	// two of them cancelled later; none open now; a bar per queue; the
	// busiest SKUs with their stock.
	shot("summary-charts")
	type tally struct{ Minutes, Placed, Confirmed, Rejected, Cancelled, Open int }
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[tally](`(() => {
		const groups = [...document.querySelectorAll("#chart-outcomes g[data-minute]")];
		const sum = (o) => [...document.querySelectorAll("#chart-outcomes rect[data-outcome=" + o + "]")].reduce((a, r) => a + Number(r.dataset.count), 0);
		return {Minutes: groups.length, Placed: groups.reduce((a, g) => a + Number(g.dataset.placed), 0),
			Confirmed: sum("confirmed"), Rejected: sum("rejected"), Cancelled: sum("cancelled"),
			Open: Number(document.getElementById("chart-open").dataset.last)};
	})()`))
	if want := (tally{60, 15, 15, 0, 2, 0}); err != nil || charts != want {
		t.Errorf("the charts read %+v (%v), want %+v", charts, err, want)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#chart-skus .hbar")].map(r => r.dataset.key + ": " + r.querySelector(".hbar-note").textContent)`))
	if want := []string{"BEAN-1: 12 units ordered; 88 available, 0 reserved", "MUG-1: 3 units ordered; 4 available, 0 reserved"}; err != nil || !slices.Equal(bars, want) {
		t.Errorf("the busiest SKUs read %q (%v), want %q", bars, err, want)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#chart-queues .hbar").length`)); err != nil || n != len(queuesOf(t, ops, s.merchant)) {
		t.Errorf("the queue chart has %d bars (%v), want one per queue", n, err)
	}

	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.stillTheSamePage === true`))
	if err != nil || !same {
		t.Errorf("the page reloaded along the way (marker %v, %v); the console must update in place", same, err)
	}
	if ex := exceptions(); len(ex) > 0 {
		t.Errorf("the console threw: %v", ex)
	}
	for _, line := range console() {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Failed to load") {
			t.Errorf("the browser refused part of the console: %s", line)
		}
	}

	// The link `make run` prints: the token in the fragment signs in, and
	// leaves the address at once.
	tab2, cancel2 := chromedp.NewContext(browser)
	defer cancel2()
	ctx2, cancelTimeout2 := context.WithTimeout(tab2, 30*time.Second)
	defer cancelTimeout2()
	if err := chromedp.Do(ctx2,
		chromedp.Navigate(s.m.URL+"/console/#token="+s.merchant),
		chromedp.WaitVisible(chromedp.CSS(`#summary-open`)),
	); err != nil {
		t.Fatalf("sign in by link: %v", err)
	}
	if href, err := chromedp.Run(ctx2, chromedp.Evaluate[string](`location.href`)); err != nil || strings.Contains(href, "token") {
		t.Errorf("the address still holds the token: %q (%v)", href, err)
	}
	// A token the mesh refuses sends the operator back to sign in, saying
	// why.
	if err := chromedp.Do(ctx2,
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem("ordermesh.token", "not-a-token"); location.hash = "#/stock"`),
		chromedp.WaitVisible(chromedp.ID("sign-in-error")),
	); err != nil {
		t.Fatalf("a refused token: %v", err)
	}
}

// queuesOf is the summary's queues, as the API gives them.
func queuesOf(t *testing.T, ops opsv1connect.OpsServiceClient, token string) []*opsv1.QueueStats {
	t.Helper()
	res, err := ops.GetSummary(context.Background(), meshtest.WithToken(&opsv1.GetSummaryRequest{}, token))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.GetQueues()
}
