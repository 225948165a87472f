//go:build unix

package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// cpuTime returns the user and system CPU time the process has used, from
// getrusage(RUSAGE_SELF): the kernel's own accounting, independent of how
// busy the machine is otherwise.
func cpuTime() (user, sys int64, err error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, err
	}
	return ru.Utime.Nano(), ru.Stime.Nano(), nil
}

// raiseNoFile lifts the soft limit on open files to the hard limit, so
// that ten thousand sockets fit.
func raiseNoFile() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= lim.Max {
		return nil
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// writeCalls returns how many write system calls the process has made
// (syscw of /proc/self/io), or 0 where the system does not say. writev
// counts as one.
func writeCalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("syscw: ")); ok {
			n, _ := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			return n
		}
	}
	return 0
}

// userHZ is the unit of the CPU times in /proc/PID/stat, fixed at 100 by
// the kernel's ABI whatever its internal tick rate.
const userHZ = 100

// processCPU returns the user + system CPU time another process has used,
// from /proc/PID/stat, to the nearest 10 ms.
func processCPU(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad CPU times", pid)
	}
	return (utime + stime) * (1e9 / userHZ), nil
}
