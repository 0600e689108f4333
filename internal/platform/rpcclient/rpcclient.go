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
	source   auth.TokenSource
	maxBytes int
	opts     []connect.ClientOption
}

// NewFactory returns a factory whose clients send tokens from source (nil
// for none), refuse messages over maxBytes, and trace their calls with tp.
func NewFactory(source auth.TokenSource, maxBytes int, tp trace.TracerProvider) (*Factory, error) {
	return (&Factory{client: NewHTTPClient(), source: source, maxBytes: maxBytes}).Tracing(tp)
}

// Tracing returns a factory whose clients share f's connections but trace
// with tp: each service's calls are spans of that service.
func (f *Factory) Tracing(tp trace.TracerProvider) (*Factory, error) {
	otelInterceptor, err := telemetry.ClientInterceptor(tp)
	if err != nil {
		return nil, err
	}
	return &Factory{
		client: f.client, source: f.source, maxBytes: f.maxBytes,
		opts: []connect.ClientOption{
			connect.WithInterceptors(otelInterceptor, auth.NewClientInterceptor(f.source)),
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
