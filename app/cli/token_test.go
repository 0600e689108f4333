package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

// `ordermesh token -service S` mints S's own identity, which verifies as
// that service; a service token any other way, or a role that does not
// exist, is a usage error.
func TestTokenMintsServiceIdentities(t *testing.T) {
	t.Parallel()
	cfg := auth.Config{SigningKey: "token-test-signing-key", Issuer: "ordermesh", Audience: "ordermesh"}
	v, err := auth.NewVerifier(cfg, mesh.Services...)
	if err != nil {
		t.Fatal(err)
	}
	mint := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := token(args, cfg, &out, &errOut)
		return code, strings.TrimSpace(out.String()), errOut.String()
	}
	code, tok, stderr := mint("-service", "inventory")
	if code != 0 {
		t.Fatalf("token -service inventory = exit %d: %s", code, stderr)
	}
	if p, err := v.Verify(context.Background(), tok); err != nil || p.Service != "inventory" {
		t.Fatalf("the minted token verifies as %+v, %v; want the inventory service", p, err)
	}
	code, tok, _ = mint("-role", "merchant", "-user", "mia")
	if p, err := v.Verify(context.Background(), tok); code != 0 || err != nil || p.Subject != "mia" || !p.Has(auth.RoleMerchant) {
		t.Fatalf("token -role merchant = exit %d, %+v, %v", code, p, err)
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"-role", "service"}, "use -service NAME"},
		{[]string{"-role", "boss"}, `unknown role "boss"`},
		{[]string{"-service", "shipping"}, `unknown service "shipping"`},
	} {
		if code, out, stderr := mint(tc.args...); code != 2 || out != "" || !strings.Contains(stderr, tc.says) {
			t.Errorf("token %v = exit %d, %q, %q; want exit 2 saying %q", tc.args, code, out, stderr, tc.says)
		}
	}
}
