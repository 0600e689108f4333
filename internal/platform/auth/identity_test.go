package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

var meshServices = []string{"catalog", "cart", "order", "inventory", "payment"}

// In development each service mints its own token, its name as the
// subject: the principal says which service calls, and a token that
// names no service of the mesh, or mixes the service role with another,
// is refused.
func TestServiceTokensNameTheService(t *testing.T) {
	t.Parallel()
	v, err := auth.NewVerifier(hsConfig, meshServices...)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Source(hsConfig, "inventory").Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil || p.Service != "inventory" || !p.Has(auth.RoleService) {
		t.Fatalf("Verify(inventory's token) = %+v, %v; want the inventory service", p, err)
	}
	customer, _ := auth.Mint(hsConfig, "order", []auth.Role{auth.RoleCustomer}, time.Hour)
	if p, err := v.Verify(context.Background(), customer); err != nil || p.Service != "" {
		t.Errorf("a customer named %q = %+v, %v; want a customer, no service", "order", p, err)
	}
	unknown, _ := auth.Mint(hsConfig, "ops", []auth.Role{auth.RoleService}, time.Hour)
	mixed, _ := auth.Mint(hsConfig, "order", []auth.Role{auth.RoleService, auth.RoleMerchant}, time.Hour)
	for name, tc := range map[string]struct{ token, want string }{
		"unknown service": {unknown, `service "ops", which is none of catalog, cart, order, inventory, payment`},
		"mixed roles":     {mixed, "service role alone"},
	} {
		if _, err := v.Verify(context.Background(), tc.token); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Verify = %v, want an error saying %q", name, err, tc.want)
		}
	}
}

// cluster is a stand-in for the Kubernetes API server's service-account
// issuer: an OpenID configuration and a JWKS, which it serves only to a
// caller with its bearer token, over its own TLS certificate.
type cluster struct {
	srv     *httptest.Server
	key     *rsa.PrivateKey
	issuer  string
	fetches atomic.Int32
	dir     string // the mounted files: ca.crt, api-token, token
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{key: key, issuer: "https://kubernetes.default.svc.cluster.local", dir: t.TempDir()}
	c.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer api-token-of-the-pod" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		c.fetches.Add(1)
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": c.issuer, "jwks_uri": c.issuer + "/openid/v1/jwks"})
		case "/openid/v1/jwks":
			_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
				"kty": "RSA", "kid": "sa", "use": "sig", "alg": "RS256",
				"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
			}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(c.srv.Close)
	write(t, filepath.Join(c.dir, "ca.crt"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw})))
	write(t, filepath.Join(c.dir, "api-token"), "api-token-of-the-pod\n")
	return c
}

// token is a projected token of a ServiceAccount in namespace shop.
func (c *cluster) token(t *testing.T, account, audience string, ttl time.Duration) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": c.issuer, "aud": []string{audience}, "sub": "system:serviceaccount:shop:" + account,
		"exp": time.Now().Add(ttl).Unix(), "iat": time.Now().Unix(),
	})
	tok.Header["kid"] = "sa"
	s, err := tok.SignedString(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (c *cluster) identity(issuer string) auth.Identity {
	return auth.Identity{
		TokenFile: filepath.Join(c.dir, "token"), JWKSURL: c.srv.URL + "/openid/v1/jwks", Issuer: issuer, Audience: "ordermesh",
		SubjectPrefix: "system:serviceaccount:shop:ordermesh-", JWKSCAFile: filepath.Join(c.dir, "ca.crt"), JWKSTokenFile: filepath.Join(c.dir, "api-token"),
	}
}

// On Kubernetes a service's identity is its ServiceAccount's projected
// token, verified against the cluster's JWKS (fetched with the pod's API
// token over the cluster's CA), its issuer discovered. The service is
// the account's name after the release's prefix. A token signed with the
// user key cannot speak for a service there, whatever it says, and one
// service's token is that service's alone.
func TestKubernetesServiceIdentity(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	cfg := hsConfig
	cfg.Identity = c.identity("") // discovered
	v, err := auth.NewVerifier(cfg, meshServices...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The service sends the token the kubelet wrote, and re-reads it.
	write(t, cfg.Identity.TokenFile, c.token(t, "ordermesh-payment", "ordermesh", time.Hour)+"\n")
	src := auth.Source(cfg, "payment")
	tok, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(ctx, tok)
	if err != nil || p.Service != "payment" || !p.Has(auth.RoleService) {
		t.Fatalf("Verify(payment's projected token) = %+v, %v; want the payment service", p, err)
	}
	if n := c.fetches.Load(); n != 2 {
		t.Errorf("the cluster was asked %d times, want 2 (OpenID configuration and JWKS)", n)
	}

	hsService, _ := auth.Mint(hsConfig, "order", []auth.Role{auth.RoleService}, time.Hour)
	for name, tc := range map[string]struct{ token, want string }{
		"signed with the user key":      {hsService, "service-account tokens here"},
		"another audience":              {c.token(t, "ordermesh-order", "https://kubernetes.default.svc", time.Hour), "not valid"},
		"expired":                       {c.token(t, "ordermesh-order", "ordermesh", -time.Hour), "expired"},
		"another release's account":     {c.token(t, "shop-order", "ordermesh", time.Hour), "none of this mesh's services"},
		"an account that is no service": {c.token(t, "ordermesh-gateway", "ordermesh", time.Hour), "none of this mesh's services"},
	} {
		if _, err := v.Verify(ctx, tc.token); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Verify = %v, want an error saying %q", name, err, tc.want)
		}
	}
	if p, err := v.Verify(ctx, c.token(t, "ordermesh-order", "ordermesh", time.Hour)); err != nil || p.Service != "order" {
		t.Errorf("order's token = %+v, %v", p, err)
	}
	// Customers' tokens still come from the user key.
	alice, _ := auth.Mint(hsConfig, "alice", []auth.Role{auth.RoleCustomer}, time.Hour)
	if p, err := v.Verify(ctx, alice); err != nil || p.Subject != "alice" || p.Service != "" {
		t.Errorf("a customer's token = %+v, %v", p, err)
	}

	// A configured issuer that is not the tokens' refuses them: they go to
	// the user verifier, which does not know their key.
	cfg.Identity = c.identity("https://elsewhere.example")
	strict, err := auth.NewVerifier(cfg, meshServices...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Verify(ctx, tok); err == nil {
		t.Error("a token of another issuer was accepted")
	}
}

// The JWKS is the API server's: without the pod's API token it is not
// served, and no service token verifies.
func TestKubernetesIdentityNeedsTheJWKS(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	write(t, filepath.Join(c.dir, "api-token"), "a stale token\n")
	cfg := hsConfig
	cfg.Identity = c.identity(c.issuer)
	v, err := auth.NewVerifier(cfg, meshServices...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), c.token(t, "ordermesh-order", "ordermesh", time.Hour)); err == nil {
		t.Fatal("a service token verified without the JWKS")
	}
	noPrefix := cfg
	noPrefix.Identity.SubjectPrefix = ""
	if _, err := auth.NewVerifier(noPrefix, meshServices...); err == nil || !strings.Contains(err.Error(), "SERVICE_SUBJECT_PREFIX") {
		t.Errorf("NewVerifier without a subject prefix = %v, want an error naming SERVICE_SUBJECT_PREFIX", err)
	}
}

// A token file that is missing or empty is an error, never an empty
// token sent as if it were one.
func TestFileToken(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "token")
	src := auth.NewFileToken(path)
	if _, err := src.Token(context.Background()); err == nil {
		t.Fatal("a missing token file gave a token")
	}
	write(t, path, "  \n")
	if _, err := src.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("an empty token file = %v, want an error saying so", err)
	}
	write(t, path, "first\n")
	if tok, err := src.Token(context.Background()); err != nil || tok != "first" {
		t.Fatalf("Token = %q, %v", tok, err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
