package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

var hsConfig = auth.Config{SigningKey: "0123456789abcdef-test", Issuer: "ordermesh", Audience: "ordermesh"}

func TestVerifyHS256(t *testing.T) {
	t.Parallel()
	v, err := auth.NewVerifier(hsConfig)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := auth.Mint(hsConfig, "alice", []auth.Role{auth.RoleCustomer}, time.Hour)
	p, err := v.Verify(context.Background(), good)
	if err != nil || p.Subject != "alice" || !p.Has(auth.RoleCustomer) || p.Has(auth.RoleMerchant) {
		t.Fatalf("Verify(good) = %+v, %v", p, err)
	}
	otherKey := hsConfig
	otherKey.SigningKey = "another-key-0123456789"
	forged, _ := auth.Mint(otherKey, "alice", []auth.Role{auth.RoleMerchant}, time.Hour)
	expired, _ := auth.Mint(hsConfig, "alice", []auth.Role{auth.RoleCustomer}, -time.Hour)
	otherAud := hsConfig
	otherAud.Audience = "elsewhere"
	wrongAud, _ := auth.Mint(otherAud, "alice", []auth.Role{auth.RoleCustomer}, time.Hour)
	badRole, _ := auth.Mint(hsConfig, "alice", []auth.Role{"admin"}, time.Hour)
	noRole, _ := auth.Mint(hsConfig, "alice", nil, time.Hour)
	noSub, _ := auth.Mint(hsConfig, "", []auth.Role{auth.RoleCustomer}, time.Hour)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "alice", "roles": []string{"merchant"}, "iss": "ordermesh", "aud": "ordermesh", "exp": time.Now().Add(time.Hour).Unix()})
	alg, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	for name, tc := range map[string]struct{ token, want string }{
		"forged":       {forged, "not valid"},
		"expired":      {expired, "expired"},
		"audience":     {wrongAud, "audience"},
		"unknown role": {badRole, "unknown role"},
		"no roles":     {noRole, "no roles"},
		"no subject":   {noSub, "no subject"},
		"alg none":     {alg, "not valid"},
		"garbage":      {"abc.def.ghi", "not valid"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(context.Background(), tc.token)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestNewVerifierNeedsOneKeySource(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]auth.Config{
		"none":      {},
		"both":      {SigningKey: "0123456789abcdef", JWKSURL: "http://x"},
		"short key": {SigningKey: "short"},
	} {
		if _, err := auth.NewVerifier(cfg); err == nil {
			t.Errorf("%s: NewVerifier accepted %+v", name, cfg)
		}
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestVerifyJWKS(t *testing.T) {
	t.Parallel()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecPub, _ := ecKey.PublicKey.Bytes() // 0x04 || X || Y
	keys := []map[string]string{
		{"kty": "RSA", "kid": "r1", "use": "sig", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(ecPub[1:33]), "y": b64(ecPub[33:])},
		{"kty": "OKP", "kid": "d1", "crv": "Ed25519", "x": b64(edPub)},
	}
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	t.Cleanup(srv.Close)
	cfg := auth.Config{JWKSURL: srv.URL, Issuer: "idp", Audience: "ordermesh"}
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "alice", "roles": []string{"customer"}, "iss": "idp", "aud": "ordermesh", "exp": time.Now().Add(time.Hour).Unix()}
	sign := func(m jwt.SigningMethod, kid string, key any) string {
		tok := jwt.NewWithClaims(m, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for name, tok := range map[string]string{
		"RS256": sign(jwt.SigningMethodRS256, "r1", rsaKey),
		"ES256": sign(jwt.SigningMethodES256, "e1", ecKey),
		"EdDSA": sign(jwt.SigningMethodEdDSA, "d1", edKey),
	} {
		if p, err := v.Verify(context.Background(), tok); err != nil || p.Subject != "alice" {
			t.Errorf("%s: Verify = %+v, %v", name, p, err)
		}
	}
	if _, err := v.Verify(context.Background(), sign(jwt.SigningMethodRS256, "unknown", rsaKey)); err == nil {
		t.Error("a token with an unknown kid was accepted")
	}
	// HS256 with the RSA modulus as the secret is the classic key-confusion attack.
	if _, err := v.Verify(context.Background(), sign(jwt.SigningMethodHS256, "r1", rsaKey.N.Bytes())); err == nil {
		t.Error("an HS256 token was accepted by a JWKS verifier")
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1: keys are cached and unknown kids do not refetch within 30s", n)
	}
}

func TestCheckOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, tc := range map[string]struct {
		p    *auth.Principal
		user string
		ok   bool
	}{
		"owner":          {&auth.Principal{Subject: "alice", Roles: []auth.Role{auth.RoleCustomer}}, "alice", true},
		"other customer": {&auth.Principal{Subject: "bob", Roles: []auth.Role{auth.RoleCustomer}}, "alice", false},
		"merchant":       {&auth.Principal{Subject: "alice", Roles: []auth.Role{auth.RoleMerchant}}, "alice", false},
		"service":        {&auth.Principal{Subject: "order", Roles: []auth.Role{auth.RoleService}}, "alice", true},
		"anonymous":      {nil, "alice", false},
	} {
		c := ctx
		if tc.p != nil {
			c = auth.WithPrincipal(ctx, *tc.p)
		}
		if err := auth.CheckOwner(c, tc.user); (err == nil) != tc.ok {
			t.Errorf("%s: CheckOwner = %v, want ok=%v", name, err, tc.ok)
		}
	}
}
