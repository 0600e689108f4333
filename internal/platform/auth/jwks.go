package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwks caches the public keys of a JSON Web Key Set by key id. It refreshes
// every refreshEvery, and early when a token names a key it does not have,
// but not more than once per minRefresh so a flood of bad tokens cannot
// hammer the key server.
type jwks struct {
	url    string
	client *http.Client

	// discover, if set, also reads the issuer from the OpenID
	// configuration at the JWKS URL's origin.
	discover bool

	mu      sync.Mutex
	keys    map[string]any
	fetched time.Time
	iss     string
}

const (
	refreshEvery = 15 * time.Minute
	minRefresh   = 30 * time.Second
)

func newJWKS(url string, client *http.Client) *jwks {
	return &jwks{url: url, client: client}
}

func (s *jwks) keyfunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.keys[kid]
	stale := time.Since(s.fetched) > refreshEvery
	if (!ok || stale) && time.Since(s.fetched) > minRefresh {
		if err := s.refresh(); err != nil && !ok {
			return nil, err
		}
		key, ok = s.keys[kid]
	}
	if !ok {
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	return key, nil
}

// issuer returns the issuer the OpenID configuration names, fetching it
// (and the keys) if it has not been read yet and no fetch was tried in
// the last minRefresh.
func (s *jwks) issuer() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.iss == "" && time.Since(s.fetched) > minRefresh {
		_ = s.refresh() // an issuer still unknown refuses the token
	}
	return s.iss
}

// refresh must be called with mu held.
func (s *jwks) refresh() error {
	s.fetched = time.Now()
	if s.discover && s.iss == "" {
		u, err := url.Parse(s.url)
		if err != nil {
			return err
		}
		var conf struct {
			Issuer string `json:"issuer"`
		}
		if err := s.get(u.Scheme+"://"+u.Host+"/.well-known/openid-configuration", &conf); err != nil {
			return fmt.Errorf("OpenID configuration: %w", err)
		}
		s.iss = conf.Issuer
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := s.get(s.url, &doc); err != nil {
		return fmt.Errorf("JWKS: %w", err)
	}
	keys := make(map[string]any, len(doc.Keys))
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if pub, err := k.publicKey(); err == nil {
			keys[k.Kid] = pub
		}
	}
	s.keys = keys
	return nil
}

// get fetches a JSON document into v.
func (s *jwks) get(u string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: %s", u, res.Status)
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, res.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", u, err)
	}
	return nil
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (k jwk) publicKey() (any, error) {
	b := func(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
	switch k.Kty {
	case "RSA":
		n, err := b(k.N)
		if err != nil {
			return nil, err
		}
		e, err := b(k.E)
		if err != nil {
			return nil, err
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err := b(k.X)
		if err != nil {
			return nil, err
		}
		y, err := b(k.Y)
		if err != nil {
			return nil, err
		}
		size := (curve.Params().BitSize + 7) / 8
		raw := append([]byte{4}, append(leftPad(x, size), leftPad(y, size)...)...)
		return ecdsa.ParseUncompressedPublicKey(curve, raw)
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err := b(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("unsupported key type %q", k.Kty)
}

func leftPad(b []byte, size int) []byte {
	if len(b) >= size {
		return b
	}
	return append(make([]byte, size-len(b)), b...)
}
