package main

import (
	"context"
	"log/slog"

	"github.com/pistoke/pistoke/groups"
	groupsnats "github.com/pistoke/pistoke/groups/nats"
	groupsredis "github.com/pistoke/pistoke/groups/redis"
)

// openBackend returns the backend the flags ask for: nil, meaning the
// in-process one, unless -redis or -nats names a broker.
func openBackend(ctx context.Context, cfg config, logger *slog.Logger) (groups.Backend, error) {
	switch {
	case cfg.redis != "":
		return groupsredis.New(ctx, groupsredis.Options{URL: cfg.redis, Logger: logger})
	case cfg.nats != "":
		return groupsnats.New(ctx, groupsnats.Options{URL: cfg.nats, Logger: logger})
	}
	return nil, nil
}
