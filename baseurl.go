package pistoke

import (
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// BaseURL returns the WebSocket base URL of the server that received r:
// "wss://host" when r came over TLS, or through a proxy listed in
// [Options.TrustedProxies] that says the client used https, else
// "ws://host". Pages use it to open a socket back to their own server:
//
//	new WebSocket("{{ websocketURL .Request }}/chat/")
//
// r should have passed through [Handler]; otherwise no proxy is trusted.
func BaseURL(r *http.Request) string {
	if isSecure(r) {
		return "wss://" + r.Host
	}
	return "ws://" + r.Host
}

// isSecure reports whether the client reached the server over TLS: r.TLS
// is set, or a trusted proxy says so with X-Forwarded-Proto or Forwarded.
func isSecure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	s := serverFrom(r.Context())
	if len(s.proxies) == 0 || !s.trusted(r.RemoteAddr) {
		return false
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		// A chain of proxies appends; the first is the client's side.
		first, _, _ := strings.Cut(p, ",")
		return strings.EqualFold(strings.TrimSpace(first), "https")
	}
	for _, f := range r.Header.Values("Forwarded") {
		first, _, _ := strings.Cut(f, ",")
		for _, pair := range strings.Split(first, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(k, "proto") {
				return strings.EqualFold(strings.Trim(v, `"`), "https")
			}
		}
	}
	return false
}

// FuncMap returns html/template functions for pages that open sockets:
//
//	websocketURL .Request   the base URL, as BaseURL
//	csrfToken .Request      the CSRF token, as CSRFToken
//	csrfField .Request      a hidden form input carrying it
func FuncMap() template.FuncMap {
	return template.FuncMap{
		"websocketURL": BaseURL,
		"csrfToken":    CSRFToken,
		"csrfField":    csrfField,
	}
}

func (s *server) trusted(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR prefix", s)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
