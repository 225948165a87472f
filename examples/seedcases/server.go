package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/pistokeprom"
)

// newServerHandler is the application with the runtime the flags ask
// for: keepalive, connection cap, compression and, with -metrics,
// GET /metrics beside the contract's routes.
func newServerHandler(cfg config, logger *slog.Logger) (http.Handler, error) {
	opts := pistoke.Options{
		Logger:         logger,
		TrustedProxies: cfg.proxies,
		PingInterval:   cfg.ping,
		PongTimeout:    cfg.ping,
		MaxConns:       cfg.maxConns,
		// The closing handshake of a drain must fit in the drain.
		CloseTimeout: min(5*time.Second, cfg.drain/2),
	}
	if cfg.compress {
		opts.Compression = &pistoke.Compression{}
	}
	if !cfg.metrics {
		return newHandlerWith(opts), nil
	}
	reg := prometheus.NewRegistry()
	m := pistokeprom.New(pistokeprom.Opts{})
	if err := reg.Register(m); err != nil {
		return nil, err
	}
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	opts.Metrics = m
	app := newHandlerWith(opts)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", app)
	return mux, nil
}
