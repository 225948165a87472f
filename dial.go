package pistoke

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

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
	// ReadLimit is the largest message accepted; 0 means
	// DefaultReadLimit, negative means no limit.
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
	// The context bounds the handshake through the connection's deadline,
	// and its cancellation through closing the connection.
	if d, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	key := wire.NewKey()
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Scheme: "http", Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header),
		Host:       u.Host,
	}
	for k, v := range opts.Header {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
		req.Header.Del("Host")
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	offer := opts.Compression.wireConfig()
	if offer != nil {
		req.Header.Set("Sec-WebSocket-Extensions", wire.OfferDeflate(offer))
	}
	if err := req.Write(nc); err != nil {
		return nil, nil, handshakeIOError(ctx, err)
	}
	br := bufio.NewReaderSize(nc, 1024)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, handshakeIOError(ctx, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return nil, resp, &HandshakeError{Status: resp.StatusCode, Reason: strings.TrimSpace(string(body))}
	}
	sub, err := wire.CheckResponse(resp, key, opts.Subprotocols)
	if err != nil {
		return nil, resp, fmt.Errorf("pistoke: Dial: invalid handshake response: %w", err)
	}
	deflate, err := wire.CheckExtensions(resp, offer)
	if err != nil {
		return nil, resp, fmt.Errorf("pistoke: Dial: invalid handshake response: %w", err)
	}
	var buffered []byte
	if n := br.Buffered(); n > 0 {
		buffered, _ = br.Peek(n)
	}
	if stop() {
		_ = nc.SetDeadline(time.Time{})
	} else {
		return nil, resp, fmt.Errorf("pistoke: Dial: %w", ctx.Err())
	}
	wc := wire.NewConn(nc, wire.Config{Role: wire.RoleClient, ReadLimit: opts.ReadLimit, Buffered: buffered, Deflate: deflate})
	return newConn(wc, nil, sub, nil, slog.Default()), resp, nil
}

func handshakeIOError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("pistoke: Dial: %w", ctx.Err())
	}
	return fmt.Errorf("pistoke: Dial: handshake: %w", err)
}
