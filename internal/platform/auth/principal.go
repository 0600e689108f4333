// Package auth verifies JWT bearer tokens, enforces per-procedure role
// policies in a Connect interceptor, and checks that customers act only on
// their own resources.
//
// Tokens carry the subject in "sub" and the roles in "roles"; the roles are
// customer, merchant and service. A token is accepted when its signature,
// issuer, audience and lifetime check out against the configured HS256 key or
// JWKS URL. Each service has its own identity (see Identity): a service's
// token names it, and the principal says which service is calling.
package auth

import (
	"context"
	"slices"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// Role is what a caller may do.
type Role string

// The roles a token can carry.
const (
	RoleCustomer Role = "customer" // shops and manages their own carts and orders
	RoleMerchant Role = "merchant" // runs the shop: catalog, stock, shipping
	RoleService  Role = "service"  // another ordermesh service
)

// Principal is the verified caller.
type Principal struct {
	Subject string
	Roles   []Role
	// Service is the mesh service the caller is ("order", "inventory",
	// ...), set only for a verified service identity.
	Service string
}

// Has reports whether the principal holds role.
func (p Principal) Has(role Role) bool { return slices.Contains(p.Roles, role) }

type principalKey struct{}

// WithPrincipal stores p in ctx.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the verified caller, if the request had a valid token.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

var (
	// ErrUnauthenticated means the call needs a valid bearer token.
	ErrUnauthenticated = rpcerr.New(rpcerr.KindUnauthenticated, "this call needs a valid bearer token")
	// ErrForbidden means the caller's token does not allow the call.
	ErrForbidden = rpcerr.New(rpcerr.KindPermission, "the caller may not do this")
)

// CheckOwner allows a customer to act for their own user id, and the service
// role to act for anyone. Everyone else gets PermissionDenied.
func CheckOwner(ctx context.Context, userID string) error {
	p, ok := FromContext(ctx)
	if !ok {
		return ErrUnauthenticated
	}
	if p.Has(RoleService) || (p.Has(RoleCustomer) && p.Subject == userID) {
		return nil
	}
	return rpcerr.Errorf(ErrForbidden, "user %q may not act on behalf of user %q", p.Subject, userID)
}

// CheckReader allows a customer to read their own resources, and merchants
// and services to read anyone's. Everyone else gets PermissionDenied.
func CheckReader(ctx context.Context, ownerID string) error {
	p, ok := FromContext(ctx)
	if !ok {
		return ErrUnauthenticated
	}
	if p.Has(RoleMerchant) || p.Has(RoleService) || (p.Has(RoleCustomer) && p.Subject == ownerID) {
		return nil
	}
	return rpcerr.Errorf(ErrForbidden, "user %q may not see user %q's data", p.Subject, ownerID)
}

// CheckResource allows a customer to read or act on their own resource,
// and merchants and services on anyone's. To any other caller the
// resource does not exist: it gets missing, the error a missing resource
// gets, so that ids cannot be probed for existence.
func CheckResource(ctx context.Context, ownerID string, missing error) error {
	p, ok := FromContext(ctx)
	if !ok {
		return ErrUnauthenticated
	}
	if p.Has(RoleMerchant) || p.Has(RoleService) || (p.Has(RoleCustomer) && p.Subject == ownerID) {
		return nil
	}
	return missing
}
