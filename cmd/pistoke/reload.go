package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/devserver"
)

// reloader runs the program behind a reverse proxy that owns the public
// address, rebuilds and restarts it on changes, and tells browsers when
// to reload.
type reloader struct {
	opts   devserver.Options
	dir    string // where the go command runs: the user's directory
	pkg    string
	args   []string
	work   string
	logger *slog.Logger
	stdout io.Writer
	stderr io.Writer

	env      []string // the program's environment
	instance string   // tells this run's versions from another's
	hub      *hub     // the browsers' reload sockets
	proxy    *httputil.ReverseProxy
	builds   int         // numbers the binaries
	cur      *child      // the program serving, if any (loop only)
	pageTLS  *tls.Config // the public listener's, nil for plain HTTP

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when the state changes
	backend  *child        // the program requests go to, nil while none
	starting bool          // a program is being built or started
	problem  string        // build or start errors to show, "" when none
	gen      int           // counts restarts and static changes
}

// runReload serves until ctx is done and returns the exit status.
func runReload(ctx context.Context, r *reloader) int {
	if err := r.setup(); err != nil {
		r.logger.Log(context.Background(), devserver.LevelCritical, err.Error())
		return 1
	}
	ln, err := net.Listen("tcp", r.opts.Addr)
	if err != nil {
		r.logger.Log(context.Background(), devserver.LevelCritical, (&devserver.ListenError{Addr: r.opts.Addr, Err: err}).Error())
		return 1
	}
	defer ln.Close() // in case of an early return; Run closes it otherwise
	dir, root, err := listPackage(ctx, r.dir, r.pkg)
	if err != nil {
		reportGoError(r.logger, devserver.LevelCritical, r.stderr, "cannot find package "+r.pkg, err)
		return 1
	}
	w, err := newWatcher(root, r.opts.StaticDir, r.logger)
	if err != nil {
		r.logger.Log(context.Background(), devserver.LevelCritical, err.Error())
		return 1
	}
	defer w.close()
	r.logger.Debug("watching for changes", "root", root, "package", dir)

	srv := &http.Server{
		Handler:   r.handler(),
		ErrorLog:  slog.NewLogLogger(r.logger.Handler(), slog.LevelDebug),
		TLSConfig: r.pageTLS,
	}
	scheme := "http"
	if r.pageTLS != nil {
		scheme = "https"
	}
	fmt.Fprintf(r.stdout, "%s%s://%s\n", devserver.ListeningPrefix, scheme, ln.Addr())

	loopCtx, stopLoop := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		r.loop(loopCtx, w)
	}()
	// Only reload sockets are left to drain: a page that does not answer
	// the close in time is no reason to fail.
	err = pistoke.Run(ctx, srv, ln, &pistoke.RunOptions{Signals: []os.Signal{}, Logger: quiet(r.logger), DrainTimeout: time.Second})
	stopLoop()
	<-loopDone
	if err != nil && ctx.Err() == nil {
		r.logger.Error(err.Error())
		return 1
	}
	return 0
}

// setup prepares what the program and the proxy need: the program's
// settings, TLS on both sides, the proxy.
func (r *reloader) setup() error {
	if r.opts.Addr == "" {
		r.opts.Addr = devserver.DefaultAddr
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	r.instance = hex.EncodeToString(b)
	r.changed = make(chan struct{})
	r.starting = true
	r.hub = newHub(r.hello)

	prog := r.opts
	prog.Addr = "127.0.0.1:0"
	transport := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	var cert tls.Certificate
	switch {
	case r.opts.TLSCert != "" || r.opts.TLSKey != "":
		if r.opts.TLSCert == "" || r.opts.TLSKey == "" {
			return errors.New("TLS needs both a certificate and a key file (-tls-cert and -tls-key)")
		}
		var err error
		if cert, err = devserver.LoadCertificate(r.opts.TLSCert, r.opts.TLSKey); err != nil {
			return err
		}
	case r.opts.TLSSelfSigned:
		certPEM, keyPEM, err := devserver.NewCertificate()
		if err != nil {
			return err
		}
		if cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
			return err
		}
		// The program serves the same certificate, from files.
		prog.TLSSelfSigned = false
		prog.TLSCert = filepath.Join(r.work, "cert.pem")
		prog.TLSKey = filepath.Join(r.work, "key.pem")
		if err := os.WriteFile(prog.TLSCert, certPEM, 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(prog.TLSKey, keyPEM, 0o600); err != nil {
			return err
		}
	}
	if len(cert.Certificate) > 0 {
		// Browsers reach the program over TLS, so that it sees r.TLS and
		// makes wss:// URLs; the proxy talks TLS to it too and accepts
		// exactly the certificate it was given, whatever its names.
		r.pageTLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		want := cert.Certificate[0]
		transport.TLSClientConfig = &tls.Config{
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, want) {
					return errors.New("the program does not serve the expected certificate")
				}
				return nil
			},
		}
	}
	r.env = childEnv(prog)
	r.proxy = &httputil.ReverseProxy{
		Rewrite:        r.rewrite,
		Transport:      transport,
		ModifyResponse: r.modifyResponse,
		ErrorHandler:   r.proxyError,
		ErrorLog:       slog.NewLogLogger(r.logger.Handler(), slog.LevelDebug),
	}
	return nil
}

// quiet passes on warnings and errors only, for the reload sockets'
// routine events.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(minLevel{l.Handler(), slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}

func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }

// handler serves pistoke's own paths and proxies everything else.
func (r *reloader) handler() http.Handler {
	own := http.NewServeMux()
	own.Handle("WEBSOCKET "+reloadPath, pistoke.HandlerFunc(r.hub.serve))
	own.HandleFunc("GET "+scriptPath, serveScript)
	mux := http.NewServeMux()
	mux.Handle(ownPrefix, pistoke.Handler(own, pistoke.Options{Logger: quiet(r.logger)}))
	mux.Handle("/", http.HandlerFunc(r.serveProxy))
	return mux
}

// version names the state of the program and static files that a page
// was served in: the reload script reloads a page whose version is not
// current when it connects.
func (r *reloader) versionLocked() string { return r.instance + "-" + strconv.Itoa(r.gen) }

// hello is the first message of every reload socket.
func (r *reloader) hello() message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return message{Type: "hello", Version: r.versionLocked(), Error: r.problem}
}

// setState changes the state under the lock and wakes waiting requests.
func (r *reloader) setState(f func()) {
	r.mu.Lock()
	f()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// current returns the program to send a request to and the version of
// the state it serves. While a program is being built or started, it
// waits; with no program to serve, it returns the problem to show.
func (r *reloader) current(ctx context.Context) (c *child, version, problem string) {
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		c, version, problem = r.backend, r.versionLocked(), r.problem
		starting, changed := r.starting, r.changed
		r.mu.Unlock()
		if c != nil || !starting {
			if c == nil && problem == "" {
				problem = "The program is not running."
			}
			return c, version, problem
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil, version, "The program is taking long to start."
		case <-ctx.Done():
			return nil, version, ctx.Err().Error()
		}
	}
}

// loop builds and restarts the program on changes until ctx is done, then
// stops it.
func (r *reloader) loop(ctx context.Context, w *watcher) {
	type result struct {
		bin string
		out string
		err error
	}
	var (
		cancelBuild context.CancelFunc
		built       chan result
		again       bool      // a change arrived during the build
		since       time.Time // when the build started
		exits       = make(chan *child, 1)
	)
	startBuild := func() {
		r.builds++
		since = time.Now()
		bin := filepath.Join(r.work, "app-"+strconv.Itoa(r.builds)+exeSuffix)
		bctx, cancel := context.WithCancel(ctx)
		cancelBuild, built = cancel, make(chan result, 1)
		ch := built
		r.setState(func() { r.starting = r.backend == nil })
		go func() {
			out, err := build(bctx, r.dir, r.pkg, bin)
			ch <- result{bin, out, err}
		}()
	}
	startBuild()
	for {
		select {
		case <-ctx.Done():
			if cancelBuild != nil {
				cancelBuild()
				<-built
			}
			r.stopCurrent()
			return

		case ch := <-w.changes:
			switch {
			case ch.rebuild && cancelBuild != nil:
				cancelBuild()
				again = true
			case ch.rebuild:
				r.logger.Info("rebuilding", "changed", ch.describe())
				startBuild()
			case ch.static:
				r.staticChanged(ch)
			}

		case res := <-built:
			cancelBuild()
			cancelBuild, built = nil, nil
			if again {
				again = false
				r.logger.Info("rebuilding", "reason", "more changes")
				startBuild()
				continue
			}
			if res.err != nil {
				r.buildFailed(res.out, res.err)
				continue
			}
			r.restart(ctx, res.bin, since, exits)

		case c := <-exits:
			if c != r.cur {
				continue
			}
			r.cur = nil
			text := "The program exited: " + describeExit(c.err) + "\n\n" + stripANSI(c.output.String())
			r.logger.Error("the program exited", "status", describeExit(c.err))
			r.setState(func() {
				r.backend, r.starting, r.problem = nil, false, text
			})
			r.hub.broadcast(message{Type: "error", Error: text})
		}
	}
}

// restart replaces the running program with bin, built since then.
func (r *reloader) restart(ctx context.Context, bin string, since time.Time, exits chan<- *child) {
	if old := r.cur; old != nil {
		r.setState(func() { r.backend, r.starting = nil, true })
		old.stop(stopTimeout(r.opts))
		r.cur = nil
		_ = os.Remove(old.cmd.Path)
	}
	c, err := startChild(ctx, bin, r.args, r.env, r.stdout, r.stderr)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		text := "The program did not start: " + err.Error()
		r.logger.Error("the program did not start", "error", err.Error())
		r.setState(func() { r.backend, r.starting, r.problem = nil, false, text })
		r.hub.broadcast(message{Type: "error", Error: text})
		return
	}
	r.cur = c
	go func() {
		<-c.exited
		select {
		case exits <- c:
		case <-ctx.Done():
		}
	}()
	var version string
	r.setState(func() {
		r.backend, r.starting, r.problem = c, false, ""
		r.gen++
		version = r.versionLocked()
	})
	r.logger.Info("program started", "build_and_start", time.Since(since))
	r.logger.Debug("program listens", "url", c.url.String())
	r.hub.broadcast(message{Type: "reload", Version: version})
}

// buildFailed shows the compiler's output, keeping the old program.
func (r *reloader) buildFailed(out string, err error) {
	r.logger.Error("build failed; the previous build keeps serving", "package", r.pkg)
	writeGoOutput(r.stderr, out, err)
	if out == "" {
		out = err.Error()
	}
	r.setState(func() {
		r.problem = "Build failed:\n\n" + out
		r.starting = false
	})
	r.hub.broadcast(message{Type: "error", Error: "Build failed:\n\n" + out})
}

// staticChanged tells pages to reload, or only their stylesheets.
func (r *reloader) staticChanged(ch change) {
	kind := "reload"
	if ch.cssOnly {
		kind = "css"
	}
	var version string
	r.setState(func() {
		r.gen++
		version = r.versionLocked()
	})
	r.logger.Info("static files changed", "changed", ch.describe())
	r.hub.broadcast(message{Type: kind, Version: version})
}

func (r *reloader) stopCurrent() {
	if c := r.cur; c != nil {
		c.stop(stopTimeout(r.opts))
		r.cur = nil
	}
}

// describeExit says how a program ended.
func describeExit(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// stripANSI removes terminal colour sequences, for text shown in pages.
func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
