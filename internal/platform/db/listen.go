package db

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Listen calls notify with the payload of every NOTIFY on channel until ctx
// is done. It holds one pooled connection and reconnects half a second
// after losing it, logging the loss once and its end ("LISTEN restored",
// with how long it lasted); a connection is made within the
// connect timeout or given up (see bounded), so it is back within seconds
// of the database. Notifications sent while it reconnects are lost, so
// callers also poll.
func Listen(ctx context.Context, pool *pgxpool.Pool, channel string, log *slog.Logger, notify func(payload string)) {
	var lost time.Time
	listening := func() {
		if !lost.IsZero() {
			log.InfoContext(ctx, "LISTEN restored", slog.String("channel", channel), slog.Duration("lost_seconds", time.Since(lost)))
			lost = time.Time{}
		}
	}
	for ctx.Err() == nil {
		err := listenOnce(ctx, pool, channel, listening, notify)
		if ctx.Err() != nil {
			return
		}
		if lost.IsZero() {
			lost = time.Now()
			log.WarnContext(ctx, "LISTEN lost; reconnecting", slog.String("channel", channel), slog.Any("error", err))
		} else {
			log.DebugContext(ctx, "LISTEN not restored yet", slog.String("channel", channel), slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func listenOnce(ctx context.Context, pool *pgxpool.Pool, channel string, listening func(), notify func(string)) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	ident := pgx.Identifier{channel}.Sanitize()
	if _, err := conn.Exec(ctx, "LISTEN "+ident); err != nil {
		return err
	}
	listening()
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "UNLISTEN "+ident) }()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		notify(n.Payload)
	}
}
