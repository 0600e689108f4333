package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

// TestGoClientExample builds examples/go-client as a module of its own,
// outside the workspace (GOWORK=off, against gen/go through its replace),
// and runs it against a real mesh: a checkout over Connect and one over
// gRPC on h2c, each followed with WatchOrder to CONFIRMED.
func TestGoClientExample(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs("../examples/go-client")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "go-client")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build (GOWORK=off) in examples/go-client: %v\n%s", err, out)
	}

	m := meshtest.Start(t, nil)
	run := exec.CommandContext(ctx, bin)
	run.Env = append(os.Environ(), clientEnv(t, m, "go-merchant", "go-buyer")...)
	out, err := run.CombinedOutput()
	t.Logf("examples/go-client:\n%s", out)
	if err != nil {
		t.Fatalf("examples/go-client failed: %v", err)
	}
	for _, protocol := range []string{"connect", "grpc"} {
		if !strings.Contains(string(out), "checkout protocol="+protocol+" ") || !strings.Contains(string(out), "status=ORDER_STATUS_CONFIRMED") {
			t.Errorf("no confirmed checkout over %s in the output", protocol)
		}
	}

	// A token the mesh does not accept is refused, and the example says
	// so with the Connect code rather than a stack.
	bad := exec.CommandContext(ctx, bin)
	bad.Env = append(os.Environ(), "ORDERMESH_URL="+m.URL, "ORDERMESH_MERCHANT_TOKEN=not-a-token",
		"ORDERMESH_CUSTOMER_TOKEN=not-a-token", "ORDERMESH_CUSTOMER_ID=go-buyer")
	out, err = bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unauthenticated") {
		t.Errorf("with a bad token: err %v, output %q; want exit 1 and unauthenticated", err, out)
	}
}

// clientEnv is the environment the client examples and tests read: the
// mesh's URL, a merchant's and a customer's token, and the customer's id.
func clientEnv(t *testing.T, m *meshtest.Mesh, merchant, customer string) []string {
	t.Helper()
	return []string{
		"ORDERMESH_URL=" + m.URL,
		"ORDERMESH_MERCHANT_TOKEN=" + m.Token(t, merchant, auth.RoleMerchant),
		"ORDERMESH_CUSTOMER_TOKEN=" + m.Token(t, customer, auth.RoleCustomer),
		"ORDERMESH_CUSTOMER_ID=" + customer,
	}
}
