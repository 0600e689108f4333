package e2e_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/app/components"
	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/config"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
	"github.com/ordermesh/ordermesh/internal/platform/logging"
	"github.com/ordermesh/ordermesh/services/catalog"
)

// lateProxy forwards a port to target, but only from after: a database
// that starts after the service does, as on Kubernetes.
func lateProxy(t *testing.T, target string, after time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(after):
		}
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
		if err != nil {
			t.Errorf("late listener: %v", err)
			return
		}
		go func() { <-ctx.Done(); _ = ln.Close() }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	})
	return addr
}

func startConfig(t *testing.T, dbURL string, wait time.Duration) mesh.Config {
	t.Helper()
	cfg := mesh.NewConfig(components.All...)
	if err := config.LoadFrom(func(string) (string, bool) { return "", false }, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Auth.SigningKey = meshtest.SigningKey
	cfg.AdminAddr = ""
	cfg.DatabaseCreate = false
	cfg.DatabaseMaxConns = 2
	cfg.DatabaseWait = wait
	cfg.SetDatabaseURL("catalog", dbURL)
	return cfg
}

func TestStartWaitsForALateDatabase(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, mesh.Migrations(catalog.Component)...)
	u, err := url.Parse(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = lateProxy(t, u.Host, 1500*time.Millisecond)
	built, err := mesh.Build(context.Background(), logging.New(io.Discard, "t", slog.LevelError), startConfig(t, u.String(), 30*time.Second), []component.Component{catalog.Component}, nil)
	if err != nil {
		t.Fatalf("Build with a database that answers after 1.5 s: %v", err)
	}
	built.Close()
}

func TestStartGivesUpOnAnAbsentDatabase(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	_, err = mesh.Build(context.Background(), logging.New(io.Discard, "t", slog.LevelError),
		startConfig(t, "postgres://postgres@"+dead+"/nothing?sslmode=disable", time.Second), []component.Component{catalog.Component}, nil)
	if err == nil || !strings.Contains(err.Error(), "catalog") || !strings.Contains(err.Error(), dead) {
		t.Fatalf("Build with no database = %v, want an error naming the service and the address", err)
	}
}

// A database that refuses the credentials is reported as such at once:
// waiting would not mend it.
func TestStartReportsRefusedCredentials(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, mesh.Migrations(catalog.Component)...)
	u, err := url.Parse(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User("no_such_role_ordermesh")
	_, err = mesh.Build(context.Background(), logging.New(io.Discard, "t", slog.LevelError), startConfig(t, u.String(), time.Hour), []component.Component{catalog.Component}, nil)
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("Build with an unknown role = %v, want an error saying the credentials were refused", err)
	}
}
