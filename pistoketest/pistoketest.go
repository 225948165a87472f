// Package pistoketest opens WebSocket connections to an http.Handler
// inside the test process, in the spirit of net/http/httptest.
//
// The handler is served by a real http.Server over in-memory connections,
// so the whole stack runs as in production (middleware, routing, the
// upgrade, the RFC 6455 codec) without a network. What the handler did is
// reported back to the test: a refused handshake carries its status, a
// handler error or panic is returned by Conn.Close, and so are messages
// that either side left unread.
//
//	c := pistoketest.NewClient(app)
//	defer c.Close()
//	ws, err := c.Dial(ctx, "/echo/", nil)
//	...
//	ws.SendText("hello")
//	got, err := ws.ReceiveText()
//	...
//	if err := ws.Close(); err != nil { t.Fatal(err) }
package pistoketest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/internal/hook"
	"github.com/pistoke/pistoke/internal/memconn"
	"github.com/pistoke/pistoke/internal/wire"
)

// Errors a test can tell apart with errors.Is and errors.As.
var (
	// ErrHandshakeFailed: the server's answer was not a usable handshake,
	// or the connection broke during it.
	ErrHandshakeFailed = errors.New("pistoketest: handshake failed")
	// ErrHandlerEnded: the handler ended before the connection opened
	// (a raw handler that neither accepted nor denied, or failed first).
	ErrHandlerEnded = errors.New("pistoketest: handler ended before the connection opened")
	// ErrTimeout: the handshake or a receive took longer than the
	// client's Timeout.
	ErrTimeout = errors.New("pistoketest: timed out")
	// ErrInputNotRead: the handler ended with messages from the test
	// still unread.
	ErrInputNotRead = errors.New("pistoketest: handler left input unread")
	// ErrOutputNotRead: the test closed the connection with messages
	// from the handler still unread.
	ErrOutputNotRead = errors.New("pistoketest: test left output unread")
)

// RefusedError reports a handshake the server refused: the HTTP status
// and body it answered with.
type RefusedError struct {
	Status int
	Body   string
	allow  string // the Allow header of a 405
	err    error  // what the handler reported, if anything
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("pistoketest: handshake refused with %d %s", e.Status, http.StatusText(e.Status))
	body := strings.TrimSpace(e.Body)
	body = strings.TrimPrefix(strings.TrimPrefix(body, http.StatusText(e.Status)), ": ")
	if body != "" {
		msg += ": " + body
	}
	if hint := wire.RefusalHint(e.Status, e.allow, pistoke.MethodWebsocket); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// Unwrap returns the error the server side reported with the refusal,
// such as pistoke.ErrNestedProtocol.
func (e *RefusedError) Unwrap() error { return e.err }

// HandlerError carries the error a socket handler returned, or the
// *pistoke.PanicError it panicked with.
type HandlerError struct {
	Err error
}

func (e *HandlerError) Error() string { return "pistoketest: handler failed: " + e.Err.Error() }

// Unwrap returns the handler's error.
func (e *HandlerError) Unwrap() error { return e.Err }

// DefaultTimeout bounds handshakes, receives and closes when
// Client.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Client opens connections, and makes HTTP requests, to one handler. Its
// exported fields may be set before the first Dial or Do.
type Client struct {
	// Handler serves every request.
	Handler http.Handler
	// Host is the request host; "testserver" by default.
	Host string
	// RemoteAddr is the client address the handler sees;
	// "192.0.2.1:1234" by default.
	RemoteAddr string
	// Header is sent with every handshake and request.
	Header http.Header
	// Jar keeps cookies across requests and handshakes; a fresh jar by
	// default.
	Jar http.CookieJar
	// Timeout bounds each handshake, receive and close; DefaultTimeout
	// when zero.
	Timeout time.Duration
	// EnforceCSRF makes pistoke's CSRF checks apply. By default they pass,
	// so that tests need no tokens unless they are about tokens.
	EnforceCSRF bool

	once sync.Once
	srv  *http.Server
	ln   *listener
	http *http.Client

	mu        sync.Mutex
	observers map[net.Conn]*observer
	pipes     []net.Conn // client ends, closed by Close
}

// NewClient returns a client for h.
func NewClient(h http.Handler) *Client { return &Client{Handler: h} }

func (c *Client) start() {
	c.once.Do(func() {
		if c.Host == "" {
			c.Host = "testserver"
		}
		if c.RemoteAddr == "" {
			c.RemoteAddr = "192.0.2.1:1234"
		}
		if c.Jar == nil {
			c.Jar, _ = cookiejar.New(nil)
		}
		c.observers = make(map[net.Conn]*observer)
		c.ln = newListener()
		c.srv = &http.Server{
			Handler:     c.Handler,
			ConnContext: c.connContext,
			ErrorLog:    nil,
		}
		go func() { _ = c.srv.Serve(c.ln) }()
		c.http = &http.Client{
			Jar: c.Jar,
			Transport: &http.Transport{
				DialContext:       func(context.Context, string, string) (net.Conn, error) { return c.connect(nil) },
				DisableKeepAlives: true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
}

// Close stops the in-memory server and closes every connection the client
// made, including sockets the test did not close.
func (c *Client) Close() {
	if c.srv != nil {
		c.srv.Close()
	}
	c.mu.Lock()
	pipes := c.pipes
	c.pipes = nil
	c.mu.Unlock()
	for _, p := range pipes {
		p.Close()
	}
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// connect makes a connection to the server and returns the client end.
func (c *Client) connect(obs *observer) (net.Conn, error) {
	client, server := memconn.Pipe()
	server = &remoteConn{Conn: server, remote: addr(c.RemoteAddr)}
	c.mu.Lock()
	if obs != nil {
		c.observers[server] = obs
	}
	c.pipes = append(c.pipes, client)
	c.mu.Unlock()
	select {
	case c.ln.conns <- server:
		return client, nil
	case <-c.ln.closed:
		return nil, errors.New("pistoketest: client is closed")
	}
}

func (c *Client) connContext(ctx context.Context, nc net.Conn) context.Context {
	c.mu.Lock()
	obs := c.observers[nc]
	delete(c.observers, nc)
	c.mu.Unlock()
	if obs != nil {
		ctx = hook.WithObserver(ctx, obs)
	}
	if !c.EnforceCSRF {
		ctx = hook.WithSkipCSRF(ctx)
	}
	return ctx
}

// Do sends an HTTP request to the handler, with the client's headers and
// cookies. A relative URL ("/page/") is resolved against the client's host.
// Redirects are not followed.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	c.start()
	if req.URL.Host == "" {
		req.URL.Scheme, req.URL.Host = "http", c.Host
	}
	for k, v := range c.Header {
		if _, ok := req.Header[k]; !ok {
			req.Header[k] = v
		}
	}
	return c.http.Do(req)
}

// Get is shorthand for Do with a GET request.
func (c *Client) Get(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

// DialOptions configures one connection.
type DialOptions struct {
	// Subprotocols to offer, in order of preference.
	Subprotocols []string
	// Origin, when set, is sent as the Origin header.
	Origin string
	// Header holds extra handshake headers.
	Header http.Header
}

// Dial opens a connection to path ("/chat/?room=1"). A refused handshake
// returns a *RefusedError with the status; a handler that ended before
// accepting returns an error matching ErrHandlerEnded.
func (c *Client) Dial(ctx context.Context, path string, opts *DialOptions) (*Conn, error) {
	c.start()
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse("ws://" + c.Host + path)
	if err != nil {
		return nil, err
	}
	header := make(http.Header)
	for k, v := range c.Header {
		header[k] = v
	}
	for k, v := range opts.Header {
		header[k] = v
	}
	if opts.Origin != "" {
		header.Set("Origin", opts.Origin)
	}
	httpURL := &url.URL{Scheme: "http", Host: u.Host, Path: u.Path}
	for _, ck := range c.Jar.Cookies(httpURL) {
		header.Add("Cookie", ck.String())
	}
	obs := &observer{done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	nc, err := c.connect(obs)
	if err != nil {
		return nil, err
	}
	ws, resp, sub, err := wire.ClientHandshake(ctx, nc, u, wire.ClientConfig{
		Subprotocols: opts.Subprotocols,
		Header:       header,
		ReadLimit:    -1,
	})
	if resp != nil {
		c.Jar.SetCookies(httpURL, resp.Cookies())
	}
	if err != nil {
		nc.Close()
		return nil, c.dialError(obs, resp, err)
	}
	return &Conn{ws: ws, sub: sub, obs: obs, timeout: c.timeout()}, nil
}

func (c *Client) dialError(obs *observer, resp *http.Response, err error) error {
	var he *wire.HandshakeError
	if resp == nil || !errors.As(err, &he) || he.Status != resp.StatusCode || he.Status == http.StatusSwitchingProtocols {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return fmt.Errorf("%w: %w", ErrHandshakeFailed, err)
	}
	// The handler's report precedes the response, so it is here if any.
	var herr error
	select {
	case <-obs.done:
		herr = obs.result.Err
	default:
	}
	if herr != nil && !errors.Is(herr, pistoke.ErrNestedProtocol) {
		return fmt.Errorf("%w: %w (status %d)", ErrHandlerEnded, herr, he.Status)
	}
	b, _ := io.ReadAll(resp.Body)
	return &RefusedError{Status: he.Status, Body: string(b), allow: resp.Header.Get("Allow"), err: herr}
}

// observer receives the handler's result from pistoke.
type observer struct {
	once   sync.Once
	done   chan struct{}
	result hook.Result
}

func (o *observer) HandlerDone(r hook.Result) {
	o.once.Do(func() {
		o.result = r
		close(o.done)
	})
}

// listener hands in-memory connections to the http.Server.
type listener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newListener() *listener {
	return &listener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *listener) Addr() net.Addr { return addr("testserver:80") }

type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }

// remoteConn reports the client address the test chose.
type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c *remoteConn) RemoteAddr() net.Addr { return c.remote }
