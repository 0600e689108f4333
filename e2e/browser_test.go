//go:build tsclient

package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

// TestBrowserCheckout builds examples/browser as a frontend developer
// would (the packed @ordermesh/client, the newest @connectrpc/connect-web,
// tsc --strict, an esbuild bundle) and drives the page in real headless
// Chromium, served from an origin of its own. Against a mesh with the
// default CORS settings (those of `make run`), the page lists the catalog,
// places an order and follows WatchOrder's stream to CONFIRMED; the test
// then reads the order and the stock back over Go. A mesh that lists the
// page's origin serves it too; one that lists only another origin is
// refused by the browser, and the page says so.
func TestBrowserCheckout(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	site := buildBrowserExample(t)
	page := httptest.NewServer(http.FileServer(http.Dir(site)))
	t.Cleanup(page.Close)

	browser := startBrowser(t, chromium)

	m := meshtest.Start(t, nil)
	sku := fmt.Sprintf("WEB-GRINDER-%d", time.Now().UnixNano())
	seedProduct(t, m, sku, 6900, 3)
	customer := "web-buyer"
	token := m.Token(t, customer, auth.RoleCustomer)

	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	console, exceptions := watchConsole(tab)
	ctx, cancelTimeout := context.WithTimeout(tab, 90*time.Second)
	defer cancelTimeout()

	item := chromedp.CSS(fmt.Sprintf(`li[data-sku=%q]`, sku))
	buy := item + " button"
	err := chromedp.Do(ctx,
		chromedp.Navigate(pageURL(page.URL, m.URL, customer, token)),
		chromedp.WaitVisible(buy),
		chromedp.Click(buy),
		chromedp.WaitVisible(chromedp.CSS(`body[data-done]`)),
	)
	if err != nil {
		body, _ := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`body`)))
		t.Fatalf("the page did not finish a checkout: %v\npage: %s\nconsole: %q", err, body, console())
	}
	text := func(sel chromedp.CSS) string { t.Helper(); return textOf(ctx, t, sel) }
	listed, status, history, total, orderID, shown := text(item), text(`#status`), text(`#history`), text(`#total`), text(`#order-id`), text(`#error`)
	doneAttr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`body`), "data-done"))
	if err != nil {
		t.Fatal(err)
	}
	done := doneAttr.Value
	t.Logf("listed %q; order %s total %s, history %q, done %s", listed, orderID, total, history, done)
	if !strings.Contains(listed, "€69.00") || !strings.Contains(listed, "3 in stock") {
		t.Errorf("the product is listed as %q, want its price and stock", listed)
	}
	if done != "CONFIRMED" || status != "CONFIRMED" || shown != "" {
		t.Errorf("the page ended with done=%q status=%q error=%q, want CONFIRMED and no error", done, status, shown)
	}
	if !strings.HasPrefix(history, "PENDING") || !strings.HasSuffix(history, "CONFIRMED") {
		t.Errorf("the streamed history is %q, want PENDING first and CONFIRMED last", history)
	}
	if ex := exceptions(); len(ex) > 0 {
		t.Errorf("the page threw: %v", ex)
	}

	// What the page showed is what the mesh holds.
	bg := context.Background()
	got, err := orderv1connect.NewOrderServiceClient(m.HTTP, m.URL).GetOrder(bg,
		meshtest.WithToken(&orderv1.GetOrderRequest{OrderId: orderID}, token))
	if err != nil {
		t.Fatalf("GetOrder %s: %v", orderID, err)
	}
	if got.Msg.GetOrder().GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED || got.Msg.GetOrder().GetUserId() != customer {
		t.Errorf("the mesh holds order %s as %v for %q", orderID, got.Msg.GetOrder().GetStatus(), got.Msg.GetOrder().GetUserId())
	}
	// Inventory sells the units when it applies OrderConfirmed, which is
	// delivered after the order is CONFIRMED: let the deliveries settle.
	m.WaitQuiet(t)
	stock, err := inventoryv1connect.NewInventoryServiceClient(m.HTTP, m.URL).GetStock(bg,
		meshtest.WithToken(&inventoryv1.GetStockRequest{Sku: sku}, token))
	if err != nil {
		t.Fatal(err)
	}
	if s := stock.Msg.GetStock(); s.GetAvailable() != 2 || s.GetSold() != 1 {
		t.Errorf("stock after the checkout: available %d sold %d, want 2 and 1", s.GetAvailable(), s.GetSold())
	}

	// CORS as an operator narrows it: the page's own origin is served,
	// another is refused by the browser before the page sees a byte.
	for _, c := range []struct {
		name   string
		origin string
		served bool
	}{
		{"page origin listed", page.URL, true},
		{"another origin listed", "https://shop.example", false},
	} {
		other := meshtest.Start(t, []string{"catalog", "inventory"}, func(cfg *mesh.Config) {
			cfg.Server.CORSOrigins = []string{c.origin}
		})
		seedProduct(t, other, sku, 6900, 3)
		tab, cancel := chromedp.NewContext(browser)
		ctx, cancelTimeout := context.WithTimeout(tab, 30*time.Second)
		err := chromedp.Do(ctx,
			chromedp.Navigate(pageURL(page.URL, other.URL, customer, token)),
			chromedp.Poll[chromedp.Void](`!document.getElementById("state").textContent.startsWith("Loading")`),
		)
		var state, shown string
		if err == nil {
			state, err = chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("state")))
		}
		if err == nil {
			shown, err = chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("error")))
		}
		cancelTimeout()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		t.Logf("%s: state %q, error %q", c.name, state, shown)
		if c.served && (state != "1 products" || shown != "") {
			t.Errorf("%s: the page shows %q and error %q, want the one product", c.name, state, shown)
		}
		if !c.served && (state != "Something went wrong." || !strings.Contains(shown, "does not allow calls from "+page.URL+" (CORS)")) {
			t.Errorf("%s: the page shows %q and error %q, want the browser's refusal shown", c.name, state, shown)
		}
	}
}

func pageURL(page, api, user, token string) string {
	q := url.Values{"api": {api}, "user": {user}}
	return page + "/index.html?" + q.Encode() + "#" + url.Values{"token": {token}}.Encode()
}

// seedProduct is the merchant's side: a product and its stock.
// textOf reads the text of the element sel selects, failing the test if
// there is none.
func textOf(ctx context.Context, t *testing.T, sel chromedp.CSS) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.TextContent(sel))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return v
}

func seedProduct(t *testing.T, m *meshtest.Mesh, sku string, priceMinor, available int64) {
	t.Helper()
	ctx := context.Background()
	merchant := m.Token(t, "web-merchant", auth.RoleMerchant)
	_, err := catalogv1connect.NewCatalogServiceClient(m.HTTP, m.URL).CreateProduct(ctx, meshtest.WithToken(&catalogv1.CreateProductRequest{
		Sku: sku, Name: "Hand grinder", Category: "grinders", WeightGrams: 700,
		Price: &commonv1.Money{AmountMinor: priceMinor, Currency: "EUR"},
	}, merchant))
	if err != nil {
		t.Fatalf("CreateProduct: %v", err)
	}
	_, err = inventoryv1connect.NewInventoryServiceClient(m.HTTP, m.URL).SetStock(ctx,
		meshtest.WithToken(&inventoryv1.SetStockRequest{Sku: sku, Available: available}, merchant))
	if err != nil {
		t.Fatalf("SetStock: %v", err)
	}
}

// findChromium returns Debian's chromium; `make test-ts` installs it.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatal("chromium is not installed; `make test-ts` installs Debian's chromium (scripts/chromium.sh), or set CHROMIUM")
	return ""
}

// buildBrowserExample installs the packed @ordermesh/client and the
// newest Connect-ES into a scratch copy of examples/browser, type-checks
// the page under --strict and bundles it with esbuild, as its README
// says. It returns the folder to serve.
func buildBrowserExample(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	run := func(dir, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, tail(out, 4000))
		}
		return string(out)
	}
	tarball := packedClient(t)
	app := filepath.Join(tmp, "browser")
	copyTracked(t, "../examples/browser", app)
	run(app, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", tarball,
		"@connectrpc/connect@latest", "@connectrpc/connect-web@latest", "@bufbuild/protobuf@latest",
		"typescript@latest", "esbuild@latest")
	t.Logf("browser: @ordermesh/client %s, @connectrpc/connect-web %s, @bufbuild/protobuf %s, typescript %s, esbuild %s",
		version(t, app, "@ordermesh/client"), version(t, app, "@connectrpc/connect-web"), version(t, app, "@bufbuild/protobuf"),
		version(t, app, "typescript"), version(t, app, "esbuild"))
	run(app, "npm", "run", "--silent", "check")
	run(app, "npm", "run", "--silent", "build")
	site := filepath.Join(app, "dist")
	for _, f := range []string{"index.html", "main.js"} {
		if _, err := os.Stat(filepath.Join(site, f)); err != nil {
			t.Fatalf("npm run build made no %s: %v", f, err)
		}
	}
	return site
}

// startBrowser starts headless Chromium for the test, with the flags a
// machine without outside network needs, and returns its context.
func startBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chromium, err)
	}
	return browser
}

// watchConsole records what the tab's page writes to its console and
// returns a function listing it, and one listing the exceptions the page
// threw.
func watchConsole(tab context.Context) (console, exceptions func() []string) {
	var mu sync.Mutex
	var all, thrown []string
	messages := chromedp.Console(tab)
	go func() {
		for msg, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			all = append(all, fmt.Sprintf("%s: %s", msg.Type, msg.Text))
			if msg.Type == chromedp.ConsoleException {
				thrown = append(thrown, msg.Text)
			}
			mu.Unlock()
		}
	}()
	list := func(l *[]string) func() []string {
		return func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), *l...)
		}
	}
	return list(&all), list(&thrown)
}
