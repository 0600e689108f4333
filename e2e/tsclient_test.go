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
// repository would, into a scratch copy of examples/ts-client with the
// newest Connect-ES, @bufbuild/protobuf and TypeScript from the registry:
// from the tarball `npm pack` makes, and from a folder fresh from a clone
// (no node_modules, no dist) with --install-links. Each time it
// type-checks the example and the README's snippet under --strict, then
// runs both against a real mesh.
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

	snippet := readmeSnippet(t)
	m := meshtest.Start(t, nil)
	env := clientEnv(t, m, "ts-merchant", "ts-buyer")
	for _, c := range []struct{ name, spec, flag string }{
		{"tarball", tarball, ""},
		{"folder", fresh, "--install-links"},
	} {
		app := filepath.Join(tmp, c.name)
		copyTracked(t, "../examples/ts-client", app)
		if err := os.WriteFile(filepath.Join(app, "readme.ts"), []byte(snippet), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"install", "--no-audit", "--no-fund", "--loglevel=error"}
		if c.flag != "" {
			args = append(args, c.flag)
		}
		args = append(args, c.spec, "@connectrpc/connect@latest", "@connectrpc/connect-node@latest",
			"@bufbuild/protobuf@latest", "typescript@latest", "@types/node@20")
		run(app, nil, npm, args...)
		t.Logf("%s: installed @ordermesh/client %s with @connectrpc/connect %s, @bufbuild/protobuf %s, typescript %s", c.name,
			version(t, app, "@ordermesh/client"), version(t, app, "@connectrpc/connect"), version(t, app, "@bufbuild/protobuf"), version(t, app, "typescript"))
		run(app, nil, filepath.Join(app, "node_modules", ".bin", "tsc"), "-p", "tsconfig.json", "--strict")
		got := run(app, env, "node", "dist/checkout.js")
		if !strings.Contains(got, "status=CONFIRMED") || !strings.Contains(got, "total changed: expected_total: the order comes to") {
			t.Errorf("%s: the example printed %q, want a changed total read from the error detail, then a CONFIRMED checkout", c.name, got)
		}
		t.Logf("%s: %s", c.name, strings.TrimSpace(got))
		got = run(app, env, "node", "dist/readme.js")
		if !strings.Contains(got, "orders") {
			t.Errorf("%s: the README snippet printed %q", c.name, got)
		}
		t.Logf("%s: tsc --strict passed; %s", c.name, strings.TrimSpace(got))
	}
}

// readmeSnippet is the TypeScript block that follows the ts-snippet
// marker in the README.
func readmeSnippet(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- ts-snippet")
	if ok {
		_, rest, ok = strings.Cut(rest, "```ts\n")
	}
	code, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("the README has no ```ts block after its ts-snippet marker")
	}
	var b strings.Builder
	for line := range strings.SplitSeq(code, "\n") {
		b.WriteString(strings.TrimPrefix(line, "  ") + "\n") // the block is indented in a list
	}
	return b.String()
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
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
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
