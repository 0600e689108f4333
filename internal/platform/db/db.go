// Package db opens PostgreSQL pools, creates a service's database when it is
// missing, and applies the SQL migrations embedded in each service binary.
package db

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Open returns a pool for url after checking that the database answers.
// Queries made inside a trace are spans of tp (the global provider when
// nil).
func Open(ctx context.Context, dsn string, maxConns int, tp trace.TracerProvider) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", redact(err))
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(min(maxConns, 1000))
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	bounded(&cfg.ConnConfig.Config)
	// Every query in a trace is a span of it (a no-op without an exporter).
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	cfg.ConnConfig.Tracer = newTracer(tp)
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		encodeUUIDsDirectly(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %q on %s: %w", cfg.ConnConfig.Database, cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// connectTimeout bounds making a connection, TLS and authentication
// included, when the URL sets no connect_timeout: without one, a dial to
// an address that drops packets (a database pod that is gone) waits for
// the kernel to give up, a minute or more.
const connectTimeout = 5 * time.Second

// bounded gives a connection a connect timeout and TCP keep-alives that
// find a dead peer in about 20 s (the kernel's default waits two hours;
// pgx's, 5 minutes), so that a listener waiting for notifications on a
// database that went away notices, and reconnects once it is back.
func bounded(cfg *pgconn.Config) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 5 * time.Second, Count: 3}}
	cfg.DialFunc = d.DialContext
}

// EnsureDatabase creates the database named in dsn if it does not exist,
// connecting to the server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, dsn string) error {
	conn, name, err := maintenance(ctx, dsn)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.DuplicateDatabase { // created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// Recreate drops the database named in dsn, if it exists, and creates it
// empty: for benchmarks that must not depend on an earlier run.
func Recreate(ctx context.Context, dsn string) error {
	conn, name, err := maintenance(ctx, dsn)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// Sessions reports how many sessions other than its own are connected to
// the database dsn names, and whether that database exists.
func Sessions(ctx context.Context, dsn string) (n int, exists bool, err error) {
	conn, name, err := maintenance(ctx, dsn)
	if err != nil {
		return 0, false, err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1),
		(SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid())`, name).Scan(&exists, &n)
	if err != nil {
		return 0, false, fmt.Errorf("look up database %q: %w", name, err)
	}
	return n, exists, nil
}

// Drop drops the database dsn names, if it exists. It refuses, as
// PostgreSQL does, while anyone is connected to it.
func Drop(ctx context.Context, dsn string) error {
	conn, name, err := maintenance(ctx, dsn)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	return nil
}

// maintenance connects to the "postgres" database of the server in dsn,
// to create or drop the database dsn names, which it returns too.
func maintenance(ctx context.Context, dsn string) (*pgx.Conn, string, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("parse database URL: %w", redact(err))
	}
	bounded(&cfg.Config)
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, "", fmt.Errorf("connect to %s to manage database %q: %w", cfg.Host, name, err)
	}
	return conn, name, nil
}

// WithDatabase returns dsn pointing at another database on the same server.
func WithDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("database URL must be a postgres:// URL")
	}
	u.Path = "/" + name
	return u.String(), nil
}

// redact drops the URL from pgx parse errors, which can include a password.
func redact(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "postgres"); i >= 0 {
		return errors.New("malformed PostgreSQL URL")
	}
	return err
}

// IsConflict reports a transaction that lost a serialisation race or a
// deadlock (SQLSTATE 40001, 40P01) and will likely succeed if simply run
// again.
func IsConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == pgerrcode.SerializationFailure || pgErr.Code == pgerrcode.DeadlockDetected)
}
