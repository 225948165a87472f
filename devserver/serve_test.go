package devserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/internal/proctest"
)

// served is a dev server running for one test.
type served struct {
	url    string
	log    *proctest.Buffer
	logger *slog.Logger
	stop   func() error
}

// startServe runs Serve until the test ends (or stop is called) and
// returns once the listening line is out.
func startServe(t *testing.T, opts Options) *served {
	t.Helper()
	return startServeApp(t, opts, testApp)
}

// startServeApp is startServe with the application app builds, given
// the dev server's logger.
func startServeApp(t *testing.T, opts Options, app func(*slog.Logger) http.Handler) *served {
	t.Helper()
	logs := new(proctest.Buffer)
	opts.Logger = slog.New(NewLogHandler(logs, &LogOptions{Level: slog.LevelDebug, Color: ColorNever, OmitTime: true}))
	h := app(opts.Logger)
	stdout := new(proctest.Buffer)
	opts.Stdout = stdout
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Serve(ctx, h, opts) }()
	var line string
	select {
	case line = <-stdout.FirstLine():
	case err := <-errc:
		cancel()
		t.Fatalf("no listening line (Serve: %v)", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), ListeningPrefix)
	if !ok {
		t.Fatalf("listening line %q does not start with %q", line, ListeningPrefix)
	}
	var once sync.Once
	var stopErr error
	s := &served{url: url, log: logs, logger: opts.Logger, stop: func() error {
		once.Do(func() {
			cancel()
			stopErr = <-errc
		})
		return stopErr
	}}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func testApp(logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "home") })
	mux.Handle("WEBSOCKET /echo", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		for typ, msg := range ws.Messages() {
			if err := ws.Send(typ, msg); err != nil {
				return err
			}
		}
		return ws.Err()
	}))
	return pistoke.Handler(mux, pistoke.Options{Logger: logger})
}

func get(t *testing.T, client *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestServe(t *testing.T) {
	_, dir := staticFixture(t)
	s := startServe(t, Options{StaticDir: dir})
	if !strings.HasPrefix(s.url, "http://127.0.0.1:") || strings.HasSuffix(s.url, ":0") {
		t.Fatalf("listening on %q; want http://127.0.0.1 and the real port", s.url)
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()

	if _, body := get(t, client, s.url+"/"); body != "home" {
		t.Errorf("GET / = %q", body)
	}
	resp, body := get(t, client, s.url+"/static/css/site.css")
	if resp.StatusCode != 200 || !strings.Contains(body, "color: red") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("static file: %d %q, Cache-Control %q", resp.StatusCode, body, resp.Header.Get("Cache-Control"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(s.url, "http") + "/echo"
	ws, _, err := pistoke.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.SendText("hi"); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := ws.Receive(); err != nil || string(msg) != "hi" {
		t.Fatalf("echo: %q, %v", msg, err)
	}

	// Stopping closes the socket with 1001; the client answers the close
	// frame as it reads it, which lets the drain finish.
	closed := s.log.LineContaining("socket closed /echo")
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	_, _, err = ws.Receive()
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	var ce *pistoke.CloseError
	if !errors.As(err, &ce) || ce.Code != pistoke.CloseGoingAway {
		t.Errorf("after stop the socket ended with %v; want close 1001", err)
	}
	// pistoke may log the socket's end after the drain has seen it go.
	waitLine(t, s, closed)

	logs := s.log.String()
	for _, want := range []string{
		"INFO  GET / 200 4B ",
		"INFO  GET /static/css/site.css 200 20B ",
		"INFO  WEBSOCKET /echo 101 ",
		`socket closed /echo 1001 "going away" by server`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// waitLine waits for a line of the dev server's log that line receives.
func waitLine(t *testing.T, s *served, line <-chan string) string {
	t.Helper()
	select {
	case l := <-line:
		return l
	case <-time.After(time.Minute):
		t.Fatalf("the log lacks an expected line:\n%s", s.log)
		return ""
	}
}

func TestServeRefusedHandshakeLogsStatus(t *testing.T) {
	s := startServe(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := pistoke.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/nowhere", nil)
	var he *pistoke.HandshakeError
	if !errors.As(err, &he) {
		t.Fatalf("dial: %v; want a refused handshake", err)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if want := "WEBSOCKET /nowhere 404 "; !strings.Contains(s.log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, s.log)
	}
}

func TestServePortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Serve(context.Background(), testApp(nil), Options{Addr: ln.Addr().String(), Stdout: io.Discard, Logger: slog.New(slog.DiscardHandler)})
	var le *ListenError
	if !errors.As(err, &le) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("error %v; want *ListenError wrapping EADDRINUSE", err)
	}
	if msg := err.Error(); !strings.Contains(msg, ln.Addr().String()) || !strings.Contains(msg, "address already in use") || !strings.Contains(msg, "-addr") {
		t.Errorf("message %q should name the address, say it is in use and suggest -addr", msg)
	}
}

func TestServeTLSSelfSigned(t *testing.T) {
	s := startServe(t, Options{TLSSelfSigned: true})
	if !strings.HasPrefix(s.url, "https://127.0.0.1:") {
		t.Fatalf("listening on %q; want https", s.url)
	}
	// The browser's situation: an unknown certificate is refused...
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	if _, err := client.Get(s.url + "/"); err == nil {
		t.Error("a client that trusts nothing accepted the self-signed certificate")
	}
	// ...until the user accepts it.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer insecure.CloseIdleConnections()
	if _, body := get(t, insecure, s.url+"/"); body != "home" {
		t.Errorf("GET / over TLS = %q", body)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	// The refused handshake is routine: debug, not a warning.
	if logs := s.log.String(); strings.Contains(logs, "WARN") {
		t.Errorf("warnings logged:\n%s", logs)
	}
}

func TestServeTLSFiles(t *testing.T) {
	certPEM, keyPEM, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM})
	s := startServe(t, Options{TLSCert: filepath.Join(dir, "cert.pem"), TLSKey: filepath.Join(dir, "key.pem")})
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("listening on %q; want https", s.url)
	}

	err = Serve(context.Background(), testApp(nil), Options{Addr: "127.0.0.1:0", TLSCert: filepath.Join(dir, "key.pem"), TLSKey: filepath.Join(dir, "cert.pem"), Stdout: io.Discard})
	if !errors.Is(err, ErrNoCertificate) {
		t.Errorf("swapped files: %v; want ErrNoCertificate", err)
	}
	err = Serve(context.Background(), testApp(nil), Options{Addr: "127.0.0.1:0", TLSCert: filepath.Join(dir, "cert.pem"), Stdout: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "-tls-key") {
		t.Errorf("certificate without key: %v; want an error naming -tls-key", err)
	}
}

func TestRunExitStatus(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		say  string
	}{
		{"unknown flag", []string{"-nope"}, nil, 2, "flag provided but not defined"},
		{"unknown verbosity", []string{"-v", "loud"}, nil, 2, "critical, error, warning, info, debug or trace"},
		{"unknown verbosity in the environment", nil, map[string]string{EnvVerbosity: "loud"}, 2, EnvVerbosity},
		{"stray argument", []string{"extra"}, nil, 2, `unexpected argument "extra"`},
		{"port taken", []string{"-addr", ln.Addr().String()}, nil, 1, "address already in use"},
		{"bad TLS file", []string{"-addr", "127.0.0.1:0", "-tls-cert", "/nonexistent/cert.pem", "-tls-key", "/nonexistent/key.pem"}, nil, 1, "/nonexistent/cert.pem"},
		{"help", []string{"-h"}, nil, 0, "-static-prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(testApp(nil), "app", tt.args, &stdout, &stderr, nil)
			if code != tt.code {
				t.Errorf("exit status %d; want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.say) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tt.say)
			}
		})
	}
}

func TestOptionsEnvironRoundTrip(t *testing.T) {
	in := Options{
		Addr: "127.0.0.1:0", StaticDir: "/srv/static", StaticPrefix: "/assets/",
		TLSCert: "c.pem", TLSKey: "k.pem", TLSSelfSigned: true, Level: slog.LevelDebug, Color: ColorNever,
	}
	for _, kv := range in.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var out Options
	if err := out.LoadEnv(); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("LoadEnv(Environ()) = %+v; want %+v", out, in)
	}
	if env := (Options{}).Environ(); len(env) != 0 {
		t.Errorf("zero Options give %q; want nothing", env)
	}
}
