package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChromiumCompression has a real browser talk to the server with
// permessage-deflate: Chromium offers it on every socket.
func TestChromiumCompression(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		requirePeer(t, "node is not installed")
	}
	chromium := "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		requirePeer(t, "%s is not installed (Debian package chromium)", chromium)
	}
	e2e := filepath.Join("..", "..", "e2e")
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core", "package.json")); err != nil {
		requirePeer(t, "playwright-core is not installed: run `npm ci` in e2e")
	}
	s := startServer(t, "-compress")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, filepath.Join(e2e, "browser-compression.mjs"), "http://"+s.addr).CombinedOutput()
	if err != nil {
		t.Fatalf("browser run: %v\n%s", err, out)
	}
	var result struct {
		Extensions string
		Checks     []struct {
			Kind string
			N    int
			OK   bool
		}
	}
	last := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	if err := json.Unmarshal([]byte(last), &result); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	if !strings.Contains(result.Extensions, "permessage-deflate") {
		t.Errorf("Chromium negotiated %q, want permessage-deflate", result.Extensions)
	}
	if len(result.Checks) != 14 {
		t.Errorf("%d checks ran, want 14", len(result.Checks))
	}
	for _, c := range result.Checks {
		if !c.OK {
			t.Errorf("%s message of %d bytes did not come back intact", c.Kind, c.N)
		}
	}
}
