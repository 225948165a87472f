package pistoke

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// OriginExempt returns a handler that lets handshakes for h through the
// origin check, from any page. Use it for endpoints meant for other sites
// or for non-browser clients that send an Origin of their own; everything
// else is better served by listing hosts in [Options.AllowedHosts].
//
// It may wrap a socket handler, a protocol, or a whole group of routes;
// the check happens when the connection is about to be upgraded, so the
// exemption must sit somewhere on the handshake's path before that.
func OriginExempt(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hs := handshakeFrom(r.Context()); hs != nil {
			hs.originExempt = true
		}
		h.ServeHTTP(w, r)
	})
}

// OriginError is the reason a handshake failed the origin check. The
// client gets 403; the error is logged.
type OriginError struct {
	Origin string // the Origin header as sent
	Host   string // the request's Host
}

func (e *OriginError) Error() string {
	return fmt.Sprintf("origin %q is not allowed for host %q", e.Origin, e.Host)
}

// CheckOrigin applies the origin policy in force for r (the default one, or
// Options.CheckOrigin) and returns nil when r may open a socket. pistoke
// calls it before every upgrade; call it yourself in middleware that
// should not act on a handshake from a hostile page at all. Exempted
// handshakes pass.
func CheckOrigin(r *http.Request) error {
	if hs := handshakeFrom(r.Context()); hs != nil && hs.originExempt {
		return nil
	}
	s := serverFrom(r.Context())
	if s.checkOrigin != nil {
		return s.checkOrigin(r)
	}
	return checkOrigin(r, s.allowed)
}

// checkOrigin applies the default origin policy: no Origin passes (not a
// browser), an origin whose host is the request's host passes, and so does
// one matching an allowed host.
func checkOrigin(r *http.Request, allowed []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return &OriginError{Origin: origin, Host: r.Host}
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	if hostAllowed(strings.ToLower(u.Host), allowed) {
		return nil
	}
	return &OriginError{Origin: origin, Host: r.Host}
}

// hostAllowed matches hostport (lower case) against allowed entries. An
// entry without a port matches the host whatever its port.
func hostAllowed(hostport string, allowed []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	for _, a := range allowed {
		switch {
		case a == "*":
			return true
		case strings.HasPrefix(a, "."):
			if host == a[1:] || strings.HasSuffix(host, a) {
				return true
			}
		case a == host || a == hostport:
			return true
		}
	}
	return false
}
