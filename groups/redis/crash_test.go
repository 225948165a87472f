package redis

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/testservers"
)

// crashEnv, when set in the environment of this test binary, makes
// TestCrashNode the body of a node process, on the Redis at its value.
const crashEnv = "PISTOKE_REDIS_CRASH_NODE"

const crashTTL = 500 * time.Millisecond

// TestCrashedNodeLeavesPresence kills a node process with SIGKILL: its
// entries drop out of presence once its liveness key expires, and List
// deletes them.
func TestCrashedNodeLeavesPresence(t *testing.T) {
	srv := testservers.StartRedis(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestCrashNode$")
	cmd.Env = append(os.Environ(), crashEnv+"="+srv.URL())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // the child lives while it is open
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	// The test framework may print lines of its own first.
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "ready" {
	}
	if sc.Text() != "ready" {
		t.Fatalf("node process ended before it was ready: %v", sc.Err())
	}

	a := openNode(t, srv.URL(), Options{PresenceTTL: crashTTL})
	ctx := context.Background()
	if err := a.Presence().Add(ctx, "room", "here", groups.Member{ID: "ann", Meta: map[string]string{"k": "here"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := listKeys(t, a, "room"), []string{"crashed", "here"}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	eventually(t, "gone", func() bool { return slices.Equal(listKeys(t, a, "room"), []string{"here"}) })
	fields, err := a.client.HKeys(ctx, a.hashKey("room")).Result()
	if err != nil || !slices.Equal(fields, []string{"here"}) {
		t.Fatalf("hash fields = %v, %v; want [here]", fields, err)
	}
}

// TestCrashNode is the node process of TestCrashedNodeLeavesPresence.
func TestCrashNode(t *testing.T) {
	url := os.Getenv(crashEnv)
	if url == "" {
		// Only the node process that TestCrashedNodeLeavesPresence starts
		// (this test binary, run again) does anything here.
		return
	}
	ctx := context.Background()
	b, err := New(ctx, Options{URL: url, PresenceTTL: crashTTL, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Open(ctx, func(string, []byte) {}); err != nil {
		t.Fatal(err)
	}
	err = b.Presence().Add(ctx, "room", "crashed", groups.Member{ID: "bob", Meta: map[string]string{"k": "crashed"}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed
	b.Close()
}
