// Command seedcases serves the behaviours of the original django-pistoke
// test views over real TCP, for clients in any language to check.
//
//	go run ./examples/seedcases -addr 127.0.0.1:8000
//
// Once listening it prints one line to standard output:
//
//	pistoke seedcases listening on http://127.0.0.1:8000
//
// and logs to standard error. Its routes, all on one origin, are
// WebSocket endpoints but for those marked GET. Every socket route checks
// the Origin header (the server's own host, "testserver" and
// "sallittu-lahde" are allowed) but for /origin-exempt/; messages are at
// most 1 MiB (a larger one closes the socket with 1009) but on
// /echo-big/.
//
//	GET /                 a page whose script opens a socket to /echo/
//	GET /echo/            the request's method
//	/echo/                every message back with its type
//	/echo-big/            the same, for messages of up to 32 MiB (Autobahn's cases 9.*)
//	/echo-iter/           the same as /echo/, written with range
//	/raw/                 one message back, then close 1000
//	/empty/               close 1000 at once
//	/sub/                 subprotocols yhta-suurempi and yhta-pienempi: n answered with n+1 or n-1
//	/private-outer/       /echo/ for the cookie role=admin, else 403; checked outside the protocol
//	/private-inner/       the same, checked inside it
//	/origin-exempt/       /echo/ for any origin
//	GET /csrf/            {"token": ...} and the CSRF cookie
//	/csrf/                "ok" to a first message holding the token, then /echo/
//	/arith/               subprotocols summa and erotus, after a CSRF token: exact sum or difference of two JSON numbers
//	/json/                each JSON value v answered with {"echo": v}; invalid JSON closes with 1007
//	/fail/                the handler fails after the first message: 1011
//	/panic/               the handler panics after the first message: 1011
//	/class/               a page on GET; over a socket, each message answered with: You wrote "message".
//	GET /get-only/        a page; a handshake gets 405
//	/redirect/            a login redirect, which a handshake gets as 403
//	/nested/              two protocols nested: the handshake gets 500
//	GET /metrics          with -metrics, in Prometheus text format
//
// It always runs under pistoke.Run: on SIGTERM or SIGINT every open socket
// receives close 1001 "going away", handshakes arriving meanwhile get 503,
// and the process exits 0 within the -drain timeout. Flags:
//
//	-addr ADDR            address to listen on (default 127.0.0.1:8000)
//	-drain D              drain timeout on SIGTERM/SIGINT (default 5s)
//	-metrics              serve GET /metrics in Prometheus text format
//	-max-conns N          refuse the (N+1)th concurrent socket with 503
//	-ping D               ping every D; drop a peer that answers none within D
//	-compress             accept permessage-deflate on every route
//	-v LEVEL              0-3 or critical, error, warning, info, debug, trace
//	-trusted-proxies LIST IPs or CIDRs whose X-Forwarded-Proto is believed
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/devserver"
)

// config is what the flags decide.
type config struct {
	addr     string
	drain    time.Duration
	metrics  bool
	maxConns int
	ping     time.Duration
	compress bool
	level    slog.Level
	proxies  []string
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "seedcases:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.level}))
	if err := run(cfg, logger); err != nil {
		fmt.Fprintln(os.Stderr, "seedcases:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("seedcases", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8000", "address to listen on (host:port; port 0 picks a free one)")
	fs.DurationVar(&cfg.drain, "drain", 5*time.Second, "how long a drain on SIGTERM/SIGINT may take")
	fs.BoolVar(&cfg.metrics, "metrics", false, "serve GET /metrics in Prometheus text format")
	fs.IntVar(&cfg.maxConns, "max-conns", 0, "most concurrent sockets; beyond it handshakes get 503 (0: no cap)")
	fs.DurationVar(&cfg.ping, "ping", 30*time.Second, "ping interval; a peer answering no ping within it is dropped")
	fs.BoolVar(&cfg.compress, "compress", false, "accept permessage-deflate on every route")
	verbosity := fs.String("v", "info", "verbosity: 0-3 or critical, error, warning, info, debug, trace")
	proxies := fs.String("trusted-proxies", "", "comma-separated IPs or CIDRs of proxies whose X-Forwarded-Proto is believed")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	level, err := devserver.ParseVerbosity(*verbosity)
	if err != nil {
		return cfg, fmt.Errorf("-v: %w", err)
	}
	cfg.level = level
	if cfg.drain <= 0 {
		return cfg, fmt.Errorf("-drain must be positive, not %v", cfg.drain)
	}
	if cfg.ping <= 0 {
		return cfg, fmt.Errorf("-ping must be positive, not %v", cfg.ping)
	}
	if cfg.maxConns < 0 {
		return cfg, fmt.Errorf("-max-conns must not be negative")
	}
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.proxies = append(cfg.proxies, p)
		}
	}
	return cfg, nil
}

func run(cfg config, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	h, err := newServerHandler(cfg, logger)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Printf("pistoke seedcases listening on http://%s\n", ln.Addr())
	// Keep a tenth of -drain for what follows the drain, so that the
	// process is gone within -drain even when the drain runs to its end.
	drain := cfg.drain - cfg.drain/10
	err = pistoke.Run(context.Background(), srv, ln, &pistoke.RunOptions{DrainTimeout: drain, Logger: logger})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// A drain cut short has closed what was left: the exit is still clean.
	return nil
}
