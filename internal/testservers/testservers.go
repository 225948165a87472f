// Package testservers starts real broker servers (redis-server,
// nats-server) on free loopback ports for tests, and stops them when the
// test ends.
package testservers

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Require returns the path of the program name, or skips the test with a
// one-line reason when it is not installed; when the environment variable
// CI is set, a missing program fails the test instead, since CI installs
// everything the suite needs.
func Require(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/bin", "/usr/sbin", "/usr/local/bin"} {
			if _, serr := os.Stat(dir + "/" + name); serr == nil {
				return dir + "/" + name
			}
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (CI is set, so this is an error)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr formats a loopback address with port.
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
