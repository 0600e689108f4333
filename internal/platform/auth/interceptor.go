package auth

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// Policy says who may call a procedure.
type Policy struct {
	// Public procedures need no token. A token that is sent must still be
	// valid.
	Public bool
	// Roles lists the roles that may call; a caller needs one of them.
	Roles []Role
}

// Public lets anyone call.
var Public = Policy{Public: true}

// Allow lets callers with any of roles call.
func Allow(roles ...Role) Policy { return Policy{Roles: roles} }

// Policies maps a full procedure name ("/pkg.Service/Method") to its policy.
// A procedure that has no policy is refused: new RPCs are closed by default.
type Policies map[string]Policy

// NewInterceptor authenticates every request against v and authorises it
// against policies.
func NewInterceptor(v *Verifier, policies Policies) connect.Interceptor {
	return &interceptor{verifier: v, policies: policies}
}

type interceptor struct {
	verifier *Verifier
	policies Policies
}

func (i *interceptor) authorize(ctx context.Context, procedure string, header http.Header) (context.Context, error) {
	policy, ok := i.policies[procedure]
	if !ok {
		return ctx, rpcerr.Errorf(ErrForbidden, "%s has no access policy and is closed", procedure)
	}
	raw, hasToken := bearer(header)
	if !hasToken {
		if policy.Public {
			return ctx, nil
		}
		return ctx, rpcerr.Errorf(ErrUnauthenticated, "%s needs a bearer token in the Authorization header", procedure)
	}
	p, err := i.verifier.Verify(ctx, raw)
	if err != nil {
		return ctx, rpcerr.Errorf(ErrUnauthenticated, "%s", err.Error())
	}
	ctx = WithPrincipal(ctx, p)
	if policy.Public || slices.ContainsFunc(policy.Roles, p.Has) {
		return ctx, nil
	}
	return ctx, rpcerr.Errorf(ErrForbidden, "%s needs the %s role", procedure, joinRoles(policy.Roles))
}

func bearer(h http.Header) (string, bool) {
	v := h.Get("Authorization")
	if v == "" {
		return "", false
	}
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true // present but malformed: treated as an invalid token
	}
	return strings.TrimSpace(token), true
}

func joinRoles(roles []Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := i.authorize(ctx, req.Spec().Procedure, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.authorize(ctx, conn.Spec().Procedure, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
