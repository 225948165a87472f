package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
)

// The go command runs in the directory pistoke was started from, so that
// a package path such as ./cmd/app is resolved in the user's module,
// with the user's go.mod, go.work and environment (GOFLAGS,
// CGO_ENABLED...), as "go build" typed there would.

// build compiles pkg into bin with the go command found in PATH, run in
// dir, and returns its output, which holds the compiler's errors when it
// fails.
func build(ctx context.Context, dir, pkg, bin string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return strings.TrimRight(string(out), "\n"), err
}

// listPackage returns the directory of pkg and the root of its module
// (the same directory outside a module), which -reload watches. A
// package the go command cannot find is a *goError holding what the go
// command said about it. A package that is found but does not compile is
// no error: the build reports it.
func listPackage(ctx context.Context, dir, pkg string) (pkgDir, root string, err error) {
	out, err := goOutput(ctx, dir, "list", "-e", "-f", "{{.Dir}}\n{{with .Module}}{{.Dir}}{{end}}", pkg)
	if err != nil {
		return "", "", err
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	pkgDir = strings.TrimSpace(lines[0])
	root = pkgDir
	if len(lines) > 1 && strings.TrimSpace(lines[1]) != "" {
		root = strings.TrimSpace(lines[1])
	}
	if pkgDir != "" {
		return pkgDir, root, nil
	}
	// With -e the go command keeps quiet about a package it cannot find;
	// without it, it says why.
	if _, err := goOutput(ctx, dir, "list", "-f", "{{.Dir}}", pkg); err != nil {
		return "", "", err
	}
	return "", "", &goError{args: []string{"list", pkg}, output: "the go command finds no directory for " + pkg}
}

// goOutput runs the go command with args in dir and returns its standard
// output. A failure is a *goError with its standard error.
func goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", &goError{args: args, output: strings.TrimRight(stderr.String(), "\n"), err: err}
	}
	return string(out), nil
}

// goError reports a go command that failed, with what it said.
type goError struct {
	args   []string // the go command's arguments
	output string   // its standard error, as it wrote it
	err    error    // how it ended; nil when it succeeded without an answer
}

func (e *goError) Error() string {
	msg := "go " + strings.Join(e.args, " ")
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	if e.output != "" {
		msg += ":\n" + e.output
	}
	return msg
}

func (e *goError) Unwrap() error { return e.err }

// reportGoError logs msg at level and then passes what the go command
// said through to w unchanged, so that file positions and quoting stay
// as the go command wrote them. Other errors are logged after msg.
func reportGoError(logger *slog.Logger, level slog.Level, w io.Writer, msg string, err error) {
	var ge *goError
	if !errors.As(err, &ge) || ge.output == "" {
		logger.Log(context.Background(), level, fmt.Sprintf("%s: %v", msg, err))
		return
	}
	logger.Log(context.Background(), level, msg)
	io.WriteString(w, ge.output+"\n")
}

// writeGoOutput passes the output of a failed go build through to w as
// one write, or err when the go command said nothing (it could not run).
func writeGoOutput(w io.Writer, out string, err error) {
	if out == "" {
		out = "go build: " + err.Error()
	}
	io.WriteString(w, out+"\n")
}
