//go:build !unix

package main

import (
	"os/exec"
	"time"
)

const exeSuffix = ".exe"

func setProcAttr(*exec.Cmd) {}

// terminate kills the program: without Unix signals it cannot be asked to
// drain. done delivers the result of cmd.Wait; terminate returns it.
func terminate(cmd *exec.Cmd, done <-chan error, _ time.Duration) error {
	_ = cmd.Process.Kill()
	return <-done
}
