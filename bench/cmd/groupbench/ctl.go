package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// ctlClient talks to a server's control listener.
type ctlClient struct {
	*harness.ControlClient
}

func newCtlClient(addr string) *ctlClient {
	return &ctlClient{harness.NewControlClient(addr, 0)}
}

func (c *ctlClient) stats(ctx context.Context) (serverStats, error) {
	var s serverStats
	err := c.Get(ctx, "/stats", &s)
	return s, err
}

// publish has the server publish, rate messages a second for d (rate 0:
// as fast as it can), and returns once it has.
func (c *ctlClient) publish(ctx context.Context, rate float64, d time.Duration, size int) (publishResult, error) {
	var r publishResult
	q := url.Values{
		"rate":     {strconv.FormatFloat(rate, 'g', -1, 64)},
		"duration": {d.String()},
		"size":     {strconv.Itoa(size)},
	}
	err := c.Do(ctx, http.MethodPost, "/publish", q, &r)
	return r, err
}

// waitJoined waits until exactly n sockets are in the group.
func (c *ctlClient) waitJoined(ctx context.Context, n int64, timeout time.Duration) error {
	var s serverStats
	err := harness.Poll(ctx, timeout, func() (bool, error) {
		var err error
		s, err = c.stats(ctx)
		return s.Joined == n, err
	})
	if errors.Is(err, harness.ErrTimeout) {
		return fmt.Errorf("%d sockets in the group after %v, want %d", s.Joined, timeout, n)
	}
	return err
}
