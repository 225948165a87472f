package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ctlClient talks to a server's control listener.
type ctlClient struct {
	base string
	hc   *http.Client
}

func newCtlClient(addr string) *ctlClient {
	return &ctlClient{base: "http://" + addr, hc: &http.Client{}}
}

// do sends a request and decodes the JSON answer into v, if v is not nil.
func (c *ctlClient) do(ctx context.Context, method, path string, q url.Values, v any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("control %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if v == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (c *ctlClient) stats(ctx context.Context) (serverStats, error) {
	var s serverStats
	err := c.do(ctx, http.MethodGet, "/stats", nil, &s)
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
	err := c.do(ctx, http.MethodPost, "/publish", q, &r)
	return r, err
}

// waitJoined waits until exactly n sockets are in the group. The server
// has no way to push this, so it is polled, with a deadline.
func (c *ctlClient) waitJoined(ctx context.Context, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		s, err := c.stats(ctx)
		if err != nil {
			return err
		}
		if s.Joined == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d sockets in the group after %v, want %d", s.Joined, timeout, n)
		}
		time.Sleep(delay)
	}
}
