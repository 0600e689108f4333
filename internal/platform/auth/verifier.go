package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Config says how tokens are verified. Exactly one of SigningKey and
// JWKSURL must be set.
type Config struct {
	SigningKey string `env:"JWT_SIGNING_KEY" secret:"true" usage:"HS256 key that signs and verifies tokens (development and single-issuer setups)"`
	JWKSURL    string `env:"JWT_JWKS_URL" usage:"URL of a JSON Web Key Set to verify RS256/ES256/EdDSA tokens; used instead of JWT_SIGNING_KEY"`
	Issuer     string `env:"JWT_ISSUER" default:"ordermesh" usage:"required iss claim"`
	Audience   string `env:"JWT_AUDIENCE" default:"ordermesh" usage:"required aud claim"`

	// Identity is how the services prove which of them is calling.
	Identity Identity
}

// Claims are the token claims ordermesh reads.
type Claims struct {
	Roles []Role `json:"roles"`
	jwt.RegisteredClaims
}

// Verifier checks bearer tokens. It remembers tokens it has verified for
// a minute (never past their expiry): parsing a token's JSON is most of the
// cost of a hot-path RPC, and a client sends the same token many times.
type Verifier struct {
	cfg     Config
	keyfunc jwt.Keyfunc
	parser  *jwt.Parser
	// services are the names a service identity may carry.
	services []string
	// service, if set, verifies services' identity tokens against their
	// own JWKS; tokens of the user issuer then cannot carry the service
	// role.
	service *serviceVerifier

	mu       sync.Mutex
	verified map[string]verified
}

type verified struct {
	principal Principal
	until     time.Time
}

const (
	verifiedTTL = time.Minute
	verifiedMax = 10000
)

// NewVerifier builds a verifier from cfg. A token with the service role
// is accepted only when it names one of services.
func NewVerifier(cfg Config, services ...string) (*Verifier, error) {
	v := &Verifier{cfg: cfg, verified: map[string]verified{}, services: services}
	if cfg.Identity.JWKSURL != "" {
		sv, err := newServiceVerifier(cfg.Identity, services)
		if err != nil {
			return nil, err
		}
		v.service = sv
	}
	switch {
	case cfg.SigningKey != "" && cfg.JWKSURL != "":
		return nil, errors.New("auth: set JWT_SIGNING_KEY or JWT_JWKS_URL, not both")
	case cfg.SigningKey != "":
		if len(cfg.SigningKey) < 16 {
			return nil, errors.New("auth: JWT_SIGNING_KEY must be at least 16 bytes")
		}
		key := []byte(cfg.SigningKey)
		v.keyfunc = func(*jwt.Token) (any, error) { return key, nil }
		v.parser = parser(cfg, jwt.SigningMethodHS256.Alg())
	case cfg.JWKSURL != "":
		set := newJWKS(cfg.JWKSURL, &http.Client{Timeout: 10 * time.Second})
		v.keyfunc = set.keyfunc
		v.parser = parser(cfg, "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA", "PS256")
	default:
		return nil, errors.New("auth: set JWT_SIGNING_KEY or JWT_JWKS_URL")
	}
	return v, nil
}

func parser(cfg Config, algs ...string) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)
}

// Verify checks a raw token and returns its principal. Its errors are safe
// to show to the caller.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	now := time.Now()
	v.mu.Lock()
	hit, ok := v.verified[raw]
	v.mu.Unlock()
	if ok && now.Before(hit.until) {
		return hit.principal, nil
	}
	p, exp, err := v.verify(ctx, raw)
	if err != nil {
		return Principal{}, err
	}
	v.mu.Lock()
	if len(v.verified) >= verifiedMax {
		clear(v.verified) // simple and bounded; a miss only costs a parse
	}
	until := now.Add(verifiedTTL)
	if exp.Before(until) {
		until = exp
	}
	v.verified[raw] = verified{principal: p, until: until}
	v.mu.Unlock()
	return p, nil
}

func (v *Verifier) verify(ctx context.Context, raw string) (Principal, time.Time, error) {
	// The key set is shared by every request: one caller's cancellation
	// must not fail the fetch the others wait for, so it has its own
	// deadline.
	if v.service != nil && v.service.owns(raw) { //nolint:contextcheck // see above
		return v.service.verify(raw) //nolint:contextcheck // see above
	}
	p, exp, err := v.verifyUser(ctx, raw)
	if err != nil || !p.Has(RoleService) {
		return p, exp, err
	}
	// A service's own token: it names the service and nothing else.
	switch {
	case v.service != nil:
		return Principal{}, time.Time{}, errors.New("services prove who they are with their service-account tokens here; a signed token cannot speak for one")
	case len(p.Roles) > 1:
		return Principal{}, time.Time{}, errors.New("a service's token carries the service role alone")
	case !slices.Contains(v.services, p.Subject):
		return Principal{}, time.Time{}, fmt.Errorf("the bearer token speaks for service %q, which is none of %s", p.Subject, strings.Join(v.services, ", "))
	}
	p.Service = p.Subject
	return p, exp, nil
}

func (v *Verifier) verifyUser(_ context.Context, raw string) (Principal, time.Time, error) {
	var claims Claims
	if _, err := v.parser.ParseWithClaims(raw, &claims, v.keyfunc); err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return Principal{}, time.Time{}, errors.New("the bearer token has expired")
		case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience):
			return Principal{}, time.Time{}, errors.New("the bearer token was issued for another issuer or audience")
		default:
			return Principal{}, time.Time{}, errors.New("the bearer token is not valid")
		}
	}
	if claims.Subject == "" {
		return Principal{}, time.Time{}, errors.New("the bearer token has no subject")
	}
	for _, r := range claims.Roles {
		if r != RoleCustomer && r != RoleMerchant && r != RoleService {
			return Principal{}, time.Time{}, fmt.Errorf("the bearer token has an unknown role %q", r)
		}
	}
	if len(claims.Roles) == 0 {
		return Principal{}, time.Time{}, errors.New("the bearer token has no roles")
	}
	return Principal{Subject: claims.Subject, Roles: claims.Roles}, claims.ExpiresAt.Time, nil
}

// Mint signs an HS256 token for subject with roles, valid for ttl. It is
// what `make token` and the services' own service-role clients use; a
// service's token has its name as the subject.
func Mint(cfg Config, subject string, roles []Role, ttl time.Duration) (string, error) {
	if cfg.SigningKey == "" {
		return "", errors.New("auth: minting needs JWT_SIGNING_KEY")
	}
	now := time.Now()
	claims := Claims{
		Roles: roles,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   subject,
			Issuer:    cfg.Issuer,
			Audience:  jwt.ClaimStrings{cfg.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(cfg.SigningKey))
}
