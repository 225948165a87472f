package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
)

// build compiles pkg into bin with the go command found in PATH, and
// returns its output, which holds the compiler's errors when it fails.
// Build settings come from the environment (GOFLAGS, CGO_ENABLED...).
func build(ctx context.Context, pkg, bin string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	out, err := cmd.CombinedOutput()
	return strings.TrimRight(string(out), "\n"), err
}

// listPackage returns the directory of pkg and the root of its module
// (the same directory outside a module), which -reload watches.
func listPackage(ctx context.Context, pkg string) (dir, root string, err error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-e", "-f", "{{.Dir}}\n{{with .Module}}{{.Dir}}{{end}}", pkg).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return "", "", &listError{pkg: pkg, msg: strings.TrimSpace(string(ee.Stderr))}
		}
		return "", "", err
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	dir = strings.TrimSpace(lines[0])
	root = dir
	if len(lines) > 1 && strings.TrimSpace(lines[1]) != "" {
		root = strings.TrimSpace(lines[1])
	}
	if dir == "" {
		return "", "", &listError{pkg: pkg, msg: "no such package"}
	}
	return dir, root, nil
}

// listError reports a package the go command cannot find.
type listError struct{ pkg, msg string }

func (e *listError) Error() string { return "package " + e.pkg + ": " + e.msg }
