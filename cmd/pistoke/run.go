package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pistoke/pistoke/devserver"
)

// runCommand is "pistoke run".
func runCommand(args []string, stdout, stderr io.Writer) int {
	var o devserver.Options
	if err := o.LoadEnv(); err != nil {
		fmt.Fprintf(stderr, "pistoke run: %v\n", err)
		return 2
	}
	fs := flag.NewFlagSet("pistoke run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.RegisterFlags(fs)
	reload := fs.Bool("reload", false, "rebuild and restart on source changes, and reload the browser")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: pistoke run [flags] [package] [arguments]

Builds the package (default ".") and runs it as a development server. Its
main must call devserver.Main. Arguments after the package go to the
program. With -reload, pistoke keeps the address while the program is
rebuilt and restarted on every change to its module's files, shows build
errors in the browser and reloads the pages it served; a change in the
-static directory only reloads the pages.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	pkg := "."
	var appArgs []string
	if fs.NArg() > 0 {
		pkg, appArgs = fs.Arg(0), fs.Args()[1:]
	}
	if o.StaticDir != "" {
		abs, err := filepath.Abs(o.StaticDir)
		if err != nil {
			fmt.Fprintf(stderr, "pistoke run: %v\n", err)
			return 1
		}
		o.StaticDir = abs
	}
	for _, f := range []*string{&o.TLSCert, &o.TLSKey} {
		if *f != "" {
			abs, err := filepath.Abs(*f)
			if err != nil {
				fmt.Fprintf(stderr, "pistoke run: %v\n", err)
				return 1
			}
			*f = abs
		}
	}
	lh := devserver.NewLogHandler(stderr, &devserver.LogOptions{Level: o.Level, Color: o.Color})
	logger := slog.New(lh)
	if lh.Colored() {
		o.Color = devserver.ColorAlways
	} else {
		o.Color = devserver.ColorNever
	}

	// The go command runs here, in the user's module, not in pistoke's.
	dir, err := os.Getwd()
	if err != nil {
		logger.Log(context.Background(), devserver.LevelCritical, err.Error())
		return 1
	}
	work, err := os.MkdirTemp("", "pistoke-run-")
	if err != nil {
		logger.Log(context.Background(), devserver.LevelCritical, err.Error())
		return 1
	}
	defer os.RemoveAll(work)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *reload {
		return runReload(ctx, &reloader{
			opts: o, dir: dir, pkg: pkg, args: appArgs, work: work,
			logger: logger, stdout: stdout, stderr: stderr,
		})
	}
	return runOnce(ctx, o, dir, pkg, appArgs, work, logger, stdout, stderr)
}

// runOnce builds pkg with the go command run in dir and runs it until it
// exits or ctx is done, when it stops it gracefully.
func runOnce(ctx context.Context, o devserver.Options, dir, pkg string, args []string, work string, logger *slog.Logger, stdout, stderr io.Writer) int {
	bin := filepath.Join(work, "app"+exeSuffix)
	if out, err := build(ctx, dir, pkg, bin); err != nil {
		if ctx.Err() != nil {
			return 0
		}
		logger.Error("build failed", "package", pkg)
		writeGoOutput(stderr, out, err)
		return 1
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = childEnv(o)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		logger.Log(context.Background(), devserver.LevelCritical, err.Error())
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitStatus(err)
	case <-ctx.Done():
	}
	err := terminate(cmd, done, stopTimeout(o))
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		// Ended by the signal that was meant to stop it.
		return 0
	}
	return exitStatus(err)
}

// childEnv is the environment of the program: this process's, with
// PISTOKE_* replaced by the settings of o.
func childEnv(o devserver.Options) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PISTOKE_") {
			env = append(env, kv)
		}
	}
	return append(env, o.Environ()...)
}

// exitStatus turns the result of cmd.Wait into an exit status.
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitCode()
	}
	return 1
}
