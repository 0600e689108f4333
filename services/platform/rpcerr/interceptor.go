package rpcerr

import (
	"context"
	"errors"
	"log/slog"

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
}

// ToConnect maps err to the error a client may see. Connect errors made on
// purpose pass through; sentinels get their code; context errors keep their
// meaning; everything else is logged and hidden behind Internal.
func ToConnect(ctx context.Context, log *slog.Logger, procedure string, err error) error {
	if err == nil {
		return nil
	}
	if kind, msg, ok := kindOf(err); ok {
		return connect.NewError(codes[kind], errors.New(msg))
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
	traceID := trace.SpanContextFromContext(ctx).TraceID()
	log.ErrorContext(ctx, "internal error", slog.String("procedure", procedure), slog.Any("error", err))
	msg := "internal error"
	if traceID.IsValid() {
		msg += "; trace " + traceID.String()
	}
	return connect.NewError(connect.CodeInternal, errors.New(msg))
}

// NewInterceptor maps every error a handler returns with ToConnect.
func NewInterceptor(log *slog.Logger) connect.Interceptor { return &interceptor{log: log} }

type interceptor struct{ log *slog.Logger }

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		if err != nil {
			return nil, ToConnect(ctx, i.log, req.Spec().Procedure, err)
		}
		return res, nil
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return ToConnect(ctx, i.log, conn.Spec().Procedure, next(ctx, conn))
	}
}
