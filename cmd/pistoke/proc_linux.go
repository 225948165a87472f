package main

import "syscall"

// setParentDeathSignal makes the kernel stop the program if pistoke
// itself dies without stopping it, so that it does not keep the port.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }
