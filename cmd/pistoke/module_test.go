package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests below run pistoke the way a user of the library does: from
// the root of their own module, which requires pistoke (here through a
// replace directive, so that no network is needed), on a package of that
// module given by its path.

const userMain = `package main

import (
	"io"
	"net/http"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/devserver"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served from the user's module")
	})
	devserver.Main(pistoke.Handler(mux, pistoke.Options{}))
}
`

const userBroken = `package main

import "github.com/pistoke/pistoke/devserver"

func main() {
	devserver.Main(missingHandler)
}
`

// userModule writes a module of its own with a working program in
// cmd/app and one that does not compile in cmd/broken, and returns its
// root.
func userModule(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "go.mod"), "module example.com/userapp\n\ngo 1.25\n\nrequire github.com/pistoke/pistoke v0.0.0\n\nreplace github.com/pistoke/pistoke => "+root+"\n")
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "go.sum"), string(sum))
	for name, src := range map[string]string{"cmd/app/main.go": userMain, "cmd/broken/main.go": userBroken} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(dir, name), src)
	}
	return dir
}

// runCLIToEnd runs pistoke with args in dir, as startCLI does, and returns
// its exit status and standard error once it has exited.
func runCLIToEnd(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildCLI(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), cliEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("pistoke %s did not exit: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return exitStatus(err), stderr.String()
}

// goSays returns what the go command itself writes to standard error
// when asked to build pkg in dir.
func goSays(t *testing.T, dir, pkg string) string {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", os.DevNull, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), cliEnv...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("go build %s succeeded; want it to fail", pkg)
	}
	msg := strings.TrimSpace(string(out))
	if msg == "" {
		t.Fatalf("go build %s failed (%v) without saying why", pkg, err)
	}
	return msg
}

func TestRunPackageOfUserModule(t *testing.T) {
	mod := userModule(t)
	for _, mode := range [][]string{nil, {"-reload"}} {
		t.Run(strings.Join(append([]string{"run"}, mode...), " "), func(t *testing.T) {
			args := append(append([]string{"run"}, mode...), "-addr", "127.0.0.1:0", "./cmd/app")
			c := startCLI(t, mod, args...)
			status, page := httpGet(t, c.url+"/")
			if status != 200 || !strings.Contains(page, "served from the user's module") {
				t.Errorf("GET / = %d %q; want the user's page", status, page)
			}
			if status := c.stop(t); status != 0 {
				t.Errorf("exit status %d after SIGINT; want 0\n%s", status, c.stderr)
			}
		})
	}
}

func TestRunShowsWhatTheGoCommandSays(t *testing.T) {
	mod := userModule(t)
	other := t.TempDir()
	writeTestFile(t, filepath.Join(other, "go.mod"), "module example.com/other\n\ngo 1.25\n")
	writeTestFile(t, filepath.Join(other, "main.go"), "package main\n\nfunc main() {}\n")

	tests := []struct {
		name string
		args []string
		want string // beside the go command's own message
	}{
		{"compile error", []string{"./cmd/broken"}, "undefined: missingHandler"},
		{"no such directory", []string{"./cmd/nope"}, ""},
		{"no such directory with -reload", []string{"-reload", "./cmd/nope"}, ""},
		{"outside the module", []string{other}, ""},
		{"outside the module with -reload", []string{"-reload", other}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg := tt.args[len(tt.args)-1]
			goMsg := goSays(t, mod, pkg)
			args := append([]string{"run", "-addr", "127.0.0.1:0"}, tt.args...)
			status, stderr := runCLIToEnd(t, mod, args...)
			if status != 1 {
				t.Errorf("exit status %d; want 1", status)
			}
			if !strings.Contains(stderr, goMsg) {
				t.Errorf("stderr lacks the go command's message %q:\n%s", goMsg, stderr)
			}
			if tt.want != "" && !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr)
			}
			if strings.Contains(stderr, "no such package") {
				t.Errorf("stderr hides the go command's reason:\n%s", stderr)
			}
		})
	}
}
