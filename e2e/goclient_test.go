package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	"github.com/ordermesh/ordermesh/app/shopper"
	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
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

// TestGoClientFromDocs follows docs/clients.md as a Go user outside this
// repository: a new module, the documented replace to this clone's gen/go
// (with GOWORK=off, as outside), the documented main.go, go mod tidy and
// go run, after the README's "A taste"; the program must print the
// product that made.
func TestGoClientFromDocs(t *testing.T) {
	t.Parallel()
	genGo, err := filepath.Abs("../gen/go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/clients.md")
	if err != nil {
		t.Fatal(err)
	}
	setup := fenced(t, string(doc), "<!-- go-setup", "sh")
	program := fenced(t, string(doc), "<!-- go-snippet", "go")
	var cmds []string
	for _, line := range shellLines(setup) {
		if !strings.HasPrefix(line, "git clone") { // this checkout is the clone
			cmds = append(cmds, strings.ReplaceAll(line, "=../ordermesh/gen/go", "="+genGo))
		}
	}
	if !slices.Contains(cmds, "go mod tidy") || !slices.Contains(cmds, "go run .") {
		t.Fatalf("docs/clients.md's Go setup lost go mod tidy or go run .:\n%s", setup)
	}
	shop := t.TempDir()
	if err := os.WriteFile(filepath.Join(shop, "main.go"), []byte(program), 0o644); err != nil {
		t.Fatal(err)
	}
	m := meshtest.Start(t, nil)
	aTaste(t, m)
	out := bash(t, shop, append(os.Environ(), "GOWORK=off", "GOFLAGS=", "ORDERMESH_URL="+m.URL, "ORDERMESH_TOKEN="+m.Token(t, "alice", auth.RoleCustomer)),
		strings.Join(cmds, "\n"))
	if !strings.Contains(out, "BEAN-1 Yirgacheffe whole beans") {
		t.Errorf("the documented program printed %q; want the product \"A taste\" created", out)
	}
	t.Logf("docs/clients.md's Go program: %s", strings.TrimSpace(out))
}

// aTaste does what the README's "A taste" does: a merchant creates
// BEAN-1, and Alice puts two in her cart.
func aTaste(t *testing.T, m *meshtest.Mesh) {
	t.Helper()
	ctx := context.Background()
	c := shopper.NewClients(m.URL)
	if _, err := c.Catalog.CreateProduct(ctx, shopper.With(&catalogv1.CreateProductRequest{
		Sku: "BEAN-1", Name: "Yirgacheffe whole beans", Category: "coffee-beans", WeightGrams: 250,
		Price: &commonv1.Money{AmountMinor: 1450, Currency: "EUR"},
	}, m.Token(t, "mia", auth.RoleMerchant))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Carts.AddItem(ctx, shopper.With(&cartv1.AddItemRequest{UserId: "alice", Sku: "BEAN-1", Quantity: 2}, m.Token(t, "alice", auth.RoleCustomer))); err != nil {
		t.Fatal(err)
	}
}

// fenced is the body of the first code block of language lang after
// marker in doc.
func fenced(t *testing.T, doc, marker, lang string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, marker)
	if blocks := codeBlocks(rest, lang); ok && len(blocks) > 0 {
		return blocks[0]
	}
	t.Fatalf("no ```%s block after %q", lang, marker)
	return ""
}

// codeBlocks are the bodies of the code blocks of language lang in text,
// in order.
func codeBlocks(text, lang string) []string {
	var blocks []string
	for {
		_, after, ok := strings.Cut(text, "```"+lang+"\n")
		if !ok {
			return blocks
		}
		body, rest, closed := strings.Cut(after, "```")
		if !closed {
			return blocks
		}
		blocks = append(blocks, body)
		text = rest
	}
}

// shellLines are a documented shell block's commands, one a line, without
// comments and blank lines.
func shellLines(block string) []string {
	var lines []string
	for line := range strings.SplitSeq(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
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

// copyTracked copies the files git tracks under src to dst, as a fresh
// clone has them: no node_modules, no build output.
func copyTracked(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "git", "-C", src, "ls-files", "--cached", "--others", "--exclude-standard", ".").Output()
	if err != nil {
		t.Fatalf("git ls-files %s: %v", src, err)
	}
	for _, f := range strings.Fields(string(out)) {
		info, err := os.Lstat(filepath.Join(src, f))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the working tree, not yet in the index
			}
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}
