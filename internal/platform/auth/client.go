package auth

import (
	"context"
	"sync"
	"time"

	"connectrpc.com/connect"
)

// TokenSource supplies the bearer token a client sends.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// ServiceTokens mints and caches service-role tokens signed with the
// configured key, renewing them well before they expire.
type ServiceTokens struct {
	cfg     Config
	subject string

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewServiceTokens returns a source of service-role tokens for subject (the
// calling service's name).
func NewServiceTokens(cfg Config, subject string) *ServiceTokens {
	return &ServiceTokens{cfg: cfg, subject: subject}
}

const serviceTokenTTL = 10 * time.Minute

// Token returns a valid service token.
func (s *ServiceTokens) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Until(s.expires) > serviceTokenTTL/2 {
		return s.token, nil
	}
	tok, err := Mint(s.cfg, s.subject, []Role{RoleService}, serviceTokenTTL)
	if err != nil {
		return "", err
	}
	s.token, s.expires = tok, time.Now().Add(serviceTokenTTL)
	return tok, nil
}

type forwardKey struct{}

// WithToken stores a raw bearer token in ctx for NewClientInterceptor.
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, forwardKey{}, token)
}

// NewClientInterceptor sets the Authorization header on outgoing calls: the
// token stored with WithToken if there is one, else one from source (which
// may be nil for public calls).
func NewClientInterceptor(source TokenSource) connect.Interceptor {
	return &clientInterceptor{source: source}
}

type clientInterceptor struct{ source TokenSource }

func (c *clientInterceptor) token(ctx context.Context) (string, error) {
	if tok, ok := ctx.Value(forwardKey{}).(string); ok && tok != "" {
		return tok, nil
	}
	if c.source == nil {
		return "", nil
	}
	return c.source.Token(ctx)
}

func (c *clientInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			tok, err := c.token(ctx)
			if err != nil {
				return nil, err
			}
			if tok != "" {
				req.Header().Set("Authorization", "Bearer "+tok)
			}
		}
		return next(ctx, req)
	}
}

func (c *clientInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if tok, err := c.token(ctx); err == nil && tok != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+tok)
		}
		return conn
	}
}

func (c *clientInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
