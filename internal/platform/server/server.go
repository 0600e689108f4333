// Package server runs one HTTP server that carries Connect, gRPC and
// gRPC-Web on a single port with unencrypted HTTP/2 (h2c), together with
// gRPC reflection (v1 and v1alpha), grpc.health.v1, the /healthz and /readyz
// probes, CORS for browsers, size limits, and graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"
	connectcors "connectrpc.com/cors"
	"connectrpc.com/grpcreflect"
	"github.com/rs/cors"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/ordermesh/ordermesh/gen/go/schema"
	"github.com/ordermesh/ordermesh/internal/platform/health"
)

// Config holds the HTTP server settings shared by every service.
type Config struct {
	Addr              string        `env:"ADDR" default:":8080" usage:"listen address for Connect, gRPC and gRPC-Web"`
	ReadHeaderTimeout time.Duration `env:"HTTP_READ_HEADER_TIMEOUT" default:"5s" usage:"time allowed to read request headers"`
	IdleTimeout       time.Duration `env:"HTTP_IDLE_TIMEOUT" default:"120s" usage:"keep-alive idle timeout"`
	MaxHeaderBytes    int           `env:"HTTP_MAX_HEADER_BYTES" default:"65536" usage:"largest request header block"`
	MaxMessageBytes   int           `env:"RPC_MAX_MESSAGE_BYTES" default:"4194304" usage:"largest RPC message, compressed or not"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" default:"20s" usage:"time in-flight calls get to finish on SIGTERM"`
	DrainDelay        time.Duration `env:"SHUTDOWN_DRAIN_DELAY" default:"0s" usage:"time to report NOT_SERVING before closing listeners, so load balancers notice"`
	CORSOrigins       []string      `env:"CORS_ALLOWED_ORIGINS" default:"*" usage:"comma-separated origins browsers may call from"`
}

// Route is one service handler to mount.
type Route struct {
	// Service is the fully qualified Protobuf service name, for reflection.
	// Empty for routes that are not Protobuf services.
	Service string
	// Path is the mux pattern, as returned by the generated constructor.
	Path    string
	Handler http.Handler
	// Prefix is a path prefix the service is mounted under (Path starts
	// with it), for services several instances of which share the port.
	// Reflection is served under it too, so `buf curl` works on its URLs.
	Prefix string
}

// Server is a configured, not yet listening, HTTP server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	checker *health.Checker
	handler http.Handler
	// stopping is closed when shutdown starts, after the drain.
	stopping chan struct{}
}

// New mounts routes, reflection and health on one mux.
func New(cfg Config, log *slog.Logger, checker *health.Checker, routes []Route) *Server {
	mux := http.NewServeMux()
	// Reflection at a path lists exactly the services that path serves:
	// those mounted at the root at the root (with health, and itself, as
	// grpc-go servers do, so `grpcurl list` shows everything the port
	// offers), and those mounted under a prefix under that prefix, so a
	// service listed is one that a call at the same base URL reaches.
	reflection := []string{grpcreflect.ReflectV1ServiceName, grpcreflect.ReflectV1AlphaServiceName}
	names := map[string][]string{"": append([]string{health.ServiceName}, reflection...)}
	var prefixes []string
	for _, r := range routes {
		mux.Handle(r.Path, r.Handler)
		if _, ok := names[r.Prefix]; !ok {
			names[r.Prefix] = slices.Clone(reflection)
		}
		if !slices.Contains(prefixes, r.Prefix) {
			prefixes = append(prefixes, r.Prefix)
		}
		if r.Service != "" && !slices.Contains(names[r.Prefix], r.Service) {
			names[r.Prefix] = append(names[r.Prefix], r.Service)
		}
	}
	if !slices.Contains(prefixes, "") {
		prefixes = append(prefixes, "")
	}
	for _, p := range prefixes {
		reflector := grpcreflect.NewReflector(grpcreflect.NamerFunc(func() []string { return names[p] }),
			grpcreflect.WithDescriptorResolver(commented{}))
		for _, newHandler := range []func(*grpcreflect.Reflector, ...connect.HandlerOption) (string, http.Handler){grpcreflect.NewHandlerV1, grpcreflect.NewHandlerV1Alpha} {
			path, h := newHandler(reflector)
			if p != "" {
				h = http.StripPrefix(p, h)
			}
			mux.Handle(p+path, h)
		}
	}
	mux.Handle(checker.Handler())
	mux.HandleFunc("GET /healthz", health.Liveness)
	mux.HandleFunc("GET /readyz", checker.Readiness)

	c := cors.New(cors.Options{
		AllowedOrigins: cfg.CORSOrigins,
		AllowedMethods: connectcors.AllowedMethods(),
		AllowedHeaders: append(connectcors.AllowedHeaders(), "Authorization"),
		ExposedHeaders: connectcors.ExposedHeaders(),
		MaxAge:         7200,
	})
	return &Server{cfg: cfg, log: log, checker: checker, handler: c.Handler(mux), stopping: make(chan struct{})}
}

type stoppingKey struct{}

// Stopping returns a channel that is closed when the server serving ctx's
// call starts to close, after its drain delay: a long-lived stream then
// ends with ErrStopping, so that its client calls again and reaches
// another instance, instead of being cut when the server gives up on it.
// It is nil (never closed) outside a server.
func Stopping(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stoppingKey{}).(chan struct{})
	return ch
}

// ErrStopping ends a stream whose server is closing.
var ErrStopping = connect.NewError(connect.CodeUnavailable, errors.New("this server is shutting down; call again to reach another"))

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx is done. Shutdown first reports NOT_SERVING
// for DrainDelay, then stops accepting, ends long-lived streams (see
// Stopping), and gives in-flight calls up to ShutdownTimeout. Serve is
// called once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           s.handler,
		Protocols:         protocols,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.WithoutCancel(ctx), stoppingKey{}, s.stopping)
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", slog.Duration("drain_delay_seconds", s.cfg.DrainDelay), slog.Duration("timeout_seconds", s.cfg.ShutdownTimeout))
	s.checker.Drain()
	time.Sleep(s.cfg.DrainDelay)
	close(s.stopping)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// commented resolves descriptors from the API's schema with its .proto
// comments (gen/go/schema), so reflection clients such as `grpcurl
// describe` show them; what the schema lacks (health, reflection itself)
// comes from the generated code's registry, which has no comments.
type commented struct{}

func (commented) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if files, err := schema.Files(); err == nil {
		if fd, err := files.FindFileByPath(path); err == nil {
			return fd, nil
		}
	}
	return protoregistry.GlobalFiles.FindFileByPath(path)
}

func (commented) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if files, err := schema.Files(); err == nil {
		if d, err := files.FindDescriptorByName(name); err == nil {
			return d, nil
		}
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}
