package devserver

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/slogtest"
	"time"
)

func newTestLogger(color ColorMode, level slog.Level) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(NewLogHandler(&buf, &LogOptions{Level: level, Color: color, OmitTime: true})), &buf
}

func TestLogHandlerLines(t *testing.T) {
	tests := []struct {
		name string
		log  func(*slog.Logger)
		want string
	}{
		{"request", func(l *slog.Logger) {
			l.Info(RequestMessage, "method", "GET", "path", "/static/site.css", "status", 200, "size", 1300, "duration", 412*time.Microsecond)
		}, "INFO  GET /static/site.css 200 1.3KiB 412µs\n"},
		{"handshake", func(l *slog.Logger) {
			l.Info(RequestMessage, "method", "WEBSOCKET", "path", "/clock", "status", 101, "size", 0, "duration", 1500*time.Microsecond)
		}, "INFO  WEBSOCKET /clock 101 1.50ms\n"},
		{"socket opened", func(l *slog.Logger) {
			l.Debug("pistoke: socket opened", "path", "/clock", "subprotocol", "", "remote", "127.0.0.1:5000", "compressed", false)
		}, "DEBUG socket opened /clock from 127.0.0.1:5000\n"},
		{"socket closed", func(l *slog.Logger) {
			l.Info("pistoke: socket closed", "path", "/clock", "code", 1001, "reason", "going away", "by", "server",
				"duration", 8470*time.Millisecond, "messages_in", int64(8), "messages_out", int64(9), "bytes_in", int64(64), "bytes_out", int64(2048))
		}, `INFO  socket closed /clock 1001 "going away" by server after 8.47s, 8 in (64B), 9 out (2.0KiB)` + "\n"},
		{"refused", func(l *slog.Logger) {
			l.Warn("pistoke: handshake refused", "path", "/chat", "status", 403, "reason", "origin not allowed", "outcome", "origin")
		}, "WARN  handshake refused /chat 403: origin not allowed (origin)\n"},
		{"bad handshake", func(l *slog.Logger) {
			l.Info("pistoke: handshake refused", "path", "/chat", "status", 400, "reason", "missing Sec-WebSocket-Key", "outcome", "bad_request")
		}, "INFO  handshake refused /chat 400: missing Sec-WebSocket-Key (bad_request)\n"},
		{"405", func(l *slog.Logger) {
			l.Warn("pistoke: handshake answered 405 Method Not Allowed", "path", "/page", "allow", "GET, HEAD", "hint", "register it")
		}, "WARN  handshake answered 405 /page: register it allow=\"GET, HEAD\"\n"},
		{"failed", func(l *slog.Logger) {
			l.Error("pistoke: handler failed", "path", "/fail", "error", "boom")
		}, "ERROR socket handler failed /fail: boom\n"},
		{"panicked", func(l *slog.Logger) {
			l.Error("pistoke: handler panicked", "path", "/p", "panic", "oops", "stack", "goroutine 7\nmain.f()\n")
		}, "ERROR socket handler panicked /p: oops\n    stack:\n      goroutine 7\n      main.f()\n"},
		{"draining", func(l *slog.Logger) {
			l.Info("pistoke: draining", "sockets", 3, "timeout", 5*time.Second)
		}, "INFO  stopping: closing 3 sockets with 1001 (waiting up to 5.00s)\n"},
		{"drained", func(l *slog.Logger) {
			l.Info("pistoke: drained", "duration", 12*time.Millisecond)
		}, "INFO  stopped: every socket closed in 12.0ms\n"},
		{"unknown", func(l *slog.Logger) {
			l.Warn("cache: miss", "key", "a b", "n", 3, "empty", "", "ok", true)
		}, `WARN  cache: miss key="a b" n=3 empty="" ok=true` + "\n"},
		{"extra attributes follow", func(l *slog.Logger) {
			l.Info("pistoke: handshake refused", "path", "/x", "status", 426, "reason", "r", "user", "ann")
		}, "INFO  handshake refused /x 426: r user=ann\n"},
		{"groups", func(l *slog.Logger) {
			l.With("req", 7).WithGroup("db").Info("query", "rows", 2, slog.Group("t", "ms", 4))
		}, "INFO  query req=7 db.rows=2 db.t.ms=4\n"},
		{"critical and trace", func(l *slog.Logger) {
			l.Log(context.Background(), LevelCritical, "down")
			l.Log(context.Background(), LevelTrace, "detail")
		}, "CRIT  down\nTRACE detail\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, buf := newTestLogger(ColorNever, LevelTrace)
			tt.log(logger)
			if got := buf.String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLogHandlerColor(t *testing.T) {
	logger, buf := newTestLogger(ColorAlways, slog.LevelInfo)
	logger.Info(RequestMessage, "method", "GET", "path", "/x", "status", 404, "size", 10, "duration", time.Millisecond)
	logger.Error("broken", "k", "v")
	want := "\x1b[32mINFO \x1b[0m \x1b[1mGET\x1b[0m /x \x1b[33m404\x1b[0m 10B \x1b[2m1.00ms\x1b[0m\n" +
		"\x1b[31mERROR\x1b[0m broken \x1b[2mk=\x1b[0mv\n"
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestLogHandlerTimeAndLevel(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(NewLogHandler(&buf, &LogOptions{Level: slog.LevelWarn, Color: ColorNever}))
	logger.Info("hidden")
	logger.Warn("shown")
	got := buf.String()
	if strings.Contains(got, "hidden") {
		t.Errorf("info line logged at level warn: %q", got)
	}
	// 15:04:05.000 WARN  shown
	if len(got) < 13 || got[2] != ':' || got[5] != ':' || got[8] != '.' || !strings.HasSuffix(got, " WARN  shown\n") {
		t.Errorf("line %q does not start with the time", got)
	}
}

func TestLogHandlerColorAuto(t *testing.T) {
	var buf bytes.Buffer
	if NewLogHandler(&buf, nil).Colored() {
		t.Error("colours a bytes.Buffer")
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if NewLogHandler(f, nil).Colored() {
		t.Error("colours a regular file")
	}
	t.Setenv("NO_COLOR", "1")
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if NewLogHandler(tty, nil).Colored() {
			t.Error("colours a terminal despite NO_COLOR")
		}
	}
	if !NewLogHandler(&buf, &LogOptions{Color: ColorAlways}).Colored() {
		t.Error("ColorAlways does not colour")
	}
}

func TestParseColorMode(t *testing.T) {
	for in, want := range map[string]ColorMode{"": ColorAuto, "auto": ColorAuto, "ALWAYS": ColorAlways, "never": ColorNever} {
		if got, err := ParseColorMode(in); err != nil || got != want {
			t.Errorf("ParseColorMode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseColorMode("sometimes"); err == nil {
		t.Error("ParseColorMode(sometimes) succeeded")
	}
}

// The handler follows the rules every slog.Handler must.
func TestLogHandlerConformance(t *testing.T) {
	var buf bytes.Buffer
	h := NewLogHandler(&buf, &LogOptions{Color: ColorNever})
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return h
	}, func(t *testing.T) map[string]any {
		return parseLine(t, buf.String())
	})
}

// parseLine reads a generic line back into the map slogtest expects.
func parseLine(t *testing.T, s string) map[string]any {
	m := map[string]any{}
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return m
	}
	fields := strings.Fields(s)
	i := 0
	if len(fields[0]) == len("15:04:05.000") && fields[0][2] == ':' {
		m[slog.TimeKey] = fields[0]
		i++
	}
	m[slog.LevelKey] = fields[i]
	i++
	var msg []string
	for ; i < len(fields) && !strings.Contains(fields[i], "="); i++ {
		msg = append(msg, fields[i])
	}
	m[slog.MessageKey] = strings.Join(msg, " ")
	for ; i < len(fields); i++ {
		k, v, _ := strings.Cut(fields[i], "=")
		dst := m
		parts := strings.Split(k, ".")
		for _, g := range parts[:len(parts)-1] {
			sub, ok := dst[g].(map[string]any)
			if !ok {
				sub = map[string]any{}
				dst[g] = sub
			}
			dst = sub
		}
		dst[parts[len(parts)-1]] = v
	}
	return m
}
