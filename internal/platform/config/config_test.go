package config_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordermesh/ordermesh/internal/platform/config"
)

type sample struct {
	Addr    string        `env:"ADDR" default:":8080"`
	Timeout time.Duration `env:"TIMEOUT" default:"5s"`
	Workers int           `env:"WORKERS" default:"4"`
	Debug   bool          `env:"DEBUG" default:"false"`
	Peers   []string      `env:"PEERS"`
	Key     string        `env:"KEY" secret:"true"`
	Nested  struct {
		URL string `env:"NESTED_URL" default:"postgres://x"`
	}
}

func lookup(m map[string]string) config.Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	var got sample
	err := config.LoadFrom(lookup(map[string]string{
		"WORKERS": "9", "PEERS": "a, b,,c", "KEY": "s3cret", "DEBUG": "true",
	}), &got)
	if err != nil {
		t.Fatalf("LoadFrom: %v", err)
	}
	want := sample{Addr: ":8080", Timeout: 5 * time.Second, Workers: 9, Debug: true, Peers: []string{"a", "b", "c"}, Key: "s3cret"}
	want.Nested.URL = "postgres://x"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadReportsEveryBadValue(t *testing.T) {
	t.Parallel()
	var got sample
	err := config.LoadFrom(lookup(map[string]string{"TIMEOUT": "soon", "WORKERS": "many"}), &got)
	if err == nil {
		t.Fatal("LoadFrom accepted malformed values")
	}
	for _, name := range []string{"TIMEOUT", "WORKERS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	t.Parallel()
	cfg := sample{Key: "s3cret", Addr: ":1"}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("cfg", "config", config.LogValue(cfg))
	if strings.Contains(b.String(), "s3cret") {
		t.Errorf("secret leaked into log line: %s", b.String())
	}
	if !strings.Contains(b.String(), "config.KEY=***") || !strings.Contains(b.String(), "config.ADDR=:1") {
		t.Errorf("log line lacks masked key or address: %s", b.String())
	}
}
