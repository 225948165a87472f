//go:build unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"
)

const exeSuffix = ""

// setProcAttr puts the program in a process group of its own, so that
// Ctrl-C in the terminal reaches pistoke alone, which then stops the
// program once, in order.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(cmd.SysProcAttr)
}

// terminate asks the program (and its process group) to stop with
// SIGTERM, which a devserver program answers by draining its sockets,
// and kills it when it has not exited after timeout. done delivers the
// result of cmd.Wait; terminate returns it.
func terminate(cmd *exec.Cmd, done <-chan error, timeout time.Duration) error {
	signalGroup(cmd, syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
	}
	signalGroup(cmd, syscall.SIGKILL)
	return <-done
}

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = cmd.Process.Signal(os.Signal(sig))
	}
}
