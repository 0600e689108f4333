//go:build tsclient

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

// TestTypeScriptClient runs gen/ts/test with node's test runner against
// the whole mesh on a real server: Catalog calls over every protocol, and
// one checkout. `make test-ts` builds the package first.
func TestTypeScriptClient(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs("../gen/ts")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", "index.js")); err != nil {
		t.Fatalf("the TypeScript package is not built (%v); run `make ts` first (`make test` does)", err)
	}
	packedClient(t) // dist is rebuilt by packing: read it only after
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	m := meshtest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "test/")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), clientEnv(t, m, "mia", "cleo")...)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("node --test failed: %v", err)
	}
}

// TestTypeScriptPackage installs @ordermesh/client as a user outside this
// repository would. The README's snippet runs in a project set up exactly
// as docs/clients.md says (its commands and its tsconfig.json, with the
// registry's latest TypeScript, @types/node and Connect-ES), after what
// the README's "A taste" does, and must print what that created. The
// checkout example is installed into scratch copies of examples/ts-client
// from the tarball `npm pack` makes and from a folder fresh from a clone
// (no node_modules, no dist) with --install-links, type-checked under
// --strict and run. Everything runs against a real mesh.
func TestTypeScriptPackage(t *testing.T) {
	t.Parallel()
	pkg, err := filepath.Abs("../gen/ts")
	if err != nil {
		t.Fatal(err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is not installed: %v", err)
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	run := func(dir string, env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s in %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), dir, err, tail(out, 4000))
		}
		return string(out)
	}
	tarball := packedClient(t)
	fresh := filepath.Join(tmp, "clone")
	copyTracked(t, pkg, fresh)

	m := meshtest.Start(t, nil)
	env := clientEnv(t, m, "ts-merchant", "ts-buyer")
	t.Run("readme", func(t *testing.T) {
		shop := filepath.Join(tmp, "docs")
		if err := os.MkdirAll(shop, 0o755); err != nil {
			t.Fatal(err)
		}
		setup, tsconfig := docsSetup(t, filepath.Base(tarball))
		// prefer-online: the registry's latest releases, not what npm's
		// cache last saw.
		run(shop, []string{"npm_config_prefer_online=true"}, "bash", "-euo", "pipefail", "-c", strings.ReplaceAll(setup, "../ordermesh/gen/"+filepath.Base(tarball), tarball))
		shop = filepath.Join(shop, "shop")
		if err := os.WriteFile(filepath.Join(shop, "tsconfig.json"), []byte(tsconfig), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shop, "first.ts"), []byte(readmeSnippet(t)), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("docs: installed typescript %s, @types/node %s, @connectrpc/connect %s", version(t, shop, "typescript"), version(t, shop, "@types/node"), version(t, shop, "@connectrpc/connect"))
		aTaste(t, m)
		run(shop, nil, "npx", "tsc")
		alice := []string{"ORDERMESH_URL=" + m.URL, "ORDERMESH_TOKEN=" + m.Token(t, "alice", auth.RoleCustomer)}
		got := run(shop, alice, "node", "dist/first.js")
		if !strings.Contains(got, "BEAN-1 Yirgacheffe whole beans") || !strings.Contains(got, "alice's cart: 2 x BEAN-1") {
			t.Errorf("the README snippet printed %q; want the product and the cart \"A taste\" made", got)
		}
		t.Logf("docs: %s", strings.TrimSpace(got))
	})
	for _, c := range []struct{ name, spec, flag string }{
		{"tarball", tarball, ""},
		{"folder", fresh, "--install-links"},
	} {
		app := filepath.Join(tmp, c.name)
		copyTracked(t, "../examples/ts-client", app)
		args := []string{"install", "--no-audit", "--no-fund", "--loglevel=error", "--prefer-online"}
		if c.flag != "" {
			args = append(args, c.flag)
		}
		args = append(args, c.spec, "@connectrpc/connect@latest", "@connectrpc/connect-node@latest",
			"@bufbuild/protobuf@latest", "typescript@latest", "@types/node@latest")
		run(app, nil, npm, args...)
		t.Logf("%s: installed @ordermesh/client %s with @connectrpc/connect %s, @bufbuild/protobuf %s, typescript %s", c.name,
			version(t, app, "@ordermesh/client"), version(t, app, "@connectrpc/connect"), version(t, app, "@bufbuild/protobuf"), version(t, app, "typescript"))
		run(app, nil, filepath.Join(app, "node_modules", ".bin", "tsc"), "-p", "tsconfig.json", "--strict")
		got := run(app, env, "node", "dist/checkout.js")
		if !strings.Contains(got, "status=CONFIRMED") || !strings.Contains(got, "total changed: expected_total: the order comes to") {
			t.Errorf("%s: the example printed %q, want a changed total read from the error detail, then a CONFIRMED checkout", c.name, got)
		}
		t.Logf("%s: tsc --strict passed; %s", c.name, strings.TrimSpace(got))
	}
}

// docsSetup is docs/clients.md's setup for a TypeScript project: the
// commands after the first (which packs the client: the test has packed
// it) and its tsconfig.json. The tarball the commands name must be the
// one `npm pack` makes now.
func docsSetup(t *testing.T, tarball string) (setup, tsconfig string) {
	t.Helper()
	doc, err := os.ReadFile("../docs/clients.md")
	if err != nil {
		t.Fatal(err)
	}
	sh := fenced(t, string(doc), "<!-- ts-setup", "sh")
	tsconfig = fenced(t, string(doc), "<!-- ts-config", "json")
	if !strings.Contains(sh, tarball) {
		t.Fatalf("docs/clients.md installs a tarball other than %s, the one npm pack makes:\n%s", tarball, sh)
	}
	lines := shellLines(sh)
	if len(lines) < 2 {
		t.Fatalf("docs/clients.md's TypeScript setup has no commands after the pack:\n%s", sh)
	}
	var cmds []string
	for _, line := range lines[1:] { // the first packs the client, which the test has done
		if !strings.HasPrefix(line, "npx tsc") { // the test builds and runs it itself
			cmds = append(cmds, line)
		}
	}
	return strings.Join(cmds, "\n"), tsconfig
}

// readmeSnippet is the TypeScript block that follows the ts-snippet
// marker in the README.
func readmeSnippet(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return fenced(t, string(readme), "<!-- ts-snippet", "ts")
}

func version(t *testing.T, app, pkg string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(app, "node_modules", pkg, "package.json"))
	if err != nil {
		t.Fatalf("%s is not installed: %v", pkg, err)
	}
	var p struct{ Version string }
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return p.Version
}

// packed is the tarball `npm pack` makes of gen/ts, made once per test
// binary. Packing rebuilds gen/ts/dist in place (the package's prepare
// script), so two packs at once, or a pack while node reads dist, see
// files half written. Every test that touches gen/ts takes it first.
var packed struct {
	once    sync.Once
	dir     string
	tarball string
	err     error
}

func packedClient(t *testing.T) string {
	t.Helper()
	packed.once.Do(func() {
		if packed.dir, packed.err = os.MkdirTemp("", "ordermesh-client-"); packed.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "pack", "--pack-destination", packed.dir, "--loglevel=error")
		cmd.Dir = "../gen/ts"
		out, err := cmd.CombinedOutput()
		if err != nil {
			packed.err = fmt.Errorf("npm pack in gen/ts: %w\n%s", err, tail(out, 4000))
			return
		}
		packed.tarball = filepath.Join(packed.dir, strings.TrimSpace(lastLine(string(out))))
		if !strings.HasSuffix(packed.tarball, ".tgz") {
			packed.err = fmt.Errorf("npm pack printed %q, not a tarball name", out)
		}
	})
	if packed.err != nil {
		t.Fatal(packed.err)
	}
	return packed.tarball
}

// TestMain removes the packed client after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if packed.dir != "" {
		_ = os.RemoveAll(packed.dir)
	}
	os.Exit(code)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
