package e2e_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dashboard holds the fields Grafana needs to import a dashboard.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		GridPos     *struct{ X, Y, W, H int } `json:"gridPos"`
		FieldConfig struct {
			Defaults struct {
				NoValue string `json:"noValue"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
		Targets []struct {
			RefID      string `json:"refId"`
			Expr       string `json:"expr"`
			Query      string `json:"query"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

var metricName = regexp.MustCompile(`\b(ordermesh_[a-z0-9_]+|go_[a-z0-9_]+|process_[a-z0-9_]+)\b`)

// After real checkouts (one confirmed, one declined, one refused by the
// carrier), every metric any dashboard queries is exported, and every
// dashboard is valid JSON with the fields Grafana requires.
func TestDashboardsQueryExportedMetrics(t *testing.T) {
	t.Parallel()
	s := newShopUntraced(t)
	ok, no := s.customer(t, "dash-ok", cardOK), s.customer(t, "dash-no", cardDeclined)
	s.settle(t, ok, s.place(t, ok, s.request(t, ok, "DE", lines("BEAN-1", 1))).GetId())
	s.settle(t, no, s.place(t, no, s.request(t, no, "DE", lines("BEAN-1", 1))).GetId())
	s.settle(t, ok, s.place(t, ok, s.request(t, ok, "AQ", lines("MUG-1", 1))).GetId())
	s.settle(t, ok, s.place(t, ok, s.request(t, ok, "DE", lines("MUG-1", 50))).GetId())
	s.m.WaitQuiet(t)

	rec := httptest.NewRecorder()
	s.m.Metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	exported := map[string]bool{}
	sc := bufio.NewScanner(rec.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		exported[name] = true
	}
	if !exported["ordermesh_rpc_requests_total"] {
		t.Fatalf("/metrics does not look like ordermesh's:\n%.2000s", rec.Body.String())
	}

	files, err := filepath.Glob("../helm/ordermesh/dashboards/*.json")
	if err != nil || len(files) != 5 {
		t.Fatalf("dashboards = %v (%v), want the 5 of the chart", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var d dashboard
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			if err := dec.Decode(&d); err != nil {
				t.Fatalf("not valid JSON: %v", err)
			}
			if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 || len(d.Panels) == 0 {
				t.Fatalf("missing uid, title, schemaVersion or panels: %+v", d)
			}
			vars := map[string]bool{}
			for _, v := range d.Templating.List {
				vars[v.Name] = true
			}
			ids := map[int]bool{}
			for _, p := range d.Panels {
				if p.Type == "" || p.Title == "" || p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 || ids[p.ID] || p.ID == 0 {
					t.Errorf("panel %d %q lacks a type, title, unique id or gridPos", p.ID, p.Title)
				}
				ids[p.ID] = true
				if p.Datasource == nil || !strings.HasPrefix(p.Datasource.UID, "${") || !vars[strings.Trim(p.Datasource.UID, "${}")] {
					t.Errorf("panel %q: datasource %+v must be a template variable of the dashboard, not a fixed uid", p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				// A panel with nothing to show yet (a just-started mesh,
				// a backend with no data) says so instead of "No data".
				if p.FieldConfig.Defaults.NoValue == "" {
					t.Errorf("panel %q has no noValue text for when there is no data yet", p.Title)
				}
				for _, q := range p.Targets {
					if q.RefID == "" || (q.Expr == "" && q.Query == "" && p.Type != "flamegraph") {
						t.Errorf("panel %q: query %q has no refId or expression", p.Title, q.RefID)
					}
					for _, name := range metricName.FindAllString(q.Expr, -1) {
						if !exported[name] {
							t.Errorf("panel %q queries %s, which /metrics does not export", p.Title, name)
						}
					}
				}
			}
		})
	}
	var names []string
	for n := range exported {
		if strings.HasPrefix(n, "ordermesh_") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	t.Logf("ordermesh metrics exported: %v", names)
}
