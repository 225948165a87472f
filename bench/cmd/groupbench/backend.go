package main

import (
	"context"
	"fmt"

	"github.com/pistoke/pistoke/groups"
	groupsnats "github.com/pistoke/pistoke/groups/nats"
	groupsredis "github.com/pistoke/pistoke/groups/redis"
)

// The backends a hub can run on.
const (
	backendLocal = "local"
	backendRedis = "redis"
	backendNATS  = "nats"
)

// openBackend returns the backend named kind, over the broker at url for
// the ones that have a broker. The hub opens it.
func openBackend(ctx context.Context, kind, url string) (groups.Backend, error) {
	switch kind {
	case backendLocal:
		return groups.NewLocal(), nil
	case backendRedis:
		return groupsredis.New(ctx, groupsredis.Options{URL: url})
	case backendNATS:
		return groupsnats.New(ctx, groupsnats.Options{URL: url})
	}
	return nil, fmt.Errorf("unknown backend %q (want %s, %s or %s)", kind, backendLocal, backendRedis, backendNATS)
}
