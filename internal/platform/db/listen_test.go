package db_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
)

// A listener whose connection the server ends (a database restart, a
// failover, an operator's pg_terminate_backend) reconnects by itself and
// hears the notifications sent after that.
func TestListenReconnectsAfterItsConnectionIsKilled(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := db.Open(ctx, d.URL, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	heard := make(chan string, 16)
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.Listen(lctx, pool, "listen_test", slog.New(slog.NewTextHandler(io.Discard, nil)), func(p string) { heard <- p })
	}()
	defer func() { stop(); <-done }()

	// hear sends payload until the listener hears it: it may not be
	// listening yet.
	hear := func(payload string) {
		t.Helper()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := d.Pool.Exec(ctx, "SELECT pg_notify('listen_test', $1)", payload); err != nil {
				t.Fatal(err)
			}
			select {
			case p := <-heard:
				if p == payload {
					return
				}
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("the listener never heard %q", payload)
			}
		}
	}
	hear("before")
	var killed int
	if err := d.Pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d listening backends, want 1", killed)
	}
	hear("after")
}

// A database that accepts the connection and never answers (a peer that
// is gone, packets dropped) fails the connection after the connect
// timeout, instead of hanging the caller until its own deadline.
func TestConnectGivesUpOnADatabaseThatNeverAnswers(t *testing.T) {
	t.Parallel()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer func() { _ = c.Close() }() // held open, silent
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// EnsureDatabase connects with only the caller's deadline (Open's
	// ping has one of its own).
	err = db.EnsureDatabase(ctx, "postgres://postgres@"+ln.Addr().String()+"/x?sslmode=disable")
	if err == nil {
		t.Fatal("EnsureDatabase succeeded against a server that never answers")
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("EnsureDatabase waited for the caller's whole minute: %v", err)
	}
}
