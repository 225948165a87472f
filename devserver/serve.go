package devserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/pistoke/pistoke"
)

// ListeningPrefix starts the line [Serve] prints once it listens,
// followed by the server's URL:
//
//	pistoke dev server listening on http://127.0.0.1:8000
//
// Tools that start a dev server with port 0 read the port from it.
const ListeningPrefix = "pistoke dev server listening on "

// ListenError reports that the server could not listen on Addr.
type ListenError struct {
	Addr string
	Err  error // from net.Listen; errors.Is(err, syscall.EADDRINUSE) when the port is taken
}

// Error names the address and, when the port is taken, suggests -addr.
func (e *ListenError) Error() string {
	msg := fmt.Sprintf("cannot listen on %s: %v", e.Addr, e.Err)
	if errors.Is(e.Err, syscall.EADDRINUSE) {
		msg += " (another server is using that port: stop it, or choose another with -addr, e.g. -addr 127.0.0.1:8001, or -addr 127.0.0.1:0 for any free port)"
	}
	return msg
}

// Unwrap returns the cause.
func (e *ListenError) Unwrap() error { return e.Err }

// Serve runs handler for development until ctx is done, then stops
// gracefully: open sockets receive 1001 and handlers get up to
// opts.DrainTimeout to return (see [pistoke.Run]). Requests pass through
// [LogRequests] and, when opts.StaticDir is set, [StaticHandler] before
// reaching handler, which should be wrapped by [pistoke.Handler] for its
// WebSocket routes to work.
//
// Serve logs to opts.Logger, or to a [LogHandler] on standard error. So
// that pistoke's own events (sockets opened and closed, refused
// handshakes, failing handlers) appear there too, in the same format and
// once, Serve makes slog's default logger route records to its log while
// it runs: the events of a [pistoke.Handler] whose Options.Logger is nil,
// which go to slog.Default(), about requests this server serves; and
// anything else logged through slog's default logger or the standard log
// package (to the log of the Serve started last, when several run at
// once). When Serve returns, slog's previous default logger and the log
// package's output and flags are restored, unless something else has
// replaced the default meanwhile. A handler given its own
// Options.Logger keeps logging there.
//
// Serve prints one line starting with [ListeningPrefix] to opts.Stdout
// once it listens. Errors before that are a [*ListenError], a
// [*TLSFileError] or an error about the static directory; Serve returns
// nil after a stop that drained in time.
func Serve(ctx context.Context, handler http.Handler, opts Options) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(NewLogHandler(os.Stderr, &LogOptions{Level: opts.Level, Color: opts.Color}))
	}
	stdout := opts.Stdout
	if stdout == nil {
		stdout = os.Stdout
	}
	addr := opts.Addr
	if addr == "" {
		addr = DefaultAddr
	}

	h := handler
	if opts.StaticDir != "" {
		var err error
		if h, err = StaticHandler(opts.StaticDir, opts.StaticPrefix, h); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler:  LogRequests(h, logger),
		ErrorLog: log.New(serverLog{logger}, "", 0),
	}
	scheme := "http"
	switch {
	case opts.TLSCert != "" || opts.TLSKey != "":
		if opts.TLSCert == "" || opts.TLSKey == "" {
			return errors.New("TLS needs both a certificate and a key file (-tls-cert and -tls-key)")
		}
		cert, err := LoadCertificate(opts.TLSCert, opts.TLSKey)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		scheme = "https"
	case opts.TLSSelfSigned:
		certPEM, keyPEM, err := NewCertificate()
		if err != nil {
			return err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		scheme = "https"
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &ListenError{Addr: addr, Err: err}
	}
	// pistoke's events go to the logger of the handler that logs them,
	// by default slog's: make it this server's while it runs.
	defer routeDefault(srv, logger.Handler())()
	if _, err := fmt.Fprintf(stdout, "%s%s://%s\n", ListeningPrefix, scheme, ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	if opts.StaticDir != "" {
		prefix := opts.StaticPrefix
		if prefix == "" {
			prefix = DefaultStaticPrefix
		}
		logger.LogAttrs(ctx, slog.LevelDebug, "devserver: serving static files",
			slog.String("dir", opts.StaticDir), slog.String("prefix", prefix))
	}
	return pistoke.Run(ctx, srv, ln, &pistoke.RunOptions{
		DrainTimeout: opts.DrainTimeout,
		Signals:      []os.Signal{}, // ctx alone decides; Main ties it to signals
		Logger:       logger,
	})
}

// serverLog carries net/http's own messages to the dev server's log.
// TLS handshake failures are routine with a self-signed certificate (the
// browser hangs up until the user accepts it), so they go to debug.
type serverLog struct{ logger *slog.Logger }

func (l serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	level := slog.LevelWarn
	if strings.Contains(msg, "TLS handshake error") {
		level = slog.LevelDebug
	}
	if first, rest, ok := strings.Cut(msg, "\n"); ok {
		// A handler's panic, with its stack.
		l.logger.Log(context.Background(), slog.LevelError, first, "stack", rest)
		return len(p), nil
	}
	l.logger.Log(context.Background(), level, msg)
	return len(p), nil
}
