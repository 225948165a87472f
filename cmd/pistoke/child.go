package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/pistoke/pistoke/devserver"
)

// startTimeout bounds how long a freshly built program may take to
// listen.
const startTimeout = time.Minute

// stopTimeout is how long a program gets to drain after SIGTERM before it
// is killed: its drain timeout and a little more to exit.
func stopTimeout(o devserver.Options) time.Duration {
	d := o.DrainTimeout
	if d <= 0 {
		d = 5 * time.Second
	}
	return d + 5*time.Second
}

// child is one run of the program behind the reload proxy.
type child struct {
	cmd    *exec.Cmd
	url    *url.URL      // where it listens
	done   chan error    // receives cmd.Wait's result once
	exited chan struct{} // closed when it has exited
	err    error         // cmd.Wait's result, once exited is closed
	output *tail         // the end of its standard error
}

// errExitedEarly reports a program that ended before it listened.
var errExitedEarly = errors.New("the program exited before listening")

// startChild runs bin with env and waits until it prints the dev server's
// listening line. Its standard output, but for that line, goes to stdout;
// its standard error to stderr, keeping the end for error reports.
func startChild(ctx context.Context, bin string, args, env []string, stdout, stderr io.Writer) (*child, error) {
	ready := make(chan string, 1)
	c := &child{
		cmd:    exec.Command(bin, args...),
		done:   make(chan error, 1),
		exited: make(chan struct{}),
		output: &tail{max: 16 << 10},
	}
	c.cmd.Env = env
	c.cmd.Stdout = &lineWriter{out: stdout, line: func(s string) bool {
		u, ok := strings.CutPrefix(s, devserver.ListeningPrefix)
		if ok {
			select {
			case ready <- strings.TrimSpace(u):
			default:
			}
		}
		return ok
	}}
	c.cmd.Stderr = io.MultiWriter(stderr, c.output)
	c.cmd.WaitDelay = time.Second
	setProcAttr(c.cmd)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		err := c.cmd.Wait()
		c.err = err
		close(c.exited)
		c.done <- err
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case u := <-ready:
		parsed, err := url.Parse(u)
		if err != nil || parsed.Host == "" {
			c.stop(time.Second)
			return nil, fmt.Errorf("the program announced an address that does not parse: %q", u)
		}
		c.url = parsed
		return c, nil
	case <-c.exited:
		return nil, fmt.Errorf("%w (%v):\n\n%s", errExitedEarly, c.err, stripANSI(c.output.String()))
	case <-timer.C:
		c.stop(time.Second)
		return nil, fmt.Errorf("the program did not print %q within %v: does its main call devserver.Main?", strings.TrimSpace(devserver.ListeningPrefix), startTimeout)
	case <-ctx.Done():
		c.stop(time.Second)
		return nil, ctx.Err()
	}
}

// stop asks the program to drain and waits for it to exit, killing it
// after timeout.
func (c *child) stop(timeout time.Duration) {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = terminate(c.cmd, c.done, timeout)
}

// lineWriter passes whole lines to out, but for those line consumes.
type lineWriter struct {
	mu   sync.Mutex
	out  io.Writer
	line func(string) bool // reports whether it consumed the line
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		ln := w.buf[:i+1]
		if !w.line(strings.TrimRight(string(ln), "\r\n")) {
			if _, err := w.out.Write(ln); err != nil {
				return len(p), nil
			}
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
