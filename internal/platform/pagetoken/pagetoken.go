// Package pagetoken makes the opaque page tokens of List RPCs. A token holds
// the cursor where the next page starts and a fingerprint of the query it
// belongs to, so a token replayed against another query is refused instead
// of returning a wrong page.
package pagetoken

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// ErrInvalid is returned for a token that is malformed or belongs to
// another query.
var ErrInvalid = rpcerr.New(rpcerr.KindInvalid, "page_token: not a token from a previous call with the same parameters")

type token struct {
	Scope  string   `json:"s"`
	Cursor []string `json:"c"`
}

func fingerprint(scope string) string {
	sum := sha256.Sum256([]byte(scope))
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// Encode returns a token for cursor, bound to scope (the query parameters
// that must not change between pages).
func Encode(scope string, cursor ...string) string {
	b, _ := json.Marshal(token{Scope: fingerprint(scope), Cursor: cursor})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode returns the cursor of a token made by Encode with the same scope
// and the same number of cursor fields. The empty token means the first
// page and yields a nil cursor.
func Decode(raw, scope string, fields int) ([]string, error) {
	if raw == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil, ErrInvalid
	}
	var t token
	if err := json.Unmarshal(b, &t); err != nil || t.Scope != fingerprint(scope) || len(t.Cursor) != fields {
		return nil, ErrInvalid
	}
	return t.Cursor, nil
}

// Size applies the List RPC convention: 0 means def, anything larger than
// max is max.
func Size(requested, def, maxSize int32) int32 {
	switch {
	case requested <= 0:
		return def
	case requested > maxSize:
		return maxSize
	default:
		return requested
	}
}

// Keyset is one page of a list ordered by a single key: the key to start
// after (empty for the first page) and the page size.
type Keyset struct {
	scope string
	After string
	Size  int32
}

// NewKeyset decodes a page request for a list keyed by one value, applying
// the size convention (0 means def, at most maxSize).
func NewKeyset(token, scope string, size, def, maxSize int32) (Keyset, error) {
	cursor, err := Decode(token, scope, 1)
	if err != nil {
		return Keyset{}, err
	}
	k := Keyset{scope: scope, Size: Size(size, def, maxSize)}
	if cursor != nil {
		k.After = cursor[0]
	}
	return k, nil
}

// Fetch is how many items to ask the store for: one more than the page,
// to learn whether another page follows.
func (k Keyset) Fetch() int32 { return k.Size + 1 }

// Page trims items fetched with Fetch to the page and returns the token of
// the next page, empty on the last. key gives an item's key.
func Page[T any](k Keyset, items []T, key func(T) string) ([]T, string) {
	if len(items) <= int(k.Size) {
		return items, ""
	}
	items = items[:k.Size]
	return items, Encode(k.scope, key(items[k.Size-1]))
}
