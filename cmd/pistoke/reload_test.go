package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/internal/proctest"
)

// browser is Chromium driven by e2e/devserver-reload.mjs.
type browser struct {
	t    *testing.T
	proc *proctest.Process
	in   io.WriteCloser
	out  *bufio.Reader
}

// answer is the driver's reply to a command.
type answer struct {
	OK      bool     `json:"ok"`
	Error   string   `json:"error"`
	Text    string   `json:"text"`
	Loads   int      `json:"loads"`
	Console []string `json:"console"`
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		requireTool(t, "node", "the browser test drives Chromium from Node")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		requireTool(t, "/usr/bin/chromium", "install the Debian package chromium")
	}
	e2e := filepath.Join(repoRoot(t), "e2e")
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core")); err != nil {
		requireTool(t, "playwright-core", "run npm ci in e2e/")
	}
	cmd := exec.Command(node, "devserver-reload.mjs")
	cmd.Dir = e2e
	b := &browser{t: t}
	if b.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.out = bufio.NewReader(stdout)
	b.proc = proctest.Start(t, cmd, nil)
	t.Cleanup(func() {
		b.in.Close() // the driver quits at the end of its input
		<-b.proc.Exited()
		if err := b.proc.Err(); err != nil {
			t.Errorf("browser driver: %v\n%s", err, b.proc.Stderr)
		}
	})
	return b
}

// do sends a command and returns the answer, failing the test if the
// command failed.
func (b *browser) do(cmd map[string]any) answer {
	b.t.Helper()
	line, err := json.Marshal(cmd)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.in.Write(append(line, '\n')); err != nil {
		b.t.Fatalf("browser driver: %v\n%s", err, b.proc.Stderr)
	}
	reply, err := b.out.ReadBytes('\n')
	if err != nil {
		b.t.Fatalf("browser driver gave no answer to %s: %v\n%s", line, err, b.proc.Stderr)
	}
	var a answer
	if err := json.Unmarshal(reply, &a); err != nil {
		b.t.Fatalf("browser driver answered %q: %v", reply, err)
	}
	if !a.OK {
		b.t.Fatalf("%s: %s\nbrowser console: %q", line, a.Error, a.Console)
	}
	return a
}

// TestReloadInBrowser edits the program and its static files while a
// browser shows its page, as a developer would, and checks that the page
// follows by itself: new text after a rebuild, the compiler's error over
// the page while the previous build keeps serving, new styles.
func TestReloadInBrowser(t *testing.T) {
	b := startBrowser(t)
	app := copyApp(t)
	c := startCLI(t, app, "run", "-reload", "-static", "static", "-addr", "127.0.0.1:0", ".")
	mainGo := filepath.Join(app, "main.go")

	b.do(map[string]any{"cmd": "open", "url": c.url + "/"})
	a := b.do(map[string]any{"cmd": "text", "selector": "#greeting", "contains": "Hello from devapp"})
	loads := a.Loads
	// The page's own socket works through the proxy.
	b.do(map[string]any{"cmd": "text", "selector": "#status", "contains": "connected"})

	edit(t, mainGo, `"Hello from devapp"`, `"Hello B"`)
	a = b.do(map[string]any{"cmd": "text", "selector": "#greeting", "contains": "Hello B"})
	if a.Loads <= loads {
		t.Errorf("the page shows the new text after %d loads, as before: it did not reload", a.Loads)
	}

	edit(t, mainGo, `"Hello B"`, `"Hello B" + undefinedGreeting`)
	a = b.do(map[string]any{"cmd": "text", "selector": "#__pistoke_error", "contains": "undefined: undefinedGreeting"})
	if !strings.Contains(a.Text, "main.go") {
		t.Errorf("the overlay does not show the compiler's output: %q", a.Text)
	}
	// The previous build still answers.
	if status, body := httpGet(t, c.url+"/"); status != 200 || !strings.Contains(body, "Hello B") {
		t.Errorf("during the build error GET / = %d %q; want the previous build's page", status, body)
	}
	if !strings.Contains(c.stderr.String(), "undefined: undefinedGreeting") {
		t.Errorf("the terminal does not show the compiler's output:\n%s", c.stderr)
	}

	edit(t, mainGo, `"Hello B" + undefinedGreeting`, `"Hello C"`)
	b.do(map[string]any{"cmd": "text", "selector": "#greeting", "contains": "Hello C"})
	b.do(map[string]any{"cmd": "gone", "selector": "#__pistoke_error"})

	edit(t, filepath.Join(app, "static", "style.css"), "rgb(0, 0, 128)", "rgb(128, 0, 0)")
	b.do(map[string]any{"cmd": "style", "selector": "h1", "property": "color", "value": "rgb(128, 0, 0)"})

	if status := c.stop(t); status != 0 {
		t.Errorf("pistoke exited with %d after SIGINT; want 0\n%s", status, c.stderr)
	}
}

// TestReloadProtocol checks what the browser relies on without a
// browser: the script in pages, the reload socket's messages, sockets to
// the program through the proxy, the previous build serving during a
// build error.
func TestReloadProtocol(t *testing.T) {
	app := copyApp(t)
	c := startCLI(t, app, "run", "-reload", "-static", "static", "-addr", "127.0.0.1:0", ".")
	mainGo := filepath.Join(app, "main.go")
	wsURL := "ws" + strings.TrimPrefix(c.url, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	status, page := httpGet(t, c.url+"/")
	if status != 200 || !strings.Contains(page, `<script src="/__pistoke/reload.js" data-version="`) {
		t.Fatalf("GET / = %d without the reload script:\n%s", status, page)
	}
	if i, j := strings.Index(page, "/__pistoke/reload.js"), strings.LastIndex(page, "</body>"); i > j {
		t.Errorf("the script is not before </body>:\n%s", page)
	}
	if _, css := httpGet(t, c.url+"/static/style.css"); strings.Contains(css, "__pistoke") {
		t.Errorf("the script was added to a stylesheet")
	}

	// A socket of the program, through the proxy.
	clock, _, err := pistoke.Dial(ctx, wsURL+"/clock", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := clock.Receive(); err != nil {
		t.Fatalf("clock: %v", err)
	}

	reload, _, err := pistoke.Dial(ctx, wsURL+"/__pistoke/reload", nil)
	if err != nil {
		t.Fatal(err)
	}
	next := func() message {
		t.Helper()
		var m message
		if err := reload.ReceiveJSON(&m); err != nil {
			t.Fatalf("reload socket: %v\n%s", err, c.stderr)
		}
		return m
	}
	hello := next()
	if hello.Type != "hello" || hello.Version == "" || hello.Error != "" {
		t.Fatalf("first message %+v; want hello with a version and no error", hello)
	}

	edit(t, mainGo, `"Hello from devapp"`, `"Hello B" + undefinedGreeting`)
	if m := next(); m.Type != "error" || !strings.Contains(m.Error, "undefined: undefinedGreeting") {
		t.Fatalf("after a compile error: %+v; want the compiler's output", m)
	}
	if _, body := httpGet(t, c.url+"/"); !strings.Contains(body, "Hello from devapp") {
		t.Errorf("the previous build does not serve during the error: %q", body)
	}

	edit(t, mainGo, `"Hello B" + undefinedGreeting`, `"Hello C"`)
	m := next()
	if m.Type != "reload" || m.Version == hello.Version {
		t.Fatalf("after the fix: %+v; want reload with a new version", m)
	}
	// The previous program closed its sockets with 1001 as it stopped.
	var ce *pistoke.CloseError
	for {
		if _, _, err = clock.Receive(); err != nil {
			break
		}
	}
	if !errors.As(err, &ce) || ce.Code != pistoke.CloseGoingAway {
		t.Errorf("the program's socket ended with %v; want 1001", err)
	}
	if _, body := httpGet(t, c.url+"/"); !strings.Contains(body, "Hello C") {
		t.Errorf("after the fix GET / = %q; want Hello C", body)
	}

	edit(t, filepath.Join(app, "static", "style.css"), "rgb(0, 0, 128)", "rgb(128, 0, 0)")
	if m := next(); m.Type != "css" {
		t.Errorf("after a stylesheet change: %+v; want css", m)
	}
	appJS := filepath.Join(app, "static", "app.js")
	js, err := os.ReadFile(appJS)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, appJS, string(js)+"// edited\n")
	if m := next(); m.Type != "reload" {
		t.Errorf("after a script change: %+v; want reload", m)
	}

	reload.Close(pistoke.CloseNormal, "") // the tab closes
	if status := c.stop(t); status != 0 {
		t.Errorf("pistoke exited with %d after SIGINT; want 0\n%s", status, c.stderr)
	}
}
