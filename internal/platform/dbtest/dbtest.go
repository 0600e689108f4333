// Package dbtest gives each test its own freshly migrated database on the
// real PostgreSQL server and drops it when the test ends.
//
// The first test of a schema migrates a template database, named after a
// hash of the migrations; every test then copies the template, which takes
// milliseconds. The server is found through ORDERMESH_TEST_DATABASE_URL, or
// else at postgres://postgres@127.0.0.1:5432. A test fails, never skips,
// when no server answers.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/internal/platform/db"
)

// DefaultURL is the server used when ORDERMESH_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Database is a test's own database.
type Database struct {
	// URL connects to the database, for servers that open their own pool.
	URL string
	// Pool is a pool on the database, closed at cleanup.
	Pool *pgxpool.Pool
}

// New creates a database migrated with migrations (none for an empty one)
// and registers its removal with t.Cleanup.
func New(t testing.TB, migrations ...fs.FS) *Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := serverURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("dbtest: PostgreSQL is not reachable at %s: %v\n"+
			"Start it (`make test` does this through scripts/postgres.sh) or point ORDERMESH_TEST_DATABASE_URL at a server.", redacted(admin), err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()

	tpl := templateName(t, migrations)
	ensureTemplate(ctx, t, conn, admin, tpl, migrations)

	name := "omtest_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tpl}.Sanitize()); err != nil {
		t.Fatalf("dbtest: create database from template %s: %v", tpl, err)
	}
	url, err := db.WithDatabase(admin, name)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	pool, err := db.Open(ctx, url, 4, nil)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		c, err := pgx.Connect(cctx, admin)
		if err != nil {
			t.Errorf("dbtest: drop %s: %v", name, err)
			return
		}
		defer func() { _ = c.Close(cctx) }()
		if _, err := c.Exec(cctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: drop %s: %v", name, err)
		}
	})
	return &Database{URL: url, Pool: pool}
}

// ServerURL returns the URL of the test server's maintenance database.
func serverURL() string {
	if u := os.Getenv("ORDERMESH_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// ensureTemplate creates and migrates the template once, under an advisory
// lock so that parallel test binaries agree on who builds it.
func ensureTemplate(ctx context.Context, t testing.TB, conn *pgx.Conn, admin, tpl string, migrations []fs.FS) {
	t.Helper()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7400512002)"); err != nil {
		t.Fatalf("dbtest: lock: %v", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7400512002)") }()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tpl).Scan(&exists); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	if exists {
		return
	}
	building := tpl + "_build"
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize()+" WITH (FORCE)")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{building}.Sanitize()); err != nil {
		t.Fatalf("dbtest: create template: %v", err)
	}
	url, err := db.WithDatabase(admin, building)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	pool, err := db.Open(ctx, url, 2, nil)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	if len(migrations) > 0 {
		err = db.Migrate(ctx, pool, migrations...)
	}
	pool.Close()
	if err != nil {
		t.Fatalf("dbtest: migrate template: %v", err)
	}
	// Renaming last means a template that exists is always complete.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{building}.Sanitize()+" RENAME TO "+pgx.Identifier{tpl}.Sanitize()); err != nil {
		t.Fatalf("dbtest: publish template: %v", err)
	}
}

func templateName(t testing.TB, migrations []fs.FS) string {
	t.Helper()
	ms, err := db.LoadMigrations(migrations...)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	h := sha256.New()
	for _, m := range ms {
		h.Write([]byte(m.Name))
		h.Write([]byte{0})
		h.Write([]byte(m.SQL))
	}
	return "omtpl_" + hex.EncodeToString(h.Sum(nil))[:16]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redacted(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "(malformed URL)"
	}
	return cfg.Host
}
