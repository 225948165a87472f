package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"
)

// Control is the handler of a server process's control listener (see
// Serve). It has the routes every server has, and each server adds its
// own:
//
//	GET /stats                 the process's Usage and the server's own counters
//	POST /profile/cpu/start    start a CPU profile (see CPUProfiler), named by the
//	                           query's name, or by the default profile name
//	POST /profile/cpu/stop     stop it
type Control struct {
	*http.ServeMux
	// CPU runs the CPU profiles; its Dir is where the server's profiles
	// go.
	CPU CPUProfiler
}

// profileName is what a profile may be called: it becomes a file name.
var profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// NewControl returns the Control of a server whose profiles go to dir
// ("" for none). Its GET /stats answers with stats(u), u being the
// process's Usage: stats returns a struct that embeds u next to the
// server's own counters. A request to start a CPU profile without a name
// names it defaultProfile.
func NewControl(dir, defaultProfile string, stats func(Usage) any) *Control {
	c := &Control{ServeMux: http.NewServeMux()}
	c.CPU.Dir = dir
	c.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		u, err := ReadUsage()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		WriteJSON(w, stats(u))
	})
	c.HandleFunc("POST /profile/cpu/start", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			name = defaultProfile
		}
		if !profileName.MatchString(name) {
			http.Error(w, fmt.Sprintf("profile name %q: want lower-case letters, digits and dashes", name), http.StatusBadRequest)
			return
		}
		c.CPU.ServeStart(w, name)
	})
	c.HandleFunc("POST /profile/cpu/stop", c.CPU.ServeStop)
	return c
}

// ControlClient talks to the control listener of a server process (see
// Serve), which answers with JSON.
type ControlClient struct {
	base string
	hc   *http.Client
}

// NewControlClient returns a client of the control listener at addr,
// host:port, whose requests each give up after timeout; 0 means they do
// not.
func NewControlClient(addr string, timeout time.Duration) *ControlClient {
	return &ControlClient{base: "http://" + addr, hc: &http.Client{Timeout: timeout}}
}

// ControlError is a control listener's answer other than 200 OK.
type ControlError struct {
	Path   string // the request's path
	Code   int    // the answer's status code
	Status string // and its status line, as in "409 Conflict"
	Body   string // the text of the answer
}

func (e *ControlError) Error() string {
	return fmt.Sprintf("control %s: %s: %s", e.Path, e.Status, e.Body)
}

// Do sends a request for path with the query q, and decodes the JSON
// answer into v, unless v is nil. An answer other than 200 OK is a
// *ControlError.
func (c *ControlClient) Do(ctx context.Context, method, path string, q url.Values, v any) error {
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
		return &ControlError{Path: path, Code: resp.StatusCode, Status: resp.Status, Body: string(bytes.TrimSpace(b))}
	}
	if v == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Get asks for path and decodes the JSON answer into v.
func (c *ControlClient) Get(ctx context.Context, path string, v any) error {
	return c.Do(ctx, http.MethodGet, path, nil, v)
}

// Post sends an order, such as to start a profile, and ignores what the
// answer says beyond its status.
func (c *ControlClient) Post(ctx context.Context, path string) error {
	return c.Do(ctx, http.MethodPost, path, nil, nil)
}

// ErrTimeout is what Poll returns when its time is up.
var ErrTimeout = errors.New("timed out")

// Poll calls check until it reports done, with pauses that grow from a
// millisecond to 100 ms. It is for a server that has no way to push a
// change of state, such as the count of its connections reaching a
// number. It returns check's error, ctx's error when ctx is done first,
// or ErrTimeout once timeout has passed since the first call.
func Poll(ctx context.Context, timeout time.Duration, check func() (done bool, err error)) error {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		done, err := check()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// WriteJSON answers a request with v as JSON.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
