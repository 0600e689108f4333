package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// TestReadmeWalk is a new user's first hour, from a fresh copy of this
// checkout (what git tracks, no build output, no tools built): `make run`
// with the mesh on ports that are not the default (ADDR and ADMIN_ADDR
// only: no service's *_URL), the README's "A taste" commands with the
// ORDERMESH_URL it says to export, the checkout script and the operator's
// commands with the exports the start-up banner prints; then `make
// reset` and all of it again, which must give the same results. The
// databases are the test's own (DATABASE_URL names them), never the ones
// a developer's `make run` uses.
func TestReadmeWalk(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "ordermesh")
	copyTracked(t, root, clone)
	taste := readmeTaste(t)

	// The databases: a name of the test's own per service, dropped at the
	// end (make reset drops them between the runs; make run creates them).
	probe := dbtest.New(t)
	var name string
	if err := probe.Pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	pattern := "walk_" + strings.TrimPrefix(name, "omtest_") + "_{service}"
	t.Cleanup(func() { dropWalkDatabases(t, probe, pattern) })
	port, admin := freePort(t), freePort(t)
	env := append(os.Environ(), "DATABASE_URL="+strings.Replace(probe.URL, "/"+name, "/"+pattern, 1),
		"ADDR=127.0.0.1:"+port, "ADMIN_ADDR=127.0.0.1:"+admin, "ORDERMESH_URL=", "ORDERMESH_TOKEN=")
	for _, s := range mesh.Services {
		env = append(env, mesh.EndpointEnv(s)+"=") // empty is unset to the configuration: what a fresh shell has
	}

	var results [2]string
	for run := range 2 {
		made := startMakeRun(t, clone, env, port)
		exports := regexp.MustCompile(`export ORDERMESH_URL=\S+ ORDERMESH_TOKEN=\S+`).FindString(made.banner)
		if !strings.Contains(exports, "http://localhost:"+port) {
			t.Fatalf("run %d: the banner has no exports for port %s:\n%s", run+1, port, made.banner)
		}
		script := strings.Join([]string{
			exports, // pasted from the banner first, as a user would
			strings.ReplaceAll(taste, "export ORDERMESH_URL=http://localhost:8080", "export ORDERMESH_URL=http://127.0.0.1:"+port),
		}, "\n")
		out := bash(t, clone, env, script)
		results[run] = normalise(out)
		t.Logf("run %d:\n%s", run+1, out)
		for _, want := range []string{"ordermesh.order.v1.OrderService", "BEAN-1", "status=ORDER_STATUS_CONFIRMED", "CONFIRMED"} {
			if !strings.Contains(out, want) {
				t.Errorf("run %d: the README's commands printed no %q", run+1, want)
			}
		}
		made.stop(t)
		bash(t, clone, env, "make -s reset")
	}
	if results[0] != results[1] {
		t.Errorf("the second run differs from the first (ids and times aside):\nfirst:\n%s\nsecond:\n%s", results[0], results[1])
	}
}

// readmeTaste is the README's shell from "A taste" to "Clients", as one
// script: the operator's "<order id>" is the checkout's.
func readmeTaste(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## A taste")
	section, _, ok2 := strings.Cut(rest, "## Clients")
	if !ok || !ok2 {
		t.Fatal("the README has no A taste section before Clients")
	}
	blocks := codeBlocks(section, "sh")
	if len(blocks) < 3 {
		t.Fatalf("A taste has %d shell blocks; want the calls, the checkout and the operator's", len(blocks))
	}
	script := strings.Join(blocks, "\n")
	script = regexp.MustCompile(`(?m)^scripts/bufcurl-checkout\.sh.*$`).ReplaceAllLiteralString(script,
		`checkout=$(scripts/bufcurl-checkout.sh); echo "$checkout"; ORDER=$(sed -n 's/.*order=\([^ ]*\).*/\1/p' <<<"$checkout")`)
	return strings.ReplaceAll(script, "<order id>", `"$ORDER"`)
}

// madeRun is a `make run` in its own process group, and what it printed
// up to serving.
type madeRun struct {
	cmd    *exec.Cmd
	done   chan error
	banner string
	once   sync.Once
}

// startMakeRun starts `make run` in dir and returns once the mesh answers
// on port; the test's end stops it if the test has not.
func startMakeRun(t *testing.T, dir string, env []string, port string) *madeRun {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "make", "run")
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &madeRun{cmd: cmd, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait(); _ = pw.Close() }()
	t.Cleanup(func() { r.stop(t) })

	serving := make(chan struct{})
	var mu sync.Mutex
	var seen strings.Builder
	go func() { // reads the whole log, so make never blocks on a full pipe
		s := bufio.NewScanner(pr)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		served := false
		for s.Scan() {
			mu.Lock()
			if seen.Len() < 1<<20 {
				seen.WriteString(s.Text() + "\n")
			}
			mu.Unlock()
			if !served && strings.Contains(s.Text(), `"msg":"serving"`) {
				served = true
				close(serving)
			}
		}
	}()
	log := func() string { mu.Lock(); defer mu.Unlock(); return seen.String() }
	select {
	case <-serving:
	case err := <-r.done:
		t.Fatalf("make run stopped (%v):\n%s", err, log())
	case <-time.After(10 * time.Minute): // a cold build takes minutes
		t.Fatalf("make run did not serve within 10 minutes:\n%s", log())
	}
	wait.Until(t, 30*time.Second, 100*time.Millisecond, func() error {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.0.0.1:"+port+"/readyz", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", res.Status)
		}
		return nil
	})
	r.banner = log()
	return r
}

// stop interrupts make and the mesh, as ^C does, and waits for them.
func (r *madeRun) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT)
		select {
		case err := <-r.done:
			t.Logf("make run stopped: %v", err) // interrupted: make reports the signal
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			t.Errorf("make run did not stop within 30 s of SIGINT: %v", <-r.done)
		}
	})
}

func bash(t *testing.T, dir string, env []string, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v in:\n%s\noutput:\n%s", err, script, out)
	}
	return string(out)
}

// varying is what differs between two runs by nature: ids, trace ids,
// times, durations, booking references.
var varying = []*regexp.Regexp{
	regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`),
	regexp.MustCompile(`\b[0-9a-f]{32}\b`),
	regexp.MustCompile(`\d{4}-\d\d-\d\dT[\d:.]+Z|\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?`),
	regexp.MustCompile(`"(id|etag|updateTime|createTime)": "[^"]*"`),
	regexp.MustCompile(`\b\d\d:\d\d:\d\d(\.\d+)?\b|\bbk_[0-9a-f]+`),
	regexp.MustCompile(`\b\d+(s|m|h|ms) ago\b|\b\d+(\.\d+)?(s|m|h|ms)\b`),
}

// normalise drops what differs between two runs by nature: the varying
// values, the tools' one-time build lines, column widths, a status
// change's note and the order of lines (a saga's steps interleave
// differently each time).
func normalise(out string) string {
	var lines []string
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "tools: ") || strings.HasPrefix(line, "building ") || strings.HasPrefix(line, "built ") {
			continue
		}
		for _, re := range varying {
			line = re.ReplaceAllString(line, "…")
		}
		fields := strings.Fields(line) // columns are as wide as their widest value
		if len(fields) > 4 && fields[1] == "+…" && fields[3] == strings.ToUpper(fields[3]) && !strings.Contains(line, "→") {
			// A status change in a timeline: the status, not its note,
			// which says which way the saga went this time ("RESERVED
			// stock reserved (seen through the payment)" when Payment's
			// event reached Order before Inventory's).
			fields = fields[:4]
		}
		lines = append(lines, strings.Join(fields, " "))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// dropWalkDatabases drops each service's database named by pattern.
func dropWalkDatabases(t *testing.T, probe *dbtest.Database, pattern string) {
	t.Helper()
	for _, s := range mesh.Services {
		name := pgx.Identifier{strings.ReplaceAll(pattern, "{service}", s)}.Sanitize()
		if _, err := probe.Pool.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	}
}
