package k8s_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const rulesDir = "../helm/ordermesh/rules"

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

type ruleTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Every alert has a summary, a runbook section that exists, and a unit
// test in which it fires.
func TestEveryAlertHasARunbookAndAFiringTest(t *testing.T) {
	var rules ruleFile
	readYAML(t, filepath.Join(rulesDir, "ordermesh.rules.yaml"), &rules)
	var tests ruleTests
	readYAML(t, filepath.Join(rulesDir, "ordermesh.rules.test.yaml"), &tests)
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			fires[a.Alertname] = fires[a.Alertname] || len(a.ExpAlerts) > 0
		}
	}
	runbook, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{2,3} (\S+)$`).FindAllStringSubmatch(string(runbook), -1) {
		anchors[strings.ToLower(m[1])] = true
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if r.Annotations["summary"] == "" {
				t.Errorf("%s has no summary", r.Alert)
			}
			_, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "docs/operations.md#")
			if !anchors[anchor] {
				t.Errorf("%s: runbook_url %q names no section of the runbook in docs/operations.md", r.Alert, r.Annotations["runbook_url"])
			}
			if !fires[r.Alert] {
				t.Errorf("%s has no unit test in which it fires", r.Alert)
			}
		}
	}
	if alerts < 9 {
		t.Errorf("%d alerts, want at least the 9 of the runbook in docs/operations.md", alerts)
	}
	t.Logf("%d alerts, each with a firing unit test and a runbook section", alerts)
}

// promtool checks the rules and runs their unit tests. It comes from
// Debian's prometheus package, which `make test` installs.
func TestRulesPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("ORDERMESH_REQUIRE_PROMETHEUS") != "" {
			t.Fatal("promtool is not installed; `make prometheus` installs it")
		}
		t.Skip("promtool is not installed; `make test` installs it")
	}
	for _, args := range [][]string{
		{"check", "rules", "ordermesh.rules.yaml"},
		{"test", "rules", "ordermesh.rules.test.yaml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}
}
