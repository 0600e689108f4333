package pagetoken_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ordermesh/ordermesh/internal/platform/pagetoken"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tok := pagetoken.Encode("category=tea", "sku-9")
	got, err := pagetoken.Decode(tok, "category=tea", 1)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if diff := cmp.Diff([]string{"sku-9"}, got); diff != "" {
		t.Errorf("cursor (-want +got):\n%s", diff)
	}
}

func TestDecodeRefuses(t *testing.T) {
	t.Parallel()
	good := pagetoken.Encode("q=tea", "1")
	for name, tc := range map[string]struct {
		raw, scope string
		fields     int
	}{
		"garbage":      {"%%%", "q=tea", 1},
		"not json":     {"aGVsbG8", "q=tea", 1},
		"other query":  {good, "q=coffee", 1},
		"wrong fields": {good, "q=tea", 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := pagetoken.Decode(tc.raw, tc.scope, tc.fields); !errors.Is(err, pagetoken.ErrInvalid) {
				t.Errorf("Decode(%q) error = %v, want ErrInvalid", tc.raw, err)
			}
		})
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want int32 }{{0, 50}, {-1, 50}, {7, 7}, {100, 100}, {101, 100}} {
		if got := pagetoken.Size(tc.in, 50, 100); got != tc.want {
			t.Errorf("Size(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestKeysetPages(t *testing.T) {
	t.Parallel()
	items := []string{"a", "b", "c", "d", "e"}
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		k, err := pagetoken.NewKeyset(token, "scope", 2, 50, 100)
		if err != nil {
			t.Fatalf("NewKeyset: %v", err)
		}
		// A store returning up to Fetch items after k.After.
		var fetched []string
		for _, it := range items {
			if it > k.After && len(fetched) < int(k.Fetch()) {
				fetched = append(fetched, it)
			}
		}
		page, next := pagetoken.Page(k, fetched, func(s string) string { return s })
		got = append(got, page...)
		if token = next; token == "" {
			break
		}
	}
	if diff := cmp.Diff(items, got); diff != "" {
		t.Errorf("items over all pages (-want +got):\n%s", diff)
	}
	if _, err := pagetoken.NewKeyset(pagetoken.Encode("other", "x"), "scope", 2, 50, 100); !errors.Is(err, pagetoken.ErrInvalid) {
		t.Errorf("a token of another scope gave %v, want ErrInvalid", err)
	}
}
