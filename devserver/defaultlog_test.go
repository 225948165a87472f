package devserver

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
)

// withDefault makes a logger writing text to the returned buffer slog's
// default for the test, and restores the default and the log package's
// settings after it.
func withDefault(t *testing.T) *syncBuffer {
	t.Helper()
	prev, out, flags := slog.Default(), log.Writer(), log.Flags()
	t.Cleanup(func() {
		slog.SetDefault(prev)
		log.SetOutput(out)
		log.SetFlags(flags)
	})
	buf := new(syncBuffer)
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return buf
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// defaultLoggerApp is testApp as most applications build it: without a
// Logger, so that pistoke logs to slog.Default().
func defaultLoggerApp(*slog.Logger) http.Handler { return testApp(nil) }

// echoAndClose opens a socket to /echo of s, echoes a message and closes
// it with 1000 and reason, then waits until the dev server has logged the
// socket's end.
func echoAndClose(t *testing.T, s *served, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	closed := s.log.LineContaining(`"` + reason + `"`)
	ws, _, err := pistoke.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.SendText("hi"); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := ws.Receive(); err != nil || string(msg) != "hi" {
		t.Fatalf("echo: %q, %v", msg, err)
	}
	if err := ws.Close(pistoke.CloseNormal, reason); err != nil {
		t.Fatal(err)
	}
	waitLine(t, s, closed)
}

// A handler built with pistoke.Options{} logs to slog's default logger:
// while Serve runs, its events land in the dev server's log, in its
// format, once; and the default comes back when Serve returns.
func TestServeRoutesPistokeEvents(t *testing.T) {
	before := withDefault(t)
	prev, prevOut, prevFlags := slog.Default(), log.Writer(), log.Flags()

	s := startServeApp(t, Options{}, defaultLoggerApp)
	echoAndClose(t, s, "bye")
	slog.Info("app: through slog")
	log.Print("app: through the log package")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	logs := s.log.String()
	for _, want := range []string{
		"DEBUG socket opened /echo from 127.0.0.1:",
		`INFO  socket closed /echo 1000 "bye" by client after `,
		"INFO  app: through slog\n",
		"INFO  app: through the log package\n",
	} {
		if n := strings.Count(logs, want); n != 1 {
			t.Errorf("the dev server's log holds %q %d times; want once:\n%s", want, n, logs)
		}
	}
	if strings.Contains(logs, "msg=") {
		t.Errorf("the dev server's log holds lines in another format:\n%s", logs)
	}
	if got := before.String(); got != "" {
		t.Errorf("the previous default logger received records while Serve ran:\n%s", got)
	}

	if slog.Default() != prev {
		t.Error("slog's default logger was not restored when Serve returned")
	}
	if log.Writer() != prevOut || log.Flags() != prevFlags {
		t.Error("the log package's output or flags were not restored when Serve returned")
	}
	slog.Info("app: after Serve")
	if !strings.Contains(before.String(), "app: after Serve") || strings.Contains(s.log.String(), "after Serve") {
		t.Errorf("after Serve a record went to the dev server's log rather than the previous default")
	}
}

// Two dev servers at once each log their own sockets, and the default
// comes back once both have returned.
func TestServeRoutesEventsPerServer(t *testing.T) {
	before := withDefault(t)
	prev := slog.Default()

	a := startServeApp(t, Options{}, defaultLoggerApp)
	b := startServeApp(t, Options{}, defaultLoggerApp)
	echoAndClose(t, a, "to a")
	echoAndClose(t, b, "to b")
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	// b still runs: pistoke's events still go to its log.
	echoAndClose(t, b, "to b again")
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		s            *served
		mine, others []string
	}{
		{a, []string{`"to a"`}, []string{`"to b"`, `"to b again"`}},
		{b, []string{`"to b"`, `"to b again"`}, []string{`"to a"`}},
	} {
		logs := c.s.log.String()
		for _, want := range c.mine {
			if n := strings.Count(logs, want); n != 1 {
				t.Errorf("a log holds %s %d times; want once:\n%s", want, n, logs)
			}
		}
		for _, other := range c.others {
			if strings.Contains(logs, other) {
				t.Errorf("a log holds the other server's socket %s:\n%s", other, logs)
			}
		}
	}
	if got := before.String(); got != "" {
		t.Errorf("the previous default logger received records while Serve ran:\n%s", got)
	}
	if slog.Default() != prev {
		t.Error("slog's default logger was not restored when both servers returned")
	}
}

// With slog's own default logger, which writes through the log package,
// Serve routes both to its log and puts both back.
func TestServeRestoresSlogsOwnDefault(t *testing.T) {
	prev, out, flags := slog.Default(), log.Writer(), log.Flags()
	t.Cleanup(func() {
		log.SetOutput(out)
		log.SetFlags(flags)
	})
	buf := new(syncBuffer)
	log.SetOutput(buf)
	log.SetFlags(0)

	s := startServeApp(t, Options{}, defaultLoggerApp)
	echoAndClose(t, s, "bye")
	log.Print("app: through the log package")
	slog.Info("app: through slog")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "" {
		t.Errorf("the log package's output received records while Serve ran:\n%s", got)
	}
	if logs := s.log.String(); !strings.Contains(logs, "INFO  app: through the log package\n") || !strings.Contains(logs, "INFO  app: through slog\n") {
		t.Errorf("the dev server's log lacks the application's records:\n%s", logs)
	}

	if slog.Default() != prev || log.Writer() != io.Writer(buf) || log.Flags() != 0 {
		t.Fatal("slog's default logger or the log package's settings were not restored")
	}
	slog.Info("app: after Serve")
	log.Print("app: log after Serve")
	if got := buf.String(); !strings.Contains(got, "INFO app: after Serve") || !strings.Contains(got, "app: log after Serve") {
		t.Errorf("after Serve the log package's output holds %q; want both records", got)
	}
}
