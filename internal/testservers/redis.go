package testservers

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Redis is a redis-server process serving one test, on a loopback port it
// keeps across Restart. It keeps no data on disk: a restart, like a crash of
// a broker without persistence, loses every key.
type Redis struct {
	server
	path  string
	dir   string
	port  int
	extra []string // more arguments for redis-server
}

// redisStartTimeout bounds the wait for a starting server to accept
// connections; it is a failure bound, not a synchronisation delay.
const redisStartTimeout = 15 * time.Second

// StartRedis starts /usr/bin/redis-server (or skips the test, see Require)
// on a free loopback port, with no persistence and a temporary working
// directory, and returns once it answers PING. The server is killed when
// the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return startRedis(t, nil)
}

// startRedis starts a server with extra arguments; extra, when not nil,
// returns them for the chosen port.
func startRedis(t testing.TB, extra func(port int) []string) *Redis {
	t.Helper()
	r := &Redis{server: server{t: t}, path: Require(t, "redis-server"), dir: t.TempDir()}
	var err error
	// A port found free can be taken before the server binds it; a second
	// port almost never is.
	for range 3 {
		r.port = FreePort(t)
		if extra != nil {
			r.extra = extra(r.port)
		}
		if err = r.start(); err == nil {
			return r
		}
	}
	t.Fatalf("redis-server: %v", err)
	return nil
}

// URL returns the server's address as a redis:// URL.
func (r *Redis) URL() string { return "redis://" + r.Addr() }

// Addr returns the server's host:port.
func (r *Redis) Addr() string { return Addr(r.port) }

// Stop shuts the server down gracefully (SIGTERM) and waits for it to exit.
// Stopping a stopped server does nothing.
func (r *Redis) Stop() { r.stop() }

// Kill ends the server at once (SIGKILL), as a crash would, and waits for it
// to exit. Killing a stopped server does nothing.
func (r *Redis) Kill() { r.kill() }

// Restart stops the server if it runs, then starts an empty one on the same
// port.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Stop()
	if err := r.start(); err != nil {
		r.t.Fatalf("redis-server restart: %v", err)
	}
}

func (r *Redis) start() error {
	r.t.Helper()
	args := []string{
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--daemonize", "no",
		"--logfile", "",
	}
	args = append(args, r.extra...)
	ping := func() error {
		if err := redisPing(r.Addr()); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		return nil
	}
	p, err := startServer(r.t, exec.Command(r.path, args...), "Ready to accept connections", redisStartTimeout, ping)
	if err != nil {
		return err
	}
	// Killed when the test ends, ahead of the graceful stop startServer
	// arranged: nothing is left to save.
	r.t.Cleanup(func() { p.Kill() })
	r.set(p)
	return nil
}

// redisPing sends PING and expects PONG.
func redisPing(addr string) error {
	reply, err := redisCommand(addr, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("unexpected reply %q", reply)
	}
	return nil
}

// redisCommand sends one command in the inline protocol and returns its
// reply when it is a status or a bulk string.
func redisCommand(addr, command string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(command + "\r\n")); err != nil {
		return "", err
	}
	rd := bufio.NewReader(c)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("unexpected reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("reply %q", line)
}

// RedisCluster is a Redis Cluster of masters without replicas, serving
// one test.
type RedisCluster struct {
	// Nodes are the masters, which share the hash slots evenly.
	Nodes []*Redis
}

// StartRedisCluster starts masters (at least 3) redis-server processes in
// cluster mode, like StartRedis, joins them with redis-cli (or skips the
// test, see Require), and returns once every node reports the cluster
// ready.
func StartRedisCluster(t testing.TB, masters int) *RedisCluster {
	t.Helper()
	cli := Require(t, "redis-cli")
	c := &RedisCluster{}
	for range masters {
		c.Nodes = append(c.Nodes, startRedis(t, func(int) []string {
			return []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(FreePort(t)),
				"--cluster-node-timeout", "5000",
			}
		}))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Nothing announces that the nodes agree on the slots: ask until they
	// do.
	deadline := time.Now().Add(redisStartTimeout)
	for _, n := range c.Nodes {
		for {
			info, err := redisCommand(n.Addr(), "CLUSTER INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ready after %v: %q %v", redisStartTimeout, info, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// Addrs returns the host:port of every node.
func (c *RedisCluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}
