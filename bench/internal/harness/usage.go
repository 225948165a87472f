package harness

import "runtime"

// Usage is what the running process has used so far: CPU time, memory
// allocations and system calls. The counts are cumulative, so that a
// measurement takes one Usage before its phase and one after, and
// subtracts. A server's control listener answers with one, usually
// within a struct of its own that adds the server's counters:
//
//	type stats struct {
//		harness.Usage
//		Active int64 `json:"active"`
//	}
//
// The embedded fields encode as fields of the enclosing JSON object.
type Usage struct {
	UserNanos  int64  `json:"user_ns"` // user CPU time, from getrusage
	SysNanos   int64  `json:"sys_ns"`  // system CPU time, from getrusage
	Mallocs    uint64 `json:"mallocs"` // heap objects allocated
	AllocBytes uint64 `json:"alloc_bytes"`
	NumGC      uint32 `json:"num_gc"`
	Reads      int64  `json:"reads"`  // read system calls, 0 where the system does not say
	Writes     int64  `json:"writes"` // write system calls (a writev counts once), 0 likewise
	Goroutines int    `json:"goroutines"`
}

// ReadUsage returns the running process's Usage. It fails only where the
// system keeps no CPU accounting (see CPUTime).
func ReadUsage() (Usage, error) {
	user, sys, err := CPUTime()
	if err != nil {
		return Usage{}, err
	}
	reads, writes := SyscallCounts()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Usage{
		UserNanos:  user.Nanoseconds(),
		SysNanos:   sys.Nanoseconds(),
		Mallocs:    ms.Mallocs,
		AllocBytes: ms.TotalAlloc,
		NumGC:      ms.NumGC,
		Reads:      reads,
		Writes:     writes,
		Goroutines: runtime.NumGoroutine(),
	}, nil
}
