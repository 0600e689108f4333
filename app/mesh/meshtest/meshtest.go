// Package meshtest starts real ordermesh services for end-to-end tests: a
// real HTTP server on a loopback port, each service on its own fresh
// database, and tokens signed with the test key. Tests call it through the
// generated clients over Connect, gRPC or gRPC-Web.
package meshtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/app/components"
	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/config"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
	"github.com/ordermesh/ordermesh/internal/platform/logging"
	"github.com/ordermesh/ordermesh/internal/platform/rpcclient"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
	"github.com/ordermesh/ordermesh/services/inventory"
	"github.com/ordermesh/ordermesh/services/order"
)

// SigningKey signs the test tokens.
const SigningKey = "meshtest-signing-key-0123456789"

// Mesh is a running set of services.
type Mesh struct {
	// URL is the server's base URL.
	URL string
	// Config is the configuration the services run with.
	Config mesh.Config
	// Databases holds each service's database, by service name.
	Databases map[string]*dbtest.Database
	// HTTP is an h2c client for the server.
	HTTP *http.Client
	// Gates stand in front of each service's endpoint, by service name:
	// services reach each other, and deliver events, through them.
	Gates map[string]*Gate
	// Metrics serves the process's /metrics.
	Metrics http.Handler

	logs *logBuffer
}

// LogLines returns every line the services logged at info and above, each
// decoded from its JSON.
func (m *Mesh) LogLines(t testing.TB) []map[string]any {
	t.Helper()
	return m.logs.decode(t)
}

// Option changes the configuration before the mesh starts.
type Option func(*mesh.Config)

// Start runs services (all five when none are named) until the test ends.
func Start(t testing.TB, services []string, opts ...Option) *Mesh {
	t.Helper()
	return StartTraced(t, services, nil, opts...)
}

// StartTraced is Start with each service tracing through its provider in
// tel.
func StartTraced(t testing.TB, services []string, tel *telemetry.Telemetry, opts ...Option) *Mesh {
	t.Helper()
	comps, ok := components.Named(services...)
	if !ok {
		t.Fatalf("meshtest: unknown service among %v (known: %v)", services, mesh.Services)
	}
	cfg := mesh.NewConfig(components.All...)
	if err := config.LoadFrom(func(string) (string, bool) { return "", false }, &cfg); err != nil {
		t.Fatalf("meshtest: default config: %v", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("meshtest: listen: %v", err)
	}
	url := "http://" + ln.Addr().String()
	// Served on ln, and each service reached through its gate, a port of
	// its own: no service is at ADDR, so none is set.
	cfg.Server.Addr = ""
	cfg.Auth.SigningKey = SigningKey
	cfg.AdminAddr = "" // tests read Metrics directly
	cfg.DatabaseCreate = false
	cfg.DatabaseMaxConns = 4 // many meshes run at once in tests; PostgreSQL allows 100 connections
	cfg.Server.ShutdownTimeout = 5 * time.Second
	// Quick retries and jobs, so saga tests settle in moments.
	cfg.Relay.BackoffBase, cfg.Relay.BackoffMax, cfg.Relay.PollInterval = 20*time.Millisecond, 300*time.Millisecond, 200*time.Millisecond
	cfg.Relay.Timeout = 5 * time.Second
	mesh.ServiceConfig[order.Config](&cfg).ExpiryInterval = 100 * time.Millisecond
	mesh.ServiceConfig[inventory.Config](&cfg).ExpiryInterval = 100 * time.Millisecond
	m := &Mesh{URL: url, Databases: map[string]*dbtest.Database{}, HTTP: rpcclient.NewHTTPClient(), Gates: map[string]*Gate{}}
	for _, s := range mesh.Services {
		m.Gates[s] = startGate(t, s, url)
	}
	for s, g := range m.Gates {
		*cfg.Endpoints.Of(s) = g.URL
	}
	for _, c := range comps {
		d := dbtest.New(t, mesh.Migrations(c)...)
		m.Databases[c.Name] = d
		cfg.SetDatabaseURL(c.Name, d.URL)
	}
	for _, o := range opts {
		o(&cfg)
	}
	m.Config = cfg

	m.logs = &logBuffer{t: t}
	log := logging.New(m.logs, "meshtest", slog.LevelInfo)
	ctx, cancel := context.WithCancel(context.Background())
	built, err := mesh.Build(ctx, log, cfg, comps, tel)
	if err != nil {
		cancel()
		_ = ln.Close()
		t.Fatalf("meshtest: build: %v", err)
	}
	m.Metrics = built.Metrics.Handler()
	done := make(chan error, 1)
	go func() { done <- built.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("meshtest: server stopped with %v", err)
		}
		built.Close()
	})
	return m
}

// Token returns a bearer token for user with roles.
func (m *Mesh) Token(t testing.TB, user string, roles ...auth.Role) string {
	t.Helper()
	tok, err := auth.Mint(m.Config.Auth, user, roles, time.Hour)
	if err != nil {
		t.Fatalf("meshtest: mint token: %v", err)
	}
	return tok
}

// ServiceToken returns the token service calls the others with: its own
// identity, which its events are accepted under and nobody else's are.
func (m *Mesh) ServiceToken(t testing.TB, service string) string {
	t.Helper()
	return m.Token(t, service, auth.RoleService)
}

// Protocols are the wire protocols every end-to-end test runs over.
var Protocols = []struct {
	Name string
	Opts []connect.ClientOption
}{
	{"connect", nil},
	{"grpc", []connect.ClientOption{connect.WithGRPC()}},
	{"grpcweb", []connect.ClientOption{connect.WithGRPCWeb()}},
}

// WithToken returns a request for msg that carries token, if not empty.
func WithToken[T any](msg *T, token string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	}
	return req
}

// logBuffer keeps the services' log lines for LogLines and sends warnings
// and errors to the test log, so they show when a test fails.
type logBuffer struct {
	t     testing.TB
	mu    sync.Mutex
	lines [][]byte
}

func (b *logBuffer) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"level":"WARN"`)) || bytes.Contains(p, []byte(`"level":"ERROR"`)) {
		b.t.Log(string(p))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, bytes.Clone(p))
	return len(p), nil
}

func (b *logBuffer) decode(t testing.TB) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]map[string]any, 0, len(b.lines))
	for _, l := range b.lines {
		var line map[string]any
		if err := json.Unmarshal(l, &line); err != nil {
			t.Fatalf("meshtest: a log line is not JSON: %v: %s", err, l)
		}
		out = append(out, line)
	}
	return out
}

// WantCode fails the test unless err is a Connect error with code whose
// message contains the given text (any message when contains is empty).
func WantCode(t testing.TB, err error, code connect.Code, contains string) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want %v", code)
	}
	if got := connect.CodeOf(err); got != code {
		t.Fatalf("code = %v (%v), want %v", got, err, code)
	}
	var ce *connect.Error
	if contains != "" && (!errors.As(err, &ce) || !strings.Contains(ce.Message(), contains)) {
		t.Fatalf("message %q does not mention %q", err, contains)
	}
}
