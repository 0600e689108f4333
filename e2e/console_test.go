//go:build tsclient

package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1/opsv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
)

// TestConsole drives the operator's web console, as the mesh serves it at
// /console/, in real headless Chromium:
//   - sign in by pasting a merchant's token;
//   - watch an order go PENDING → CONFIRMED on its timeline without a
//     reload (Inventory's deliveries are held, then let through);
//   - with Inventory down, see the order's OrderPlaced parked after its two
//     attempts, requeue it with the button once Inventory is back, and see
//     the order confirmed in the orders list;
//   - read the summary and the stock.
//
// It saves a screenshot of each view under .build/console/.
func TestConsole(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t, findChromium(t))
	s := newShop(t, func(c *mesh.Config) { c.Relay.MaxAttempts = 2 })
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
	s.m.Gates["inventory"].Up()
	step("requeue it",
		chromedp.Click(row+" button.requeue"),
		chromedp.Poll[chromedp.Void](`document.getElementById("requeue-result").textContent === "Requeued 1."`),
		chromedp.WaitVisible(chromedp.CSS(`p#parked-table.empty`)),
	)
	step("see the order confirmed in the list",
		chromedp.Click(chromedp.ID("nav-orders")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders-table tr[data-order=%q][data-status="confirmed"]`, stuck.GetId()))),
	)
	shot("orders")
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
	step("back to the summary",
		chromedp.Click(chromedp.ID("nav-summary")),
		chromedp.WaitVisible(chromedp.CSS(`#summary-queues tr[data-queue="order-inventory"]`)),
	)
	if q := text(`#summary-queues tr[data-queue="order-inventory"]`); q != "orderinventory0–0" {
		t.Errorf("order → inventory reads %q in the summary, want nothing pending or parked", q)
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
