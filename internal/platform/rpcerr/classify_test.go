package rpcerr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	pg := func(code string) error {
		return fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: "driver text"})
	}
	for name, tc := range map[string]struct {
		err  error
		kind rpcerr.Kind
		msg  string
	}{
		"connection exception":   {pg("08006"), rpcerr.KindUnavailable, "database is unavailable"},
		"too many connections":   {pg("53300"), rpcerr.KindUnavailable, "database is unavailable"},
		"admin shutdown":         {pg("57P01"), rpcerr.KindUnavailable, "database is unavailable"},
		"starting up":            {pg("57P03"), rpcerr.KindUnavailable, "database is unavailable"},
		"statement timeout":      {pg("57014"), rpcerr.KindUnavailable, "did not answer in time"},
		"serialization failure":  {pg("40001"), rpcerr.KindAborted, "conflicted"},
		"deadlock":               {pg("40P01"), rpcerr.KindAborted, "conflicted"},
		"NUL byte":               {pg("22021"), rpcerr.KindInvalid, "malformed or out of range"},
		"out of range":           {pg("22003"), rpcerr.KindInvalid, "malformed or out of range"},
		"refused":                {&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, rpcerr.KindUnavailable, "database is unavailable"},
		"reset":                  {fmt.Errorf("read: %w", syscall.ECONNRESET), rpcerr.KindUnavailable, "database is unavailable"},
		"connection lost":        {fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), rpcerr.KindUnavailable, "database is unavailable"},
		"connection closed":      {fmt.Errorf("exec: %w", pgconn.ErrConnClosed), rpcerr.KindUnavailable, "database is unavailable"},
		"pool closed (shutdown)": {fmt.Errorf("acquire: %w", puddle.ErrClosedPool), rpcerr.KindUnavailable, "shutting down"},
	} {
		kind, msg, ok := rpcerr.Classify(tc.err)
		if !ok || kind != tc.kind || !strings.Contains(msg, tc.msg) || strings.Contains(msg, "driver text") {
			t.Errorf("%s: Classify = %v %q %v, want %v containing %q and no driver text", name, kind, msg, ok, tc.kind, tc.msg)
		}
	}
	for name, err := range map[string]error{
		"unique violation": fmt.Errorf("insert: %w", &pgconn.PgError{Code: "23505"}),
		"plain error":      errors.New("something else"),
	} {
		if kind, _, ok := rpcerr.Classify(err); ok {
			t.Errorf("%s: classified as %v, want unclassified (Internal)", name, kind)
		}
	}
}

// A dependency's retryable failure stays retryable and names the
// dependency; anything else it says never reaches our caller.
func TestDependency(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		err  error
		code connect.Code
		msg  string
	}{
		"unavailable":        {connect.NewError(connect.CodeUnavailable, errors.New("db down")), connect.CodeUnavailable, "the catalog is unavailable"},
		"its deadline":       {connect.NewError(connect.CodeDeadlineExceeded, errors.New("slow")), connect.CodeUnavailable, "the catalog did not answer in time"},
		"our deadline":       {connect.NewError(connect.CodeDeadlineExceeded, context.DeadlineExceeded), connect.CodeDeadlineExceeded, "ran out of time"},
		"aborted":            {connect.NewError(connect.CodeAborted, errors.New("deadlock")), connect.CodeAborted, "the catalog refused"},
		"overloaded":         {connect.NewError(connect.CodeResourceExhausted, errors.New("queue full")), connect.CodeResourceExhausted, "the catalog is overloaded"},
		"its internal error": {connect.NewError(connect.CodeInternal, errors.New("secret detail")), connect.CodeInternal, "internal error"},
		"its not found":      {connect.NewError(connect.CodeNotFound, errors.New("no such thing")), connect.CodeInternal, "internal error"},
		"cut off":            {connect.NewError(connect.CodeInternal, fmt.Errorf("protocol error: incomplete envelope: %w", io.ErrUnexpectedEOF)), connect.CodeUnavailable, "the catalog stopped answering mid-call"},
		"reset":              {connect.NewError(connect.CodeUnknown, fmt.Errorf("read: %w", syscall.ECONNRESET)), connect.CodeUnavailable, "the catalog stopped answering mid-call"},
	} {
		got := rpcerr.ToConnect(context.Background(), quietLog(), "/x.v1.S/M", rpcerr.Dependency("the catalog", tc.err))
		var ce *connect.Error
		if !errors.As(got, &ce) || ce.Code() != tc.code || !strings.Contains(ce.Message(), tc.msg) || strings.Contains(ce.Message(), "secret") {
			t.Errorf("%s: = %v, want %v containing %q", name, got, tc.code, tc.msg)
		}
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A response cut off by a server that died mid-call is Interrupted, and so
// retryable through Dependency; an error the server sent is not.
func TestInterrupted(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/x.v1.S/Fails" {
			w.Header().Set("Content-Type", "application/grpc-web+proto")
			w.Header().Set("Grpc-Status", "5")
			w.Header().Set("Grpc-Message", "no such thing")
			return
		}
		w.Header().Set("Content-Type", "application/grpc-web+proto")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte{0, 0, 0, 0, 10, 1, 2}) // a 10-byte message, 2 bytes of it
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the server dies: the connection closes
	}))
	t.Cleanup(srv.Close)
	call := func(method string) error {
		c := connect.NewClient[emptypb.Empty, emptypb.Empty](srv.Client(), srv.URL+"/x.v1.S/"+method, connect.WithGRPCWeb())
		_, err := c.CallUnary(context.Background(), connect.NewRequest(&emptypb.Empty{}))
		return err
	}

	cut := call("Cut")
	if cut == nil || !rpcerr.Interrupted(cut) {
		t.Fatalf("a response cut off: Interrupted(%v) = false", cut)
	}
	if got := rpcerr.ToConnect(context.Background(), quietLog(), "/x.v1.S/M", rpcerr.Dependency("the catalog", cut)); connect.CodeOf(got) != connect.CodeUnavailable {
		t.Errorf("Dependency(cut off) = %v, want unavailable", got)
	}
	sent := call("Fails")
	if connect.CodeOf(sent) != connect.CodeNotFound || rpcerr.Interrupted(sent) {
		t.Errorf("an error the server sent: %v, Interrupted = %v; want not_found, false", sent, rpcerr.Interrupted(sent))
	}
	if rpcerr.Interrupted(nil) {
		t.Error("Interrupted(nil) = true")
	}
}

// TestDependencyKeepsItsCauseForTheLog: the client reads only our
// message; the server's log line has the dependency's own error, so a
// refused connection says to which address.
func TestDependencyKeepsItsCauseForTheLog(t *testing.T) {
	cause := connect.NewError(connect.CodeUnavailable, errors.New("dial tcp 127.0.0.1:8080: connect: connection refused"))
	err := rpcerr.Dependency("the catalog", cause)
	ce := rpcerr.ToConnect(context.Background(), slog.New(slog.DiscardHandler), "/x", err)
	if connect.CodeOf(ce) != connect.CodeUnavailable || strings.Contains(ce.Error(), "refused") {
		t.Errorf("the client sees %v; want unavailable without the cause", ce)
	}
	if got := rpcerr.Logged(err); !strings.Contains(got, "the catalog is unavailable") || !strings.Contains(got, "connection refused") || !strings.Contains(got, "127.0.0.1:8080") {
		t.Errorf("the log reads %q; want our message and the cause", got)
	}
	if got := rpcerr.Logged(errors.New("plain")); got != "plain" {
		t.Errorf("Logged(plain) = %q", got)
	}
}
