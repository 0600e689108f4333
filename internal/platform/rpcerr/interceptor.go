package rpcerr

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/trace"
)

var codes = map[Kind]connect.Code{
	KindInvalid:         connect.CodeInvalidArgument,
	KindNotFound:        connect.CodeNotFound,
	KindExists:          connect.CodeAlreadyExists,
	KindPrecondition:    connect.CodeFailedPrecondition,
	KindPermission:      connect.CodePermissionDenied,
	KindUnauthenticated: connect.CodeUnauthenticated,
	KindExhausted:       connect.CodeResourceExhausted,
	KindUnavailable:     connect.CodeUnavailable,
	KindAborted:         connect.CodeAborted,
}

// Text is how a failed call reads in one line, for a log, an operator or
// a producer's outbox: "code: message" for a Connect error (without the
// wrapping Error adds), the error's own text otherwise.
func Text(err error) string {
	if ce := new(connect.Error); errors.As(err, &ce) {
		return ce.Code().String() + ": " + ce.Message()
	}
	return err.Error()
}

// ToConnect maps err to the error a client may see. Connect errors made on
// purpose pass through; sentinels get their code; context errors keep their
// meaning; database and network failures get the code Classify gives them;
// everything else is logged and hidden behind Internal.
func ToConnect(ctx context.Context, log *slog.Logger, procedure string, err error) error {
	if err == nil {
		return nil
	}
	if kind, msg, ok := kindOf(err); ok {
		ce := connect.NewError(codes[kind], errors.New(msg))
		var wd *withDetails
		if errors.As(err, &wd) {
			for _, m := range wd.details {
				if d, derr := connect.NewErrorDetail(m); derr == nil {
					ce.AddDetail(d)
				}
			}
		}
		return ce
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("the request was cancelled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("the request ran out of time"))
	}
	if kind, msg, ok := Classify(err); ok {
		return connect.NewError(codes[kind], errors.New(msg))
	}
	traceID := trace.SpanContextFromContext(ctx).TraceID()
	log.ErrorContext(ctx, "internal error", slog.String("procedure", procedure), slog.Any("error", err))
	msg := "internal error"
	if traceID.IsValid() {
		msg += "; trace " + traceID.String()
	}
	return connect.NewError(connect.CodeInternal, errors.New(msg))
}

// NewInterceptor maps every error a handler returns with ToConnect, logs
// every server-side failure (Unavailable, DeadlineExceeded, DataLoss,
// Unknown; Internal is logged by ToConnect with its cause) with the
// procedure and the trace id, and, at debug, one access line per call.
func NewInterceptor(log *slog.Logger) connect.Interceptor { return &interceptor{log: log} }

type interceptor struct{ log *slog.Logger }

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		res, cause := next(ctx, req)
		err := ToConnect(ctx, i.log, req.Spec().Procedure, cause)
		i.logCall(ctx, req.Spec().Procedure, start, err, cause)
		if err != nil {
			return nil, err
		}
		return res, nil
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		cause := next(ctx, conn)
		err := ToConnect(ctx, i.log, conn.Spec().Procedure, cause)
		i.logCall(ctx, conn.Spec().Procedure, start, err, cause)
		return err
	}
}

// serverSide are the codes that say the server, not the caller, failed;
// Internal is not among them because ToConnect logs it with its cause.
var serverSide = map[connect.Code]bool{
	connect.CodeUnavailable: true, connect.CodeDeadlineExceeded: true, connect.CodeDataLoss: true, connect.CodeUnknown: true,
	connect.CodeAborted: true,
}

// logCall logs a server-side failure with its cause (the error before
// mapping, which the client never sees) and, at debug, every call.
func (i *interceptor) logCall(ctx context.Context, procedure string, start time.Time, err, cause error) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	if serverSide[connect.CodeOf(err)] && err != nil {
		i.log.WarnContext(ctx, "rpc failed", slog.String("procedure", procedure), slog.String("code", code),
			slog.String("error", Logged(cause)), slog.Duration("duration_seconds", time.Since(start)))
		return
	}
	if i.log.Enabled(ctx, slog.LevelDebug) {
		i.log.DebugContext(ctx, "rpc", slog.String("procedure", procedure), slog.String("code", code),
			slog.Duration("duration_seconds", time.Since(start)))
	}
}
