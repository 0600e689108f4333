// Package rpcclient builds Connect clients for calls between services: an
// HTTP client that speaks h2c, tracing, size limits and bearer tokens.
package rpcclient

import (
	"net/http"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/balance"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
)

// Factory makes clients that share one connection pool.
type Factory struct {
	client   *http.Client
	maxBytes int
	opts     []connect.ClientOption
}

// NewFactory returns a factory whose clients refuse messages over
// maxBytes. Its clients send no token and trace nothing: For makes those
// of one service.
func NewFactory(maxBytes int) *Factory {
	return &Factory{client: NewHTTPClient(), maxBytes: maxBytes}
}

// For returns a factory whose clients share f's connections but are one
// service's: they send its identity's tokens from source (nil for none)
// and trace with its provider tp.
func (f *Factory) For(source auth.TokenSource, tp trace.TracerProvider) (*Factory, error) {
	otelInterceptor, err := telemetry.ClientInterceptor(tp)
	if err != nil {
		return nil, err
	}
	return &Factory{
		client: f.client, maxBytes: f.maxBytes,
		opts: []connect.ClientOption{
			connect.WithInterceptors(otelInterceptor, auth.NewClientInterceptor(source)),
			connect.WithReadMaxBytes(f.maxBytes),
			connect.WithSendMaxBytes(f.maxBytes),
		},
	}, nil
}

// NewHTTPClient returns an HTTP client that always speaks HTTP/2: without
// TLS (h2c) for http:// URLs, as the mesh's servers do, and over TLS for
// https://. HTTP/2 is what gRPC needs and lets many calls share a
// connection. A name with several addresses (a headless Service) has its
// calls spread over all of them, and a connection that cannot be made is
// tried on the next (package balance).
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: balance.New(balance.Options{})}
}

// New builds a generated Connect client with the factory's settings.
//
//	catalog := rpcclient.New(f, catalogv1connect.NewCatalogServiceClient, url)
func New[T any](f *Factory, ctor func(connect.HTTPClient, string, ...connect.ClientOption) T, baseURL string, opts ...connect.ClientOption) T {
	return ctor(f.client, baseURL, append(append([]connect.ClientOption{}, f.opts...), opts...)...)
}
