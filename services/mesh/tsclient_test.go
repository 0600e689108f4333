//go:build tsclient

package mesh_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/services/mesh/meshtest"
	"github.com/ordermesh/ordermesh/services/platform/auth"
)

// TestTypeScriptClient runs gen/ts/test with node's test runner against
// the whole mesh on a real server: Catalog calls over every protocol, and
// one checkout. `make test-ts` builds the package first.
func TestTypeScriptClient(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs("../../gen/ts")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", "index.js")); err != nil {
		t.Fatalf("the TypeScript package is not built (%v); run `make ts` first (`make test` does)", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	m := meshtest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "test/")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"ORDERMESH_URL="+m.URL,
		"ORDERMESH_MERCHANT_TOKEN="+m.Token(t, "mia", auth.RoleMerchant),
		"ORDERMESH_CUSTOMER_TOKEN="+m.Token(t, "cleo", auth.RoleCustomer),
		"ORDERMESH_CUSTOMER_ID=cleo",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("node --test failed: %v", err)
	}
}
