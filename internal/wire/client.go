package wire

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ClientConfig is what a client asks for in its opening handshake.
type ClientConfig struct {
	Subprotocols []string       // offered, in order of preference
	Header       http.Header    // extra request headers; a Host entry replaces the URL's host
	ReadLimit    int64          // of the Conn; 0 means DefaultReadLimit, negative none
	Deflate      *DeflateConfig // offered when set
}

// MaxRefusalBody bounds how much of a refusal's body a client keeps.
const MaxRefusalBody = 4096

// ClientHandshake performs the client's opening handshake (RFC 6455
// section 4.1) for u on nc, within ctx, and returns the connection and
// the chosen subprotocol. When the server answers with a status other
// than 101, it returns the response, whose body holds at most
// MaxRefusalBody bytes of the server's, and a *HandshakeError with that
// status; any other failure leaves the response, if one was read, for
// the caller to inspect. The caller closes nc on error.
func ClientHandshake(ctx context.Context, nc net.Conn, u *url.URL, cfg ClientConfig) (*Conn, *http.Response, string, error) {
	// The context bounds the handshake through the connection's deadline,
	// and its cancellation through breaking that deadline.
	if d, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	key := NewKey()
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Scheme: "http", Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header),
		Host:       u.Host,
	}
	for k, v := range cfg.Header {
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
	if len(cfg.Subprotocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(cfg.Subprotocols, ", "))
	}
	if cfg.Deflate != nil {
		req.Header.Set("Sec-WebSocket-Extensions", OfferDeflate(cfg.Deflate))
	}
	if err := req.Write(nc); err != nil {
		return nil, nil, "", ioError(ctx, err)
	}
	br := bufio.NewReaderSize(nc, 1024)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, "", ioError(ctx, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxRefusalBody))
		resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return nil, resp, "", &HandshakeError{Status: resp.StatusCode, Reason: strings.TrimSpace(string(body))}
	}
	sub, err := CheckResponse(resp, key, cfg.Subprotocols)
	if err != nil {
		return nil, resp, "", fmt.Errorf("invalid handshake response: %w", err)
	}
	deflate, err := CheckExtensions(resp, cfg.Deflate)
	if err != nil {
		return nil, resp, "", fmt.Errorf("invalid handshake response: %w", err)
	}
	var buffered []byte
	if n := br.Buffered(); n > 0 {
		buffered, _ = br.Peek(n)
	}
	if !stop() {
		return nil, resp, "", ctx.Err()
	}
	_ = nc.SetDeadline(time.Time{})
	c := NewConn(nc, Config{Role: RoleClient, ReadLimit: cfg.ReadLimit, Buffered: buffered, Deflate: deflate})
	return c, resp, sub, nil
}

func ioError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("handshake: %w", err)
}

// RefusalHint says what usually causes a refusal with status, given the
// response's Allow header, and how to fix it; "" when there is nothing
// to add. methodWebsocket is the method pistoke routes handshakes by.
func RefusalHint(status int, allow, methodWebsocket string) string {
	if status != http.StatusMethodNotAllowed {
		return ""
	}
	for m := range strings.SplitSeq(allow, ",") {
		if strings.TrimSpace(m) == methodWebsocket {
			return "the route accepts the " + methodWebsocket + " method, but the handshake did not pass through pistoke.Handler: wrap the router with it"
		}
	}
	return "the route does not accept WebSocket handshakes: register it with the " + methodWebsocket + " method, and wrap the router with pistoke.Handler"
}
