package mesh

import (
	"slices"
	"strings"
	"testing"
)

func TestResolveEndpoints(t *testing.T) {
	all := slices.Clone(Services)
	for _, c := range []struct {
		name     string
		addr     string
		served   []string
		set      map[string]string
		want     map[string]string // URLs after
		warnings []string          // a fragment of each warning, in order
		err      string
	}{
		{
			name: "all-in-one follows ADDR", addr: "127.0.0.1:28080", served: all,
			want: map[string]string{"catalog": "http://127.0.0.1:28080", "payment": "http://127.0.0.1:28080"},
		},
		{
			name: "a wildcard ADDR is reached on loopback", addr: ":8080", served: all,
			want: map[string]string{"order": "http://127.0.0.1:8080"},
		},
		{
			name: "IPv6", addr: "[::1]:9000", served: all,
			want: map[string]string{"cart": "http://[::1]:9000"},
		},
		{
			name: "another port of this host warns", addr: "127.0.0.1:28080", served: all,
			set:      map[string]string{"catalog": "http://localhost:8080"},
			want:     map[string]string{"catalog": "http://localhost:8080", "cart": "http://127.0.0.1:28080"},
			warnings: []string{"CATALOG_URL=http://localhost:8080 points at port 8080 of this host, but this process serves catalog on port 28080"},
		},
		{
			name: "another host is not ours to judge", addr: ":8080", served: all,
			set:  map[string]string{"catalog": "http://catalog.shop.svc:8080"},
			want: map[string]string{"catalog": "http://catalog.shop.svc:8080"},
		},
		{
			name: "one service; what it calls must be set", addr: ":8080", served: []string{"cart"},
			err: "cart calls catalog, which this process does not serve: set CATALOG_URL",
		},
		{
			name: "one service with its calls set", addr: ":8081", served: []string{"cart"},
			set:  map[string]string{"catalog": "http://catalog:8080"},
			want: map[string]string{"cart": "http://127.0.0.1:8081", "catalog": "http://catalog:8080", "order": ""},
		},
		{
			name: "a service pointed at this process, which does not serve it", addr: "127.0.0.1:8081", served: []string{"cart"},
			set:      map[string]string{"catalog": "http://127.0.0.1:8081"},
			warnings: []string{"CATALOG_URL=http://127.0.0.1:8081 points at this process, which does not serve catalog"},
		},
		{
			name: "port 0 needs the URLs", addr: "127.0.0.1:0", served: all,
			err: `ADDR "127.0.0.1:0" has no fixed port`,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var cfg Config
			cfg.Server.Addr = c.addr
			for s, u := range c.set {
				*cfg.Endpoints.Of(s) = u
			}
			warnings, err := cfg.resolveEndpoints(c.served)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for s, want := range c.want {
				if got := *cfg.Endpoints.Of(s); got != want {
					t.Errorf("%s URL = %q, want %q", s, got, want)
				}
			}
			if len(warnings) != len(c.warnings) {
				t.Fatalf("warnings %q, want %d", warnings, len(c.warnings))
			}
			for i, w := range c.warnings {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q, want one containing %q", warnings[i], w)
				}
			}
		})
	}
}
