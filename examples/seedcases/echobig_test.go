package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
)

// bigMessage is the size of the largest messages of Autobahn's cases 9.*.
const bigMessage = 16 << 20

// dialBig opens a socket to path of s that accepts messages up to
// bigReadLimit.
func dialBig(t *testing.T, s *server, path string) *pistoke.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ws, _, err := pistoke.Dial(ctx, "ws://"+s.addr+path, &pistoke.DialOptions{ReadLimit: bigReadLimit})
	if err != nil {
		t.Fatalf("Dial %s: %v", path, err)
	}
	t.Cleanup(func() { ws.Close(pistoke.CloseNormal, "") })
	return ws
}

// /echo-big/ echoes 16 MiB messages, text and binary, over real TCP;
// /echo/ keeps its 1 MiB limit.
func TestEchoBig(t *testing.T) {
	s := startServer(t)

	binary := make([]byte, bigMessage)
	rng := rand.NewChaCha8([32]byte{'p', 'i', 's', 't', 'o', 'k', 'e'})
	rng.Read(binary)
	text := []byte(strings.Repeat("✓ pistoke echo", bigMessage/16)) // 16 bytes, one character of 3
	if len(text) != bigMessage {
		t.Fatalf("text message of %d bytes; want %d", len(text), bigMessage)
	}

	ws := dialBig(t, s, "/echo-big/")
	for _, m := range []struct {
		typ  pistoke.MessageType
		data []byte
	}{{pistoke.Binary, binary}, {pistoke.Text, text}} {
		if err := ws.Send(m.typ, m.data); err != nil {
			t.Fatalf("sending %d bytes of %v: %v", len(m.data), m.typ, err)
		}
		typ, got, err := ws.Receive()
		if err != nil {
			t.Fatalf("echo of %d bytes of %v: %v", len(m.data), m.typ, err)
		}
		if typ != m.typ || !bytes.Equal(got, m.data) {
			t.Errorf("echo of %d bytes of %v: %d bytes of %v, not the same", len(m.data), m.typ, len(got), typ)
		}
	}
	if err := ws.Close(pistoke.CloseNormal, ""); err != nil {
		t.Errorf("closing /echo-big/: %v", err)
	}

	// The origin rules of /echo/.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err := pistoke.Dial(ctx, "ws://"+s.addr+"/echo-big/", &pistoke.DialOptions{Header: http.Header{"Origin": {"http://evil.example"}}})
	var he *pistoke.HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusForbidden {
		t.Errorf("/echo-big/ from a foreign origin: %v; want 403", err)
	}

	// One byte over the default limit on /echo/: 1009.
	small := dialBig(t, s, "/echo/")
	if err := small.Send(pistoke.Binary, binary[:(1<<20)+1]); err != nil {
		t.Fatalf("sending to /echo/: %v", err)
	}
	_, _, err = small.Receive()
	var ce *pistoke.CloseError
	if !errors.As(err, &ce) || ce.Code != pistoke.CloseMessageTooBig {
		t.Errorf("/echo/ after a message of 1 MiB and a byte: %v; want close 1009", err)
	}
	// At the limit, /echo/ still echoes.
	small = dialBig(t, s, "/echo/")
	if err := small.Send(pistoke.Binary, binary[:(1<<20)]); err != nil {
		t.Fatalf("sending to /echo/: %v", err)
	}
	if _, got, err := small.Receive(); err != nil || !bytes.Equal(got, binary[:(1<<20)]) {
		t.Errorf("/echo/ with a message of 1 MiB: %d bytes, %v; want it back", len(got), err)
	}
}
