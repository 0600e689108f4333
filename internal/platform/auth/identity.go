package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Identity says how the services prove to each other which of them is
// calling. Each service has its own identity, so that a sink can accept an
// event only from the service that publishes it.
//
// In development every service mints its own token with JWT_SIGNING_KEY,
// its name as the subject. On Kubernetes each Deployment runs as its own
// ServiceAccount and sends the projected token the kubelet writes and
// rotates (TokenFile); the receivers verify it against the cluster's JWKS
// (JWKSURL) and read the service's name from the account's name. Then a
// token signed with JWT_SIGNING_KEY no longer speaks for any service, so
// a leaked signing key or user token cannot either.
type Identity struct {
	TokenFile     string `env:"SERVICE_TOKEN_FILE" usage:"file holding this service's identity token, re-read as it is rotated (the projected service-account token on Kubernetes); empty: the service mints its own with JWT_SIGNING_KEY"`
	JWKSURL       string `env:"SERVICE_JWKS_URL" usage:"JSON Web Key Set that verifies services' identity tokens (on Kubernetes the API server's, https://kubernetes.default.svc/openid/v1/jwks); when set, a JWT_SIGNING_KEY token cannot speak for a service"`
	Issuer        string `env:"SERVICE_ISSUER" usage:"iss of services' identity tokens (the cluster's service-account issuer); empty: read from the OpenID configuration beside SERVICE_JWKS_URL"`
	Audience      string `env:"SERVICE_AUDIENCE" default:"ordermesh" usage:"aud that services' identity tokens must carry (the projected token's audience)"`
	SubjectPrefix string `env:"SERVICE_SUBJECT_PREFIX" usage:"what comes before the service's name in an identity token's sub, such as system:serviceaccount:shop:ordermesh- for release ordermesh in namespace shop"`
	JWKSCAFile    string `env:"SERVICE_JWKS_CA_FILE" usage:"CA bundle for SERVICE_JWKS_URL's TLS certificate (on Kubernetes the service account's ca.crt); empty: the system's"`
	JWKSTokenFile string `env:"SERVICE_JWKS_TOKEN_FILE" usage:"file with a bearer token to fetch SERVICE_JWKS_URL with (the API server wants one); empty: none"`
}

// serviceVerifier verifies services' identity tokens against a JWKS.
type serviceVerifier struct {
	id       Identity
	keys     *jwks
	services []string
	parser   func(issuer string) *jwt.Parser
}

func newServiceVerifier(id Identity, services []string) (*serviceVerifier, error) {
	if id.SubjectPrefix == "" {
		return nil, errors.New("auth: SERVICE_JWKS_URL needs SERVICE_SUBJECT_PREFIX, what comes before a service's name in its token's sub")
	}
	client, err := jwksClient(id)
	if err != nil {
		return nil, err
	}
	sv := &serviceVerifier{id: id, keys: newJWKS(id.JWKSURL, client), services: services}
	if id.Issuer == "" {
		sv.keys.discover = true
	}
	sv.parser = func(issuer string) *jwt.Parser {
		return jwt.NewParser(
			jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA", "PS256"}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(id.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(30*time.Second),
		)
	}
	return sv, nil
}

// issuer returns the issuer of service tokens: configured, or discovered.
func (sv *serviceVerifier) issuer() string {
	if sv.id.Issuer != "" {
		return sv.id.Issuer
	}
	return sv.keys.issuer()
}

// owns reports whether raw claims to come from the service issuer. The
// claim is not trusted: it only picks the verifier.
func (sv *serviceVerifier) owns(raw string) bool {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &claims); err != nil {
		return false
	}
	iss := sv.issuer()
	return iss != "" && claims.Issuer == iss
}

func (sv *serviceVerifier) verify(raw string) (Principal, time.Time, error) {
	var claims jwt.RegisteredClaims
	if _, err := sv.parser(sv.issuer()).ParseWithClaims(raw, &claims, sv.keys.keyfunc); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Principal{}, time.Time{}, errors.New("the service's identity token has expired")
		}
		return Principal{}, time.Time{}, errors.New("the service's identity token is not valid")
	}
	name, ok := strings.CutPrefix(claims.Subject, sv.id.SubjectPrefix)
	if !ok || !slices.Contains(sv.services, name) {
		return Principal{}, time.Time{}, fmt.Errorf("the identity token's subject %q is none of this mesh's services", claims.Subject)
	}
	return Principal{Subject: name, Roles: []Role{RoleService}, Service: name}, claims.ExpiresAt.Time, nil
}

// jwksClient is the HTTP client that fetches the service JWKS: with the
// configured CA and bearer token, which the Kubernetes API server needs.
func jwksClient(id Identity) (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if id.JWKSCAFile != "" {
		pem, err := os.ReadFile(id.JWKSCAFile)
		if err != nil {
			return nil, fmt.Errorf("auth: SERVICE_JWKS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("auth: SERVICE_JWKS_CA_FILE %s holds no PEM certificate", id.JWKSCAFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	var rt http.RoundTripper = transport
	if id.JWKSTokenFile != "" {
		rt = bearerTransport{source: NewFileToken(id.JWKSTokenFile), next: transport}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: rt}, nil
}

// bearerTransport sends a token from source with each request: the API server's
// token, which the kubelet rotates in its file.
type bearerTransport struct {
	source TokenSource
	next   http.RoundTripper
}

func (b bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := b.source.Token(req.Context())
	if err != nil {
		return nil, fmt.Errorf("the JWKS bearer token: %w", err)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+tok)
	return b.next.RoundTrip(req)
}

// FileToken is a TokenSource that reads a token from a file, such as the
// projected service-account token the kubelet writes and rotates. It
// reads the file again when its copy is older than a minute.
type FileToken struct {
	path string

	mu    sync.Mutex
	token string
	read  time.Time
}

// NewFileToken returns a source of the token in path.
func NewFileToken(path string) *FileToken { return &FileToken{path: path} }

const (
	fileTokenReread = time.Minute
	// fileTokenStale is how long a token read before is still sent while
	// the file cannot be read: well within the kubelet's rotation, which
	// renews a token at 80% of its life (48 minutes of an hour).
	fileTokenStale = 5 * time.Minute
)

// Token implements TokenSource.
func (f *FileToken) Token(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" && time.Since(f.read) < fileTokenReread {
		return f.token, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		if f.token != "" && time.Since(f.read) < fileTokenStale {
			return f.token, nil // a rotation in progress: the old one still holds
		}
		return "", fmt.Errorf("read the service token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("the service token file %s is empty", f.path)
	}
	f.token, f.read = tok, time.Now()
	return tok, nil
}

// Source returns the token source service calls other services with: the
// token file when one is configured, else tokens minted with the signing
// key (nil when there is none).
func Source(cfg Config, service string) TokenSource {
	switch {
	case cfg.Identity.TokenFile != "":
		return NewFileToken(cfg.Identity.TokenFile)
	case cfg.SigningKey != "":
		return NewServiceTokens(cfg, service)
	}
	return nil
}
