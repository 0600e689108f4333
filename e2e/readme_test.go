package e2e_test

import (
	"bufio"
	"bytes"
	"context"
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

	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
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
	base := strings.Replace(probe.URL, "/"+name, "/walk_"+strings.TrimPrefix(name, "omtest_")+"_{service}", 1)
	t.Cleanup(func() { dropWalkDatabases(t, probe, base) })
	port, admin := freePort(t), freePort(t)
	env := append(os.Environ(), "DATABASE_URL="+base, "ADDR=127.0.0.1:"+port, "ADMIN_ADDR=127.0.0.1:"+admin, "ORDERMESH_URL=", "ORDERMESH_TOKEN=")
	for _, v := range []string{"CATALOG_URL", "CART_URL", "ORDER_URL", "INVENTORY_URL", "PAYMENT_URL"} {
		env = append(env, v+"=") // empty is unset to the configuration: what a fresh shell has
	}

	var results [2]string
	for run := range 2 {
		banner := startMakeRun(t, clone, env, port)
		exports := regexp.MustCompile(`export ORDERMESH_URL=\S+ ORDERMESH_TOKEN=\S+`).FindString(banner)
		if !strings.Contains(exports, "http://localhost:"+port) {
			t.Fatalf("run %d: the banner has no exports for port %s:\n%s", run+1, port, banner)
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
		stopMakeRun(t)
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
	var blocks []string
	for {
		_, after, ok := strings.Cut(section, "```sh\n")
		if !ok {
			break
		}
		body, after2, _ := strings.Cut(after, "```")
		blocks = append(blocks, body)
		section = after2
	}
	if len(blocks) < 3 {
		t.Fatalf("A taste has %d shell blocks; want the calls, the checkout and the operator's", len(blocks))
	}
	script := strings.Join(blocks, "\n")
	script = regexp.MustCompile(`(?m)^scripts/bufcurl-checkout\.sh.*$`).ReplaceAllLiteralString(script,
		`checkout=$(scripts/bufcurl-checkout.sh); echo "$checkout"; ORDER=$(sed -n 's/.*order=\([^ ]*\).*/\1/p' <<<"$checkout")`)
	return strings.ReplaceAll(script, "<order id>", `"$ORDER"`)
}

var makeRun struct {
	sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

// startMakeRun starts `make run` in dir and returns its output up to the
// banner's end, once the mesh answers on port.
func startMakeRun(t *testing.T, dir string, env []string, port string) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "make", "run")
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); _ = pw.Close() }()
	makeRun.Lock()
	makeRun.cmd, makeRun.done = cmd, done
	makeRun.Unlock()
	t.Cleanup(func() { stopMakeRun(t) })

	var seen bytes.Buffer
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(pr)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	deadline := time.After(10 * time.Minute) // a cold build takes minutes
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("make run stopped:\n%s", seen.String())
			}
			seen.WriteString(line + "\n")
			if strings.Contains(line, `"msg":"serving"`) {
				go func() { // drain the rest of the log
					for range lines {
					}
				}()
				waitReady(t, "http://127.0.0.1:"+port)
				return seen.String()
			}
		case <-deadline:
			t.Fatalf("make run did not serve within 10 minutes:\n%s", seen.String())
		}
	}
}

func stopMakeRun(t *testing.T) {
	t.Helper()
	makeRun.Lock()
	defer makeRun.Unlock()
	if makeRun.cmd == nil {
		return
	}
	_ = syscall.Kill(-makeRun.cmd.Process.Pid, syscall.SIGINT)
	select {
	case err := <-makeRun.done:
		t.Logf("make run stopped: %v", err) // interrupted: make reports the signal
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-makeRun.cmd.Process.Pid, syscall.SIGKILL)
		t.Errorf("make run did not stop within 30 s of SIGINT: %v", <-makeRun.done)
	}
	makeRun.cmd = nil
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	for range 300 {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url+"/readyz", nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", url)
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

// normalise drops what differs between two runs by nature: ids, times,
// the tools' one-time build lines, and the order of lines (a saga's steps
// interleave differently each time).
func normalise(out string) string {
	var keep []string
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "tools: ") || strings.HasPrefix(line, "building ") || strings.HasPrefix(line, "built ") {
			continue
		}
		keep = append(keep, line)
	}
	s := strings.Join(keep, "\n")
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`),
		regexp.MustCompile(`\d{4}-\d\d-\d\dT[\d:.]+Z|\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?`),
		regexp.MustCompile(`"(id|etag|updateTime|createTime)": "[^"]*"`),
		regexp.MustCompile(`\b\d\d:\d\d:\d\d(\.\d+)?\b|\bbk_[0-9a-f]+`),
		regexp.MustCompile(`\b\d+(s|m|h|ms) ago\b|\b\d+(\.\d+)?(s|m|h|ms)\b`),
	} {
		s = re.ReplaceAllString(s, "…")
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ") // columns are as wide as their widest value
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

func dropWalkDatabases(t *testing.T, probe *dbtest.Database, base string) {
	t.Helper()
	for _, s := range []string{"catalog", "cart", "order", "inventory", "payment"} {
		u := strings.ReplaceAll(base, "{service}", s)
		name := u[strings.LastIndex(u, "/")+1:]
		name, _, _ = strings.Cut(name, "?")
		if _, err := probe.Pool.Exec(context.Background(), `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	}
}
