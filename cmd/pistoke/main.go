// Command pistoke runs pistoke applications in development.
//
// Usage:
//
//	pistoke run [flags] [package] [arguments]
//	pistoke cert [-dir dir] [-host names]
//
// "pistoke run" builds the package (default ".") and runs it as a
// development server; its main must call devserver.Main (or read its
// settings with devserver.Options.LoadEnv and serve with
// devserver.Serve). The flags are those of devserver.Main: -addr,
// -static, -static-prefix, -tls-cert, -tls-key, -tls-self-signed, -v,
// -color; the arguments after the package go to the program. With
// -reload, pistoke keeps the address, rebuilds and restarts the program
// when a source file changes, shows compiler errors in the browser, and
// reloads the pages it served:
//
//	pistoke run -reload -static static .
//
// The go command runs in the current directory, so that the package is
// one of the module pistoke is started from, built as "go build" typed
// there would build it; when it cannot be found or built, pistoke prints
// what the go command said. In a module that requires pistoke, the
// command can come from that module (Go 1.24 or later):
//
//	go get -tool github.com/pistoke/pistoke/cmd/pistoke
//	go tool pistoke run -reload ./cmd/app
//
// or, without recording it, go run github.com/pistoke/pistoke/cmd/pistoke
// run ./cmd/app.
//
// "pistoke cert" writes a self-signed certificate and key for localhost
// (cert.pem and key.pem) for -tls-cert and -tls-key.
//
// The exit status is 2 for a usage error, 1 when the program cannot be
// built or served, and otherwise that of the program.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(command(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
	pistoke run [flags] [package] [arguments]   build and run a development server
	pistoke cert [-dir dir] [-host names]       write a development TLS certificate

Run "pistoke run -h" or "pistoke cert -h" for the flags.
`

// command runs the command line args and returns the exit status.
func command(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], stdout, stderr)
	case "cert":
		return certCommand(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "pistoke: unknown command %q\n\n%s", args[0], usage)
	return 2
}
