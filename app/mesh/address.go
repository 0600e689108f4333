package mesh

import (
	"fmt"
	"net"
	"net/url"
	"slices"
)

// resolveEndpoints settles where each service is reached from this
// process, before anything is built:
//
//   - a service this process serves and whose URL is not set is at the
//     process's own address (ADDR), so ADDR alone moves the all-in-one mesh;
//   - a service it calls, or delivers events to, that it neither serves nor
//     has a URL for is an error naming the variable to set;
//   - a URL that points at another port of this host, or at this process
//     for a service it does not serve, is a warning: its calls would reach
//     whatever listens there, perhaps another mesh.
//
// It returns the warnings, one sentence each, for the log.
func (c *Config) resolveEndpoints(served []string) ([]string, error) {
	host, port, fixed := ownAddress(c.Server.Addr)
	own := ""
	if fixed {
		own = "http://" + net.JoinHostPort(host, port)
	}
	var warnings []string
	for _, s := range served {
		u := c.Endpoints.Of(s)
		if *u != "" {
			continue
		}
		if !fixed {
			return nil, fmt.Errorf("ADDR %q has no fixed port, so this process cannot call %s at its own address: set %s", c.Server.Addr, s, EndpointEnv(s))
		}
		*u = own
	}
	for _, s := range Services {
		u := c.Endpoints.Of(s)
		serves := slices.Contains(served, s)
		if *u == "" {
			if caller := callerOf(s, served); caller != "" {
				return nil, fmt.Errorf("%s calls %s, which this process does not serve: set %s to its base URL", caller, s, EndpointEnv(s))
			}
			continue
		}
		if !fixed {
			continue
		}
		h, p, ok := urlHostPort(*u)
		if !ok || !sameHost(h, host) {
			continue
		}
		switch {
		case serves && p != port:
			warnings = append(warnings, fmt.Sprintf("%s=%s points at port %s of this host, but this process serves %s on port %s: its calls to %s go to whatever listens there", EndpointEnv(s), *u, p, s, port, s))
		case !serves && p == port:
			warnings = append(warnings, fmt.Sprintf("%s=%s points at this process, which does not serve %s", EndpointEnv(s), *u, s))
		}
	}
	return warnings, nil
}

// callerOf returns a served service that calls s or delivers events to
// it, or "".
func callerOf(s string, served []string) string {
	for _, from := range served {
		if from != s && slices.Contains(Calls[from], s) {
			return from
		}
	}
	return ""
}

// ownAddress is the host and port this process's services are reached at
// from itself, read from ADDR: a wildcard host (":8080", "0.0.0.0:8080",
// "[::]:8080") is reached at 127.0.0.1. fixed is false for port 0 or an
// address that does not parse.
func ownAddress(addr string) (host, port string, fixed bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return "", "", false
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return host, port, true
}

// urlHostPort is a base URL's host and port, the scheme's default port
// when none is given.
func urlHostPort(raw string) (host, port string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", false
	}
	port = u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Hostname(), port, port != ""
}

// sameHost reports whether host names the machine that own (ADDR's host,
// or 127.0.0.1) is on, as far as a name can say without a lookup: the
// same name, or both loopback.
func sameHost(host, own string) bool {
	return host == own || loopback(host) && loopback(own)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
