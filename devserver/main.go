package devserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// Main runs handler as a development server configured by the command
// line and the environment, and exits: with status 0 after Ctrl-C (or
// SIGTERM) has drained the open sockets, 2 for a usage error (an unknown
// flag or verbosity), 1 when the server cannot run (the port is taken, a
// TLS file is unusable...). It is meant to be the whole of an
// application's main once the handler is built:
//
//	devserver.Main(pistoke.Handler(mux, pistoke.Options{}))
//
// The flags are those of [Options.RegisterFlags]; PISTOKE_* environment
// variables (see [Options.LoadEnv]) give their defaults, which is how
// the pistoke command passes its settings on. Main makes its logger
// slog's default, so that pistoke's events, and the standard log
// package, are written by the same [LogHandler].
func Main(handler http.Handler) {
	os.Exit(run(handler, filepath.Base(os.Args[0]), os.Args[1:], os.Stdout, os.Stderr, slog.SetDefault))
}

// run is Main without the exit, for tests, which leave the default
// logger alone by passing a nil setDefault.
func run(handler http.Handler, name string, args []string, stdout, stderr io.Writer, setDefault func(*slog.Logger)) int {
	var o Options
	if err := o.LoadEnv(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\nRuns the application as a development server.\n\n", name)
		fs.PrintDefaults()
	}
	o.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		fs.Usage()
		return 2
	}
	o.Stdout = stdout
	if o.Logger == nil {
		o.Logger = slog.New(NewLogHandler(stderr, &LogOptions{Level: o.Level, Color: o.Color}))
	}
	if setDefault != nil {
		setDefault(o.Logger)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Serve(ctx, handler, o); err != nil {
		o.Logger.Log(context.Background(), LevelCritical, err.Error())
		return 1
	}
	return 0
}
