package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
)

// Without -reload, the program owns the address; SIGINT to pistoke drains
// its sockets with 1001 and both exit 0.
func TestRunWithoutReload(t *testing.T) {
	app := copyApp(t)
	c := startCLI(t, app, "run", "-static", "static", "-addr", "127.0.0.1:0", ".")

	status, page := httpGet(t, c.url+"/")
	if status != 200 || !strings.Contains(page, "Hello from devapp") {
		t.Fatalf("GET / = %d %q", status, page)
	}
	if strings.Contains(page, "__pistoke") {
		t.Errorf("the reload script was added without -reload")
	}
	if status, css := httpGet(t, c.url+"/static/style.css"); status != 200 || !strings.Contains(css, "h1") {
		t.Errorf("GET /static/style.css = %d %q", status, css)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(c.url, "http") + "/clock"

	// A socket the client closes is logged in the dev server's format.
	closed := c.stderr.LineContaining(`socket closed /clock 1000 "bye" by client`)
	first, _, err := pistoke.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := first.Receive(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(pistoke.CloseNormal, "bye"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatalf("the log lacks the closed socket:\n%s", c.stderr)
	}

	clock, _, err := pistoke.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := clock.Receive(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan int, 1)
	go func() { stopped <- c.stop(t) }()
	for err == nil {
		_, _, err = clock.Receive()
	}
	var ce *pistoke.CloseError
	if !errors.As(err, &ce) || ce.Code != pistoke.CloseGoingAway {
		t.Errorf("on SIGINT the socket ended with %v; want 1001", err)
	}
	if status := <-stopped; status != 0 {
		t.Errorf("exit status %d; want 0\n%s", status, c.stderr)
	}
	// The line of the socket closed by the drain is not looked for: pistoke
	// may log a socket's end after the drain has counted it gone, and the
	// program exits once the drain is over.
	for _, want := range []string{"GET / 200", "WEBSOCKET /clock 101", "stopping: closing 1 sockets with 1001"} {
		if !strings.Contains(c.stderr.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, c.stderr)
		}
	}
}

// A program that does not build: the compiler's output and exit status 1.
func TestRunBuildError(t *testing.T) {
	app := copyApp(t)
	edit(t, filepath.Join(app, "main.go"), `"Hello from devapp"`, `undefinedGreeting`)
	cmd := exec.Command(buildCLI(t), "run", "-addr", "127.0.0.1:0", ".")
	cmd.Dir = app
	cmd.Env = append(os.Environ(), cliEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if exitStatus(err) != 1 {
		t.Errorf("exit status %d; want 1", exitStatus(err))
	}
	if !strings.Contains(stderr.String(), "undefined: undefinedGreeting") {
		t.Errorf("stderr lacks the compiler's output:\n%s", stderr.String())
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		say  string
	}{
		{nil, 2, "usage:"},
		{[]string{"serve"}, 2, `unknown command "serve"`},
		{[]string{"run", "-nope"}, 2, "flag provided but not defined"},
		{[]string{"run", "-v", "loud"}, 2, "critical, error, warning, info, debug or trace"},
		{[]string{"cert", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"run", "-h"}, 0, "-reload"},
		{[]string{"help"}, 0, "pistoke cert"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := command(tt.args, &stdout, &stderr)
		if code != tt.code {
			t.Errorf("pistoke %q: exit status %d; want %d", tt.args, code, tt.code)
		}
		if out := stdout.String() + stderr.String(); !strings.Contains(out, tt.say) {
			t.Errorf("pistoke %q says %q; want %q", tt.args, out, tt.say)
		}
	}
}

func TestReloadPortTaken(t *testing.T) {
	app := copyApp(t)
	c := startCLI(t, app, "run", "-reload", "-addr", "127.0.0.1:0", ".")
	addr := strings.TrimPrefix(c.url, "http://")
	var stderr bytes.Buffer
	t.Chdir(app)
	code := command([]string{"run", "-reload", "-addr", addr, "."}, &bytes.Buffer{}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "address already in use") || !strings.Contains(stderr.String(), "-addr") {
		t.Errorf("second server on %s: exit status %d, %q; want 1 and a hint to use -addr", addr, code, stderr.String())
	}
}
