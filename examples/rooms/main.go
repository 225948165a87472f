// Command rooms is a chat server built on package groups: sockets join
// rooms, every message a member sends reaches every member of the room on
// every node, and each room lists who is present.
//
//	go run ./examples/rooms -addr 127.0.0.1:8000
//	go run ./examples/rooms -addr 127.0.0.1:8001 -redis redis://127.0.0.1:6379
//	go run ./examples/rooms -addr 127.0.0.1:8002 -nats nats://127.0.0.1:4222
//
// Without -redis or -nats the rooms live in the process. Several
// instances given the same broker form one cluster: a client may connect
// to any of them.
//
// Once listening it prints one line to standard output:
//
//	pistoke rooms listening on http://127.0.0.1:8000
//
// and logs to standard error. Routes:
//
//	WEBSOCKET /rooms/{room}?id={member}  join the room, present as member;
//	                                     every message sent is published to the room;
//	                                     400 for a room or member of more than 256 bytes
//	POST /rooms/{room}                   publish the text body to the room; 204
//	GET /rooms/{room}/presence           200, JSON array of the present member ids, sorted
//
// A member leaves the presence list as soon as its socket closes; if its
// node is killed, within the backend's presence TTL (a few seconds; at
// most 10 s by default).
//
// It runs under pistoke.Run: on SIGTERM or SIGINT every socket receives
// close 1001 "going away" and the process exits within the -drain
// timeout. Flags:
//
//	-addr ADDR           address to listen on (default 127.0.0.1:8000)
//	-redis URL           share rooms through Redis (redis://host:port)
//	-nats URL            share rooms through NATS (nats://host:port)
//	-allowed-hosts LIST  hosts whose pages may open sockets, besides the request's own
//	-drain D             drain timeout on SIGTERM/SIGINT (default 5s)
//	-v LEVEL             0-3 or critical, error, warning, info, debug, trace
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
	"github.com/pistoke/pistoke/groups"
)

// config is what the flags decide.
type config struct {
	addr    string
	redis   string
	nats    string
	allowed []string
	drain   time.Duration
	level   slog.Level
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "rooms:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.level}))
	if err := run(cfg, logger); err != nil {
		fmt.Fprintln(os.Stderr, "rooms:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("rooms", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8000", "address to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&cfg.redis, "redis", "", "share rooms through the Redis server at this URL (redis://host:port)")
	fs.StringVar(&cfg.nats, "nats", "", "share rooms through the NATS server at this URL (nats://host:port)")
	allowed := fs.String("allowed-hosts", "", "comma-separated hosts whose pages may open sockets, besides the request's own")
	fs.DurationVar(&cfg.drain, "drain", 5*time.Second, "how long a drain on SIGTERM/SIGINT may take")
	verbosity := fs.String("v", "info", "verbosity: 0-3 or critical, error, warning, info, debug, trace")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.redis != "" && cfg.nats != "" {
		return cfg, errors.New("-redis and -nats are exclusive")
	}
	level, err := devserver.ParseVerbosity(*verbosity)
	if err != nil {
		return cfg, fmt.Errorf("-v: %w", err)
	}
	cfg.level = level
	if cfg.drain <= 0 {
		return cfg, fmt.Errorf("-drain must be positive, not %v", cfg.drain)
	}
	for _, h := range strings.Split(*allowed, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.allowed = append(cfg.allowed, h)
		}
	}
	return cfg, nil
}

func run(cfg config, logger *slog.Logger) error {
	ctx := context.Background()
	b, err := openBackend(ctx, cfg, logger)
	if err != nil {
		return err
	}
	hub, err := groups.New(ctx, b, &groups.Options{Logger: logger})
	if err != nil {
		return err
	}
	// Closing the hub removes this node's presence entries at once, so
	// that other nodes need not wait for their TTL.
	defer hub.Close()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	opts := pistoke.Options{
		Logger:       logger,
		AllowedHosts: cfg.allowed,
		// The closing handshake of a drain must fit in the drain.
		CloseTimeout: min(5*time.Second, cfg.drain/2),
	}
	srv := &http.Server{
		Handler:           newHandler(hub, opts, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Printf("pistoke rooms listening on http://%s\n", ln.Addr())
	// Keep a tenth of -drain for what follows the drain, so that the
	// process is gone within -drain even when the drain runs to its end.
	drain := cfg.drain - cfg.drain/10
	err = pistoke.Run(ctx, srv, ln, &pistoke.RunOptions{DrainTimeout: drain, Logger: logger})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
