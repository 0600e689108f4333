package rpcerr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

var errMissing = rpcerr.New(rpcerr.KindNotFound, "thing not found")

func TestToConnect(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	driver := errors.New(`ERROR: duplicate key value violates unique constraint "products_pkey" (SQLSTATE 23505)`)
	for name, tc := range map[string]struct {
		err  error
		code connect.Code
		msg  string
	}{
		"sentinel":         {errMissing, connect.CodeNotFound, "thing not found"},
		"detailed":         {rpcerr.Errorf(errMissing, "thing %q does not exist", "x"), connect.CodeNotFound, `thing "x" does not exist`},
		"wrapped detailed": {fmt.Errorf("store: %w", rpcerr.Errorf(errMissing, "thing %q does not exist", "y")), connect.CodeNotFound, `thing "y" does not exist`},
		"connect error":    {connect.NewError(connect.CodeAborted, errors.New("try again")), connect.CodeAborted, "try again"},
		"cancelled":        {fmt.Errorf("query: %w", context.Canceled), connect.CodeCanceled, "cancelled"},
		"deadline":         {context.DeadlineExceeded, connect.CodeDeadlineExceeded, "ran out of time"},
		"driver error":     {fmt.Errorf("create product: %w", driver), connect.CodeInternal, "internal error"},
	} {
		got := rpcerr.ToConnect(context.Background(), log, "/x.v1.S/M", tc.err)
		var ce *connect.Error
		if !errors.As(got, &ce) || ce.Code() != tc.code || !strings.Contains(ce.Message(), tc.msg) {
			t.Errorf("%s: ToConnect = %v, want %v containing %q", name, got, tc.code, tc.msg)
		}
		if strings.Contains(ce.Message(), "SQLSTATE") {
			t.Errorf("%s: driver text leaked to the client: %q", name, ce.Message())
		}
	}
	if !strings.Contains(logs.String(), "SQLSTATE 23505") {
		t.Errorf("the internal error was not logged for operators: %s", logs.String())
	}
	if !errors.Is(rpcerr.Errorf(errMissing, "x"), errMissing) {
		t.Error("errors.Is does not see the sentinel through Errorf")
	}
}

// A failed call reads as "code: message" wherever it is shown, however
// deeply it is wrapped, and any other error as its own text.
func TestText(t *testing.T) {
	t.Parallel()
	ce := connect.NewError(connect.CodeNotFound, errors.New("order 7 does not exist"))
	for _, tc := range []struct {
		err  error
		want string
	}{
		{ce, "not_found: order 7 does not exist"},
		{fmt.Errorf("get order: %w", ce), "not_found: order 7 does not exist"},
		{errors.New("dial tcp: refused"), "dial tcp: refused"},
	} {
		if got := rpcerr.Text(tc.err); got != tc.want {
			t.Errorf("Text(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
