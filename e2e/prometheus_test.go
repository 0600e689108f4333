package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// TestDashboardsAndAlertsAgainstPrometheus runs a real Prometheus that
// scrapes a real mesh, and loads the chart's rules. The mesh first goes
// through a scripted scenario: a checkout, a declined card, a carrier
// refusal, a parked delivery and an expiry. Then every dashboard query and
// every recording rule must parse and return data, and every alert must
// parse with each of its operands returning data, so that no panel or
// alert reads a series that does not exist.
func TestDashboardsAndAlertsAgainstPrometheus(t *testing.T) {
	t.Parallel()
	prometheus := prometheusBinary(t)
	s := newShopUntraced(t, func(c *mesh.Config) {
		c.Relay.MaxAttempts = 2
		c.Saga.OrderDeadline = 3 * time.Second
	})
	prom := scraping(t, prometheus, s)

	// The scenario: a checkout, a declined card, a carrier refusal and an
	// order out of stock.
	ok, declined := s.customer(t, "prom-ok", cardOK), s.customer(t, "prom-no", cardDeclined)
	for _, tc := range []struct {
		c       customer
		country string
		want    orderv1.OrderStatus
		source  *orderv1.PlaceOrderRequest_Lines
	}{
		{ok, "DE", confirmed, lines("BEAN-1", 1)},
		{declined, "DE", cancelled, lines("BEAN-1", 1)},
		{ok, "AQ", cancelled, lines("BEAN-1", 1)},
		{ok, "DE", rejected, lines("MUG-1", 50)},
	} {
		if o := s.settle(t, tc.c, s.place(t, tc.c, s.request(t, tc.c, tc.country, tc.source)).GetId()); o.GetStatus() != tc.want {
			t.Fatalf("%s to %s: %v, want %v", tc.c.id, tc.country, o.GetStatus(), tc.want)
		}
	}
	// Cart is down while an order confirms: its OrderConfirmed is parked.
	s.m.Gates["cart"].Down()
	s.settle(t, ok, s.place(t, ok, s.request(t, ok, "DE", lines("MUG-1", 1))).GetId())
	admin := eventsv1connect.NewEventAdminServiceClient(s.m.HTTP, s.m.URL+events.SinkPath("order"))
	wait.Until(t, 20*time.Second, 50*time.Millisecond, func() error {
		res, err := admin.ListParkedDeliveries(context.Background(), meshtest.WithToken(&eventsv1.ListParkedDeliveriesRequest{}, s.service))
		if err != nil || len(res.Msg.GetDeliveries()) == 0 {
			return fmt.Errorf("no delivery was parked (%w)", err)
		}
		return nil
	})
	// Inventory is down while an order waits: it expires.
	s.m.Gates["inventory"].Down()
	expired := s.settle(t, ok, s.place(t, ok, s.request(t, ok, "DE", lines("BEAN-1", 1))).GetId())
	if expired.GetReason() != orderv1.StatusReason_STATUS_REASON_EXPIRED {
		t.Fatalf("order %v %v, want CANCELLED EXPIRED", expired.GetStatus(), expired.GetReason())
	}
	s.m.Gates["inventory"].Up()

	queries := map[string]string{} // what → PromQL
	for what, expr := range dashboardQueries(t) {
		queries[what] = expr
	}
	var rules ruleFile
	raw, err := os.ReadFile("../helm/ordermesh/rules/ordermesh.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				queries["rule "+r.Record] = r.Record // its recorded series
				continue
			}
			alerts++
			if _, err := prom.query(r.Expr); err != nil {
				t.Errorf("alert %s does not run: %v", r.Alert, err)
			}
			for i, operand := range operands(r.Expr) {
				queries[fmt.Sprintf("alert %s operand %d", r.Alert, i+1)] = operand
			}
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rule health: %s", prom.get("/api/v1/rules"))
		}
	})
	prom.allAnswer(t, queries)
	t.Logf("%d dashboard and rule queries and %d alerts ran against Prometheus", len(queries), alerts)
}

// TestDashboardsAfterOneCheckout: on a mesh that has just started and
// served one checkout, every dashboard panel has data. Counters the
// panels divide or rate start at 0, so a quiet series reads 0, not
// nothing.
func TestDashboardsAfterOneCheckout(t *testing.T) {
	t.Parallel()
	prometheus := prometheusBinary(t)
	s := newShopUntraced(t)
	prom := scraping(t, prometheus, s)
	ok := s.customer(t, "prom-one", cardOK)
	if o := s.settle(t, ok, s.place(t, ok, s.request(t, ok, "DE", lines("BEAN-1", 1))).GetId()); o.GetStatus() != confirmed {
		t.Fatalf("checkout: %v, want CONFIRMED", o.GetStatus())
	}
	queries := dashboardQueries(t)
	prom.allAnswer(t, queries)
	t.Logf("%d dashboard queries answered after one checkout", len(queries))
}

// prometheusBinary is the prometheus on PATH; without one the test is
// skipped, or fails where ORDERMESH_REQUIRE_PROMETHEUS says it must run.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("ORDERMESH_REQUIRE_PROMETHEUS") != "" {
			t.Fatal("prometheus is not installed; `make prometheus` installs it")
		}
		t.Skip("prometheus is not installed; `make test` installs it")
	}
	return bin
}

// scraping starts a Prometheus that scrapes s's /metrics and waits for its
// first scrape: Prometheus hands new targets to its scrapers every 5 s, and
// a scenario's counters must be seen rising from it.
func scraping(t *testing.T, bin string, s *shop) *promServer {
	t.Helper()
	metricsSrv := httptest.NewServer(s.m.Metrics)
	t.Cleanup(metricsSrv.Close)
	prom := startPrometheus(t, bin, metricsSrv.Listener.Addr().String())
	prom.waitFor("up", 30*time.Second)
	return prom
}

// allAnswer asks every query (what → PromQL) until each runs and returns
// data, or fails after 30 s with those that do not: rates need two scrapes
// after a scenario, and recorded series a rule evaluation after that.
func (p *promServer) allAnswer(t *testing.T, queries map[string]string) {
	t.Helper()
	wait.Until(t, 30*time.Second, 500*time.Millisecond, func() error {
		var failures []string
		for what, q := range queries {
			n, err := p.query(q)
			switch {
			case err != nil:
				failures = append(failures, fmt.Sprintf("%s: %v\n  %s", what, err, q))
			case n == 0:
				failures = append(failures, fmt.Sprintf("%s returns no data\n  %s", what, q))
			}
		}
		if len(failures) > 0 {
			slices.Sort(failures)
			return fmt.Errorf("%d of %d queries fail:\n%s", len(failures), len(queries), strings.Join(failures, "\n"))
		}
		return nil
	})
}

// get returns the body of a GET of path, for diagnosis.
func (p *promServer) get(path string) string {
	res, err := http.Get(p.url + path)
	if err != nil {
		return err.Error()
	}
	defer func() { _ = res.Body.Close() }()
	var b strings.Builder
	_, _ = io.Copy(&b, res.Body)
	return b.String()
}

type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert  string `json:"alert"`
			Record string `json:"record"`
			Expr   string `json:"expr"`
		} `json:"rules"`
	} `json:"groups"`
}

// dashboardQueries returns every Prometheus query of the chart's
// dashboards, with Grafana's variables as "All" would set them.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../helm/ordermesh/dashboards/*.json")
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer(`$__rate_interval`, `1m`, `"$namespace"`, `".*"`, `"$job"`, `".*"`)
	out := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				if q.Expr != "" && (p.Datasource == nil || p.Datasource.Type == "prometheus") {
					out[fmt.Sprintf("%s: %q %s", filepath.Base(f), p.Title, q.RefID)] = vars.Replace(q.Expr)
				}
			}
		}
	}
	if len(out) < 30 {
		t.Fatalf("found %d dashboard queries, want the chart's 30 or more", len(out))
	}
	return out
}

// operands splits an alert's expression at its top-level comparison and
// set operators (and, or, unless, >, <, ==, ...) and returns the operands
// that read a series: each must have data for the alert to mean anything.
func operands(expr string) []string {
	var out []string
	var split func(string)
	split = func(e string) {
		e = strings.TrimSpace(e)
		for strings.HasPrefix(e, "(") && closing(e, 0) == len(e)-1 {
			e = strings.TrimSpace(e[1 : len(e)-1])
		}
		parts := topLevel.Split(maskNested(e), -1)
		if len(parts) == 1 {
			e = strings.TrimSpace(modifier.ReplaceAllString(e, ""))
			if series.MatchString(e) {
				out = append(out, e)
			}
			return
		}
		// Split the original at the same offsets as the masked copy.
		pos := 0
		masked := maskNested(e)
		for _, loc := range topLevel.FindAllStringIndex(masked, -1) {
			split(e[pos:loc[0]])
			pos = loc[1]
		}
		split(e[pos:])
	}
	split(expr)
	return out
}

var (
	topLevel = regexp.MustCompile(`\s(and|or|unless)\s|\s*(>=|<=|==|!=|>|<)\s*`)
	modifier = regexp.MustCompile(`^(on|ignoring)\s*\([^)]*\)\s*(group_left|group_right)?\s*(\([^)]*\))?`)
	series   = regexp.MustCompile(`[a-z_:]+[a-z0-9_:]*\s*[\[{(]|^[a-z_:][a-z0-9_:]*$`)
)

// maskNested replaces what is inside brackets, braces and quotes with
// underscores, so that operators there are not seen as top-level.
func maskNested(e string) string {
	b := []byte(e)
	depth, quoted := 0, false
	for i, c := range b {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
			b[i] = '_'
		case c == '(' || c == '{' || c == '[':
			depth++
		case c == ')' || c == '}' || c == ']':
			depth--
		case depth > 0:
			b[i] = '_'
		}
	}
	return string(b)
}

// closing returns the index of the bracket that closes the one at open.
func closing(e string, open int) int {
	depth := 0
	for i := open; i < len(e); i++ {
		switch e[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

type promServer struct {
	t   *testing.T
	url string
}

// startPrometheus runs a Prometheus that scrapes target every second as
// job "ordermesh" in namespace "shop" and evaluates the chart's rules.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs("../helm/ordermesh/rules/ordermesh.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: ordermesh
    static_configs:
      - targets: [%q]
        labels: {namespace: shop}
`, rules, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus said:\n%s", logs.String())
		}
	})
	p := &promServer{t: t, url: "http://" + addr}
	wait.Until(t, 30*time.Second, 100*time.Millisecond, func() error {
		res, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return fmt.Errorf("prometheus is not ready: %w\n%s", err, logs.String())
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("prometheus is not ready: %s\n%s", res.Status, logs.String())
		}
		return nil
	})
	return p
}

// waitFor waits until q returns data.
func (p *promServer) waitFor(q string, timeout time.Duration) {
	p.t.Helper()
	wait.Until(p.t, timeout, 200*time.Millisecond, func() error {
		if n, err := p.query(q); err != nil || n == 0 {
			return fmt.Errorf("prometheus: %s has no data (%w)", q, err)
		}
		return nil
	})
}

// query runs an instant query and returns how many series it returned.
func (p *promServer) query(q string) (int, error) {
	res, err := http.PostForm(p.url+"/api/v1/query", url.Values{"query": {q}})
	if err != nil {
		return 0, err
	}
	defer func() { _ = res.Body.Close() }()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return 0, err
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("prometheus: %s", body.Error)
	}
	var result []any
	if err := json.Unmarshal(body.Data.Result, &result); err != nil {
		return 1, nil
	}
	return len(result), nil
}
