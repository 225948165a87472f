package harness

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
)

// The errors of CPUProfiler.
var (
	ErrNoProfileDir = errors.New("no profile directory")
	ErrProfiling    = errors.New("a CPU profile is running")
	ErrNotProfiling = errors.New("no CPU profile is running")
)

// CPUProfiler runs the CPU profiles a server's control listener is asked
// for, around a phase of a measurement: one at a time, each into a file
// of its own in Dir. Its zero value refuses every profile; set Dir before
// use.
type CPUProfiler struct {
	// Dir is the directory of the profiles, "" for none.
	Dir string

	mu  sync.Mutex
	out *os.File // the running profile's file, nil when none runs
}

// Start starts a CPU profile into the file name-cpu.pprof in Dir. It
// fails with ErrNoProfileDir when Dir is "", and with ErrProfiling while
// a profile runs.
func (p *CPUProfiler) Start(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Dir == "" {
		return ErrNoProfileDir
	}
	if p.out != nil {
		return ErrProfiling
	}
	f, err := os.Create(filepath.Join(p.Dir, name+"-cpu.pprof"))
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	p.out = f
	return nil
}

// Stop ends the running CPU profile and closes its file. It fails with
// ErrNotProfiling when none runs.
func (p *CPUProfiler) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == nil {
		return ErrNotProfiling
	}
	pprof.StopCPUProfile()
	err := p.out.Close()
	p.out = nil
	return err
}

// ServeStart answers a request to start a CPU profile into the file
// name-cpu.pprof: 409 Conflict when Start refuses, 500 when it fails.
func (p *CPUProfiler) ServeStart(w http.ResponseWriter, name string) {
	answer(w, p.Start(name))
}

// ServeStop is the handler of a request to stop the CPU profile: it
// answers 409 Conflict when none runs, 500 when its file could not be
// written.
func (p *CPUProfiler) ServeStop(w http.ResponseWriter, r *http.Request) {
	answer(w, p.Stop())
}

// answer answers a request with the outcome of a profiler's call.
func answer(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrNoProfileDir), errors.Is(err, ErrProfiling), errors.Is(err, ErrNotProfiling):
		http.Error(w, err.Error(), http.StatusConflict)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
