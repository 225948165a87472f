package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The figures below come from Linux's /proc file system. Elsewhere the
// files are missing: the functions then return the error of opening
// them, or zero where their callers can do without.

// ErrProcFormat reports a /proc file whose content is not laid out as
// expected.
var ErrProcFormat = errors.New("unexpected /proc file format")

// ResidentBytes returns the running process's resident set size (VmRSS
// of /proc/self/status).
func ResidentBytes() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		kb, ok := bytes.CutSuffix(bytes.TrimSpace(rest), []byte(" kB"))
		if !ok {
			return 0, fmt.Errorf("%w: VmRSS line %q in /proc/self/status", ErrProcFormat, sc.Bytes())
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(kb)), 10, 64)
		if err != nil {
			return 0, err
		}
		return n << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%w: no VmRSS in /proc/self/status", ErrProcFormat)
}

// SyscallCounts returns how many read and write system calls the running
// process has made (syscr and syscw of /proc/self/io; a readv or writev
// counts once), or zeros where the system does not say.
func SyscallCounts() (reads, writes int64) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0
	}
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte(": "))
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(string(v), 10, 64)
		switch string(k) {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return reads, writes
}

// userHZ is the unit of the CPU times in /proc/PID/stat, fixed at 100 by
// the kernel's ABI whatever its internal tick rate.
const userHZ = 100

// ProcessCPU returns the user + system CPU time another process has used,
// to the nearest 10 ms, from /proc/PID/stat. It is for processes the
// harness does not build, such as a broker, which cannot report their
// own getrusage.
func ProcessCPU(pid int) (time.Duration, error) {
	name := "/proc/" + strconv.Itoa(pid) + "/stat"
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	return parseStat(name, b)
}

// parseStat returns the user + system CPU time in b, the content of the
// file name, a /proc/PID/stat.
func parseStat(name string, b []byte) (time.Duration, error) {
	// The command name, field 2, is in parentheses and may hold spaces
	// and parentheses; utime and stime are fields 14 and 15, the 12th
	// and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: %s has no command name", ErrProcFormat, name)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: %s has %d fields after the command name", ErrProcFormat, name, len(f))
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%w: %s has bad CPU times", ErrProcFormat, name)
	}
	return time.Duration(utime+stime) * (time.Second / userHZ), nil
}

// LoadAverage returns the machine's load averages over 1, 5 and 15
// minutes, as in "0.52 0.58 0.59", or "" where the system does not say.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
