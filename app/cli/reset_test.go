package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
)

// `ordermesh reset` refuses while a database is in use, dropping none of
// them, and drops them all once nobody is connected.
func TestResetDropsIdleDatabasesOnly(t *testing.T) {
	t.Parallel()
	var cfg mesh.Config
	dbs := map[string]*dbtest.Database{"catalog": dbtest.New(t), "order": dbtest.New(t)}
	for svc, d := range dbs {
		cfg.SetDatabaseURL(svc, d.URL)
		if err := d.Pool.Ping(context.Background()); err != nil { // hold a connection, as a running mesh does
			t.Fatal(err)
		}
	}
	services := []string{"catalog", "order"}
	var out, errOut bytes.Buffer
	if code := reset(cfg, services, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "in use") || !strings.Contains(errOut.String(), "stop `make run`") {
		t.Fatalf("reset while in use = exit %d, %q; want 1 and a refusal that says why", code, errOut.String())
	}
	for svc, d := range dbs {
		if _, exists, err := db.Sessions(context.Background(), d.URL); err != nil || !exists {
			t.Errorf("after a refused reset, %s's database exists = %v (%v); want it kept", svc, exists, err)
		}
	}

	dbs["order"].Pool.Close() // one idle database is not enough: nothing is dropped
	errOut.Reset()
	if code := reset(cfg, services, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "catalog") {
		t.Fatalf("reset with catalog in use = exit %d, %q", code, errOut.String())
	}
	if _, exists, _ := db.Sessions(context.Background(), dbs["order"].URL); !exists {
		t.Error("a refused reset dropped order's idle database")
	}

	dbs["catalog"].Pool.Close()
	out.Reset()
	if code := reset(cfg, services, &out, &errOut); code != 0 || !strings.Contains(out.String(), "dropped the databases of catalog, order") {
		t.Fatalf("reset = exit %d, %q, %q; want both dropped", code, out.String(), errOut.String())
	}
	for svc, d := range dbs {
		if _, exists, err := db.Sessions(context.Background(), d.URL); err != nil || exists {
			t.Errorf("after reset, %s's database exists = %v (%v)", svc, exists, err)
		}
	}
	out.Reset()
	if code := reset(cfg, services, &out, &errOut); code != 0 || !strings.Contains(out.String(), "nothing to drop") {
		t.Errorf("a second reset = exit %d, %q; want nothing to drop", code, out.String())
	}
}
