package pistoke

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"

	"github.com/pistoke/pistoke/internal/wire"
)

// DialOptions configures [Dial]. The zero value dials with no
// subprotocol, no extra headers and the default read limit.
type DialOptions struct {
	// Subprotocols to offer, in order of preference.
	Subprotocols []string
	// Header holds extra handshake headers: Origin, Cookie,
	// Authorization...
	Header http.Header
	// TLSConfig for wss URLs; nil means the defaults.
	TLSConfig *tls.Config
	// ReadLimit is the largest message accepted; 0 means 1 MiB, negative
	// means no limit.
	ReadLimit int64
	// NetDial replaces net.Dialer.DialContext, for example to connect
	// through something other than TCP.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Compression, when set, offers permessage-deflate; the connection
	// compresses only if the server accepts.
	Compression *Compression
}

// Dial opens a WebSocket connection to a ws:// or wss:// URL (http and
// https are accepted as synonyms). The context bounds the connection and
// handshake, not the connection's life.
//
// When the server answers with anything but 101 Switching Protocols, Dial
// returns a [*HandshakeError] with the status and the server's response,
// body included (up to 4 KiB).
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("pistoke: Dial: %w", err)
	}
	secure := false
	switch u.Scheme {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, nil, fmt.Errorf("pistoke: Dial: unsupported scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, nil, errors.New("pistoke: Dial: URL has no host")
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	dial := opts.NetDial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("pistoke: Dial: %w", err)
	}
	if secure {
		cfg := opts.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("pistoke: Dial: %w", err)
		}
		nc = tc
	}
	c, resp, err := clientHandshake(ctx, nc, u, opts)
	if err != nil {
		nc.Close()
		return nil, resp, err
	}
	return c, resp, nil
}

func clientHandshake(ctx context.Context, nc net.Conn, u *url.URL, opts *DialOptions) (*Conn, *http.Response, error) {
	wc, resp, sub, err := wire.ClientHandshake(ctx, nc, u, wire.ClientConfig{
		Subprotocols: opts.Subprotocols,
		Header:       opts.Header,
		ReadLimit:    opts.ReadLimit,
		Deflate:      opts.Compression.wireConfig(),
	})
	if err != nil {
		var he *wire.HandshakeError
		if errors.As(err, &he) && resp != nil && resp.StatusCode == he.Status && he.Status != http.StatusSwitchingProtocols {
			return nil, resp, &HandshakeError{Status: he.Status, Reason: he.Reason, allow: resp.Header.Get("Allow")}
		}
		return nil, resp, fmt.Errorf("pistoke: Dial: %w", err)
	}
	return newConn(wc, nil, sub, nil, slog.Default()), resp, nil
}
