// Package bearer sends a bearer token with every call an ordermesh client
// makes, unary and streaming: WatchOrder is a server stream, which
// connect.UnaryInterceptorFunc alone would miss.
//
//	auth := connect.WithInterceptors(bearer.New(token))
//	orders := orderv1connect.NewOrderServiceClient(http.DefaultClient, url, auth)
//
// It is written by hand beside the generated packages, which buf owns.
package bearer

import (
	"context"

	"connectrpc.com/connect"
)

// New returns an interceptor that sets "Authorization: Bearer <token>" on
// each request the client sends. An empty token sets nothing, so a call
// without one reaches the server as anonymous, and is answered as such
// (unauthenticated where a token is needed).
func New(token string) connect.Interceptor { return interceptor(token) }

type interceptor string

func (t interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient && t != "" {
			req.Header().Set("Authorization", "Bearer "+string(t))
		}
		return next(ctx, req)
	}
}

func (t interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if t != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+string(t))
		}
		return conn
	}
}

func (t interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
