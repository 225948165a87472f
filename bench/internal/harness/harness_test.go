package harness_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// TestMain lets the test binary stand in for testCommand, whose
// processes the tests start.
func TestMain(m *testing.M) {
	harness.RunChild(testCommand.Run)
	os.Exit(m.Run())
}

// testReport is what testCommand's harness measures: the flag it got.
type testReport struct{ n int }

func (r testReport) Write(w io.Writer, command string) {
	harness.WriteHeader(w, "testbench", false, command)
	fmt.Fprintf(w, "n = %d\n", r.n)
}

// testCommand is a program with a process of each kind the tests start.
var testCommand = &harness.Command[int, testReport]{
	Name:  "testbench",
	About: "Measures nothing.",
	Parse: func(fs *flag.FlagSet, args []string) (int, error) {
		n := fs.Int("n", 1, "a number to measure, not 0")
		if err := fs.Parse(args); err != nil {
			return 0, err
		}
		if *n == 0 {
			fmt.Fprintln(fs.Output(), "testbench: -n must not be 0")
			return 0, errors.New("bad -n")
		}
		return *n, nil
	},
	Measure: func(n int) (testReport, error) {
		if n < 0 {
			return testReport{}, errors.New("negative")
		}
		return testReport{n}, nil
	},
	Subcommands: map[string]harness.Main{
		// server serves a page under test, and its Usage on the control
		// listener.
		"server": func(args []string, stdout, stderr io.Writer) int {
			ws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "under test") })
			ctl := harness.NewControl("", "", func(u harness.Usage) any { return u })
			if err := harness.Serve(os.Stdin, stdout, ws, ctl); err != nil {
				fmt.Fprintln(stderr, "testbench server:", err)
				return 1
			}
			return 0
		},
		// args answers with its arguments.
		"args": func(args []string, stdout, stderr io.Writer) int {
			return harness.Finish(stdout, stderr, "testbench args", args, nil)
		},
		// fail fails.
		"fail": func(args []string, stdout, stderr io.Writer) int {
			return harness.Finish(stdout, stderr, "testbench fail", nil, errors.New("no luck"))
		},
		// mute exits without a word.
		"mute": func(args []string, stdout, stderr io.Writer) int { return 0 },
	},
}

func TestCommandRun(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		code        int
		out, errOut string // what stdout and stderr contain
	}{
		{nil, 0, "Command: `testbench`\n\nn = 1\n", ""},
		{[]string{"-n", "3"}, 0, "Command: `testbench -n 3`\n\nn = 3\n", ""},
		{[]string{"run", "-n", "4"}, 0, "Command: `testbench -n 4`\n\nn = 4\n", ""},
		{[]string{"args", "x", "y"}, 0, `["x","y"]` + "\n", ""},
		{[]string{"help"}, 0, "", "usage: testbench [flags]\n\nMeasures nothing.\n\nflags:\n  -n int\n"},
		{[]string{"-n", "0"}, 2, "", "testbench: -n must not be 0\n"},
		{[]string{"-bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"nosuch"}, 2, "", "testbench: unknown subcommand \"nosuch\"\n"},
		{[]string{"-n", "-1"}, 1, "", "testbench: negative\n"},
		{[]string{"fail"}, 1, "", "testbench fail: no luck\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := testCommand.Run(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.errOut) ||
			(tc.out == "" && stdout.Len() > 0) {
			t.Errorf("testbench %s: exit status %d, stdout %q, stderr %q; want %d, %q, %q",
				strings.Join(tc.args, " "), code, stdout.String(), stderr.String(), tc.code, tc.out, tc.errOut)
		}
	}
}

func TestPreset(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	a := fs.Int("a", 1, "")
	b := fs.Int("b", 2, "")
	d := fs.Duration("d", time.Second, "")
	if err := fs.Parse([]string{"-a", "10"}); err != nil {
		t.Fatal(err)
	}
	if err := harness.Preset(fs, map[string]any{"a": 100, "b": 200, "d": 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if *a != 10 || *b != 200 || *d != 5*time.Millisecond {
		t.Errorf("after Preset: a %d, b %d, d %v; want 10 (set on the command line), 200, 5ms", *a, *b, *d)
	}
	if err := harness.Preset(fs, map[string]any{"nosuch": 1}); err == nil {
		t.Error("Preset of an unknown flag succeeded")
	}
}

func TestOptionsParse(t *testing.T) {
	var stderr bytes.Buffer
	parse := func(args ...string) (harness.Options, int, map[string]bool, error) {
		stderr.Reset()
		fs := flag.NewFlagSet("tool", flag.ContinueOnError)
		fs.SetOutput(&stderr)
		var o harness.Options
		o.AddFlags(fs, harness.OptionsHelp{})
		n := fs.Int("n", 100, "")
		given, err := o.Parse(fs, args, map[string]any{"n": 3, "timeout": time.Second})
		return o, *n, given, err
	}

	o, n, given, err := parse("-quick", "-timeout", "1m", "-profile", "prof")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || o.Timeout != time.Minute || !o.Quick || !o.Pin {
		t.Errorf("-quick -timeout 1m: n %d, %+v; want the preset n and the timeout asked for", n, o)
	}
	if !filepath.IsAbs(o.Profile) || filepath.Base(o.Profile) != "prof" {
		t.Errorf("profile directory %q, want an absolute path to prof", o.Profile)
	}
	if o.Progress != &stderr {
		t.Errorf("progress goes to %v, want the flag set's output", o.Progress)
	}
	if !given["timeout"] || !given["quick"] || given["n"] {
		t.Errorf("given %v, want the flags of the command line only", given)
	}

	if _, n, _, err := parse(); err != nil || n != 100 {
		t.Errorf("no flags: n %d, %v; want the default", n, err)
	}
	if _, _, _, err := parse("stray"); err == nil || stderr.String() != "tool: unexpected arguments [\"stray\"]\n" {
		t.Errorf("stray argument: %v, reported %q", err, stderr.String())
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := slices.Clone(tc.in)
		if got := harness.Median(in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("Median reordered its argument: %v", in)
		}
	}
}

func TestLoadAveragesWrite(t *testing.T) {
	var b bytes.Buffer
	harness.LoadAverages{}.Write(&b)
	if b.Len() != 0 {
		t.Errorf("no load averages: wrote %q", b.String())
	}
	harness.LoadAverages{Start: "1.00 0.50 0.25", End: "2.00 1.00 0.50"}.Write(&b)
	if want := "at the start: 1.00 0.50 0.25; at the end: 2.00 1.00 0.50."; !strings.Contains(b.String(), want) {
		t.Errorf("wrote %q, want it to contain %q", b.String(), want)
	}
}

func TestControlClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "GET /stats":
			harness.WriteJSON(w, map[string]string{"q": r.URL.Query().Get("q")})
		case "POST /busy":
			http.Error(w, "  try later \n", http.StatusConflict)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := harness.NewControlClient(strings.TrimPrefix(srv.URL, "http://"), time.Minute)
	ctx := context.Background()

	var got map[string]string
	if err := c.Do(ctx, http.MethodGet, "/stats", map[string][]string{"q": {"a b"}}, &got); err != nil || got["q"] != "a b" {
		t.Errorf("Do: %v, %v; want the query back", got, err)
	}
	err := c.Post(ctx, "/busy")
	var ce *harness.ControlError
	if !errors.As(err, &ce) || ce.Code != http.StatusConflict || ce.Body != "try later" || ce.Path != "/busy" {
		t.Fatalf("Post /busy: %v, want a ControlError of 409 with the answer's text", err)
	}
	if want := "control /busy: 409 Conflict: try later"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestControl(t *testing.T) {
	type stats struct {
		harness.Usage
		Active int `json:"active"`
	}
	c := harness.NewControl(t.TempDir(), "main", func(u harness.Usage) any { return stats{u, 7} })
	srv := httptest.NewServer(c)
	defer srv.Close()
	cc := harness.NewControlClient(strings.TrimPrefix(srv.URL, "http://"), time.Minute)
	ctx := context.Background()

	var got stats
	if err := cc.Get(ctx, "/stats", &got); err != nil || got.Active != 7 || got.Goroutines < 1 {
		t.Errorf("GET /stats: %+v, %v; want the server's counter with the process's usage", got, err)
	}
	// A profile without a name takes the default one.
	if err := cc.Post(ctx, "/profile/cpu/start"); err != nil {
		t.Fatal(err)
	}
	if err := cc.Post(ctx, "/profile/cpu/stop"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.CPU.Dir, "main-cpu.pprof")); err != nil {
		t.Errorf("default profile: %v", err)
	}
	var ce *harness.ControlError
	if err := cc.Do(ctx, http.MethodPost, "/profile/cpu/start", map[string][]string{"name": {"../x"}}, nil); !errors.As(err, &ce) || ce.Code != http.StatusBadRequest {
		t.Errorf("profile named ../x: %v, want 400 Bad Request", err)
	}
	if err := cc.Post(ctx, "/profile/cpu/stop"); !errors.As(err, &ce) || ce.Code != http.StatusConflict {
		t.Errorf("stopping no profile: %v, want 409 Conflict", err)
	}
}

func TestParallel(t *testing.T) {
	const n, par = 50, 4
	var running, most atomic.Int32
	done := make([]bool, n)
	err := harness.Parallel(n, par, func(i int) error {
		r := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
		}
		done[i] = true
		if i%10 == 3 {
			return fmt.Errorf("call %d", i)
		}
		return nil
	})
	if slices.Contains(done, false) {
		t.Errorf("calls made: %v, want all %d", done, n)
	}
	if most.Load() > par {
		t.Errorf("%d calls at once, want at most %d", most.Load(), par)
	}
	if err == nil || err.Error() != "call 3\ncall 13\ncall 23\ncall 33\ncall 43" {
		t.Errorf("errors %q, want those of calls 3, 13, 23, 33 and 43 in order", err)
	}
}

func TestPoll(t *testing.T) {
	ctx := context.Background()
	calls := 0
	err := harness.Poll(ctx, time.Minute, func() (bool, error) {
		calls++
		return calls == 3, nil
	})
	if err != nil || calls != 3 {
		t.Errorf("Poll: %v after %d calls, want nil after 3", err, calls)
	}

	errBroken := errors.New("broken")
	if err := harness.Poll(ctx, time.Minute, func() (bool, error) { return false, errBroken }); !errors.Is(err, errBroken) {
		t.Errorf("Poll of a failing check: %v, want its error", err)
	}
	if err := harness.Poll(ctx, time.Millisecond, func() (bool, error) { return false, nil }); !errors.Is(err, harness.ErrTimeout) {
		t.Errorf("Poll that never succeeds: %v, want ErrTimeout", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	err = harness.Poll(cctx, time.Hour, func() (bool, error) {
		cancel()
		return false, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Poll with its context canceled: %v, want context.Canceled", err)
	}
}

func TestCPUProfiler(t *testing.T) {
	var none harness.CPUProfiler
	if err := none.Start("x"); !errors.Is(err, harness.ErrNoProfileDir) {
		t.Errorf("Start without a directory: %v, want ErrNoProfileDir", err)
	}
	p := harness.CPUProfiler{Dir: t.TempDir()}
	if err := p.Start("first"); err != nil {
		t.Fatal(err)
	}
	if err := p.Start("second"); !errors.Is(err, harness.ErrProfiling) {
		t.Errorf("second Start: %v, want ErrProfiling", err)
	}
	rec := httptest.NewRecorder()
	p.ServeStart(rec, "third")
	if rec.Code != http.StatusConflict {
		t.Errorf("ServeStart while profiling: %d, want 409", rec.Code)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(p.Dir, "first-cpu.pprof")); err != nil || fi.Size() == 0 {
		t.Errorf("profile file: %v, %v; want a written file", fi, err)
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "second-cpu.pprof")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused profile left a file: %v", err)
	}
	rec = httptest.NewRecorder()
	p.ServeStop(rec, httptest.NewRequest(http.MethodPost, "/profile/cpu/stop", nil))
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), harness.ErrNotProfiling.Error()) {
		t.Errorf("ServeStop with no profile: %d %q, want 409", rec.Code, rec.Body.String())
	}
}

func TestUsage(t *testing.T) {
	u0, err := harness.ReadUsage()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no process accounting on", runtime.GOOS)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Some work to account for: allocations, CPU, a write.
	var sink [][]byte
	for i := range 1000 {
		sink = append(sink, make([]byte, 64+i))
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "f"), sink[999], 0o600); err != nil {
		t.Fatal(err)
	}
	u1, err := harness.ReadUsage()
	if err != nil {
		t.Fatal(err)
	}
	if u1.Mallocs < u0.Mallocs+1000 || u1.AllocBytes <= u0.AllocBytes {
		t.Errorf("mallocs %d → %d, bytes %d → %d: the allocations were not counted", u0.Mallocs, u1.Mallocs, u0.AllocBytes, u1.AllocBytes)
	}
	if u1.UserNanos+u1.SysNanos <= 0 || u1.UserNanos < u0.UserNanos || u1.SysNanos < u0.SysNanos {
		t.Errorf("CPU time %d+%d ns → %d+%d ns", u0.UserNanos, u0.SysNanos, u1.UserNanos, u1.SysNanos)
	}
	if u1.Goroutines < 1 {
		t.Errorf("%d goroutines", u1.Goroutines)
	}
	if runtime.GOOS == "linux" && u1.Writes <= u0.Writes {
		t.Errorf("write system calls %d → %d after a write", u0.Writes, u1.Writes)
	}
}

func TestProcFS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no /proc on", runtime.GOOS)
	}
	if n, err := harness.ResidentBytes(); err != nil || n == 0 {
		t.Errorf("ResidentBytes() = %d, %v", n, err)
	}
	if d, err := harness.ProcessCPU(os.Getpid()); err != nil || d < 0 {
		t.Errorf("ProcessCPU(own pid) = %v, %v", d, err)
	}
	if _, err := harness.ProcessCPU(-1); err == nil {
		t.Error("ProcessCPU(-1) succeeded")
	}
	if f := strings.Fields(harness.LoadAverage()); len(f) != 3 {
		t.Errorf("LoadAverage() = %q, want three figures", harness.LoadAverage())
	}
	if err := harness.RaiseOpenFileLimit(); err != nil {
		t.Error(err)
	}
	if harness.OpenFileLimit() == 0 {
		t.Error("no open file limit")
	}
}

// TestLauncher starts processes of testCommand, from this test binary.
func TestLauncher(t *testing.T) {
	var stderr bytes.Buffer
	l, err := harness.NewLauncher(&stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s, err := l.StartServer(ctx, "server")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	resp, err := http.Get("http://" + s.WS + "/")
	if err != nil {
		s.Stop()
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(page) != "under test" {
		t.Errorf("server under test answered %q", page)
	}
	var u harness.Usage
	ctl := harness.NewControlClient(s.Ctl, time.Minute)
	if err := ctl.Get(ctx, "/stats", &u); err != nil || u.Goroutines < 1 {
		t.Errorf("control listener: %+v, %v", u, err)
	}
	if s.GOMAXPROCS < 1 {
		t.Errorf("server's GOMAXPROCS %d", s.GOMAXPROCS)
	}
	s.Stop()
	if err := ctl.Get(ctx, "/stats", &u); err == nil {
		t.Error("the control listener still answers after Stop")
	}

	var args []string
	if err := l.RunJSON(ctx, nil, &args, "args", "a", "b c"); err != nil || !slices.Equal(args, []string{"a", "b c"}) {
		t.Errorf("RunJSON args: %q, %v", args, err)
	}
	err = l.RunJSON(ctx, nil, &args, "fail")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.HasPrefix(err.Error(), "fail: ") {
		t.Errorf("RunJSON of a failing process: %v, want an *exec.ExitError after the subcommand", err)
	}
	if _, err := l.StartServer(ctx, "mute"); err == nil || !strings.Contains(err.Error(), "server did not start") {
		t.Errorf("StartServer of a process that never listens: %v", err)
	}
	if !strings.Contains(stderr.String(), "testbench fail: no luck") {
		t.Errorf("the processes' stderr did not reach the Launcher's: %q", stderr.String())
	}
}
