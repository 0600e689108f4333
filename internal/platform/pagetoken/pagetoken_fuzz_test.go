package pagetoken_test

import (
	"errors"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/ordermesh/ordermesh/internal/platform/pagetoken"
)

// Any string a client sends as a page token is either a cursor of the same
// query or ErrInvalid (InvalidArgument): never a panic, never another
// error.
func FuzzDecode(f *testing.F) {
	f.Add("", "orders|alice", 1)
	f.Add(pagetoken.Encode("orders|alice", "019a0000-0000-7000-8000-000000000001"), "orders|alice", 1)
	f.Add(pagetoken.Encode("orders|alice", "a", "b"), "orders|bob", 2)
	f.Add("not base64 !!", "x", 1)
	f.Add("AAAA", "x", 0)
	f.Fuzz(func(t *testing.T, raw, scope string, fields int) {
		cursor, err := pagetoken.Decode(raw, scope, fields)
		if err != nil && !errors.Is(err, pagetoken.ErrInvalid) {
			t.Fatalf("Decode(%q) = %v, want ErrInvalid or a cursor", raw, err)
		}
		if err == nil && raw != "" && len(cursor) != fields {
			t.Fatalf("Decode(%q) gave %d fields, want %d", raw, len(cursor), fields)
		}
	})
}

// A token made for a query gives its cursor back for that query, and is
// refused for any other. Cursors are our own keys (ids, times), always
// UTF-8; the token's JSON would replace invalid bytes.
func FuzzRoundTrip(f *testing.F) {
	f.Add("orders|alice", "orders|bob", "019a0000-0000-7000-8000-000000000001", "2026-12-02T03:26:48Z")
	f.Add("", "x", "", "")
	f.Add("parked|cart", "parked|", "a\x00b", "ü")
	f.Fuzz(func(t *testing.T, scope, other, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			t.Skip("cursor fields are UTF-8")
		}
		tok := pagetoken.Encode(scope, a, b)
		got, err := pagetoken.Decode(tok, scope, 2)
		if err != nil || !slices.Equal(got, []string{a, b}) {
			t.Fatalf("round trip of %q %q in %q = %q, %v", a, b, scope, got, err)
		}
		if other != scope {
			if _, err := pagetoken.Decode(tok, other, 2); !errors.Is(err, pagetoken.ErrInvalid) {
				t.Fatalf("a token of %q was accepted for %q: %v", scope, other, err)
			}
		}
	})
}
