package rpcerr

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"connectrpc.com/connect"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/ordermesh/ordermesh/internal/platform/db"
)

// Classify says what a failure of the database or the network means to a
// caller: Unavailable when the database cannot be reached, the connection
// was lost, the server is shutting down or has no connection to spare (try
// again, perhaps elsewhere); Aborted when a serialisation failure or
// deadlock survived our retries (try again); InvalidArgument for a data
// exception (class 22: a value PostgreSQL refuses), a backstop behind
// validation. It returns the kind and a message for the client, which
// never carries the driver's text, or false when err is none of these.
func Classify(err error) (Kind, string, bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case pgerrcode.IsConnectionException(code), pgerrcode.IsInsufficientResources(code),
			code == pgerrcode.AdminShutdown, code == pgerrcode.CrashShutdown, code == pgerrcode.CannotConnectNow:
			// too many connections; a shutdown; starting up
			return KindUnavailable, "the database is unavailable; try again shortly", true
		case code == pgerrcode.QueryCanceled: // a statement timeout
			return KindUnavailable, "the database did not answer in time; try again shortly", true
		case db.IsConflict(err):
			return KindAborted, "the request conflicted with a concurrent one; try again", true
		case pgerrcode.IsDataException(code):
			msg := "a value is malformed or out of range"
			if pgErr.ColumnName != "" {
				msg += " (" + pgErr.ColumnName + ")"
			}
			return KindInvalid, msg, true
		}
		return 0, "", false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindUnavailable, "the database is unavailable; try again shortly", true
	case errors.Is(err, puddle.ErrClosedPool):
		return KindUnavailable, "the service is shutting down; try again", true
	}
	return 0, "", false
}

// Dependency turns a failed call to another service into an error of
// ours, whose message names the dependency (what, e.g. "the catalog"):
// Unavailable when the dependency is unavailable or did not answer in
// time, Aborted and ResourceExhausted as they were, so that a client's
// retry policy works through every hop; the caller's own cancellation or
// deadline as a context error. Anything else is deliberately not wrapped:
// the other service's error must not reach our caller as if we had said
// it, so it becomes Internal, logged. The dependency's own error stays
// with ours for the log (Logged), so "connection refused" to which address
// is in the server's log line even though the client sees only our message.
func Dependency(what string, err error) error {
	if Interrupted(err) {
		return Wrapf(errDependency, err, "%s stopped answering mid-call; try again shortly", what)
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable:
		return Wrapf(errDependency, err, "%s is unavailable; try again shortly", what)
	case connect.CodeDeadlineExceeded:
		if errors.Is(err, context.DeadlineExceeded) {
			return context.DeadlineExceeded
		}
		return Wrapf(errDependency, err, "%s did not answer in time; try again shortly", what)
	case connect.CodeAborted:
		return Wrapf(errDependencyAborted, err, "%s refused the request as conflicting; try again", what)
	case connect.CodeResourceExhausted:
		return Wrapf(errDependencyBusy, err, "%s is overloaded; try again shortly", what)
	case connect.CodeCanceled:
		return context.Canceled
	}
	return errors.New(what + ": " + strings.TrimSpace(err.Error()))
}

// Interrupted reports whether a call failed because its connection was cut
// before the answer arrived: the server was killed or restarted mid-call,
// or a proxy dropped the connection. connect-go reports a response body
// cut short as Internal ("protocol error: incomplete envelope"), but the
// server never said so; the request may or may not have taken effect, so
// only an idempotent call (every ordermesh call is, by its key) may be
// retried, and should be.
func Interrupted(err error) bool {
	if err == nil || connect.IsWireError(err) {
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

var (
	errDependency        = New(KindUnavailable, "a service this one needs is unavailable; try again shortly")
	errDependencyAborted = New(KindAborted, "a service this one needs refused the request as conflicting; try again")
	errDependencyBusy    = New(KindExhausted, "a service this one needs is overloaded; try again shortly")
)
