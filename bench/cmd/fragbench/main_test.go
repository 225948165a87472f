package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/bench/internal/harness/harnesstest"
)

// TestMain lets the test binary stand in for the command, whose
// processes the tests start.
func TestMain(m *testing.M) { harnesstest.Main(m, command.Run) }

// TestQuick runs the whole benchmark in its smoke mode, in processes of
// its own, and checks that it prints a row for every case and a verdict
// for every fragmented one. The figures of a smoke run mean nothing, so
// none is checked.
func TestQuick(t *testing.T) {
	var out, progress bytes.Buffer
	if code := command.Run([]string{"-quick"}, &out, &progress); code != 0 {
		t.Fatalf("fragbench -quick: exit status %d\n%s", code, progress.String())
	}
	report := out.String()
	wants := []string{
		"# fragbench",
		"Command: `fragbench -quick`",
		"| case | frames/msg | wire bytes/msg | payload bytes/msg | server CPU µs/msg | ns/wire byte | ns/payload byte |",
	}
	for _, c := range cases {
		row := "| " + c.name + " | " + strconv.Itoa(c.frames(quickSize)) + " | " +
			strconv.Itoa(c.wireSize(quickSize)) + " | " + strconv.Itoa(c.payloadSize(quickSize)) + " | "
		wants = append(wants, row)
		if c.base != "" {
			wants = append(wants, "- "+c.name+": **")
		}
	}
	for _, want := range wants {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}

// TestWireSizes checks the sizes the documentation gives for 1 MiB.
func TestWireSizes(t *testing.T) {
	const mib = 1 << 20
	for name, want := range map[string]int{
		"binary-one-frame":    mib + 14,
		"binary-byte-frames":  7 * mib,
		"binary-empty-frames": 6*mib + 13,
	} {
		c, err := lookupCase(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.wireSize(mib); got != want {
			t.Errorf("%s: %d wire bytes for 1 MiB, want %d", name, got, want)
		}
	}
}

// TestStreams sends the message of every case, at sizes that take each
// form of frame header, to a pistoke server in this process, and checks
// that it receives the payload the case built.
func TestStreams(t *testing.T) {
	type message struct {
		typ pistoke.MessageType
		p   []byte
	}
	got := make(chan message, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET "+sinkPath, pistoke.Protocol{ReadLimit: readLimit}.Wrap(pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		for typ, p := range ws.Messages() {
			got <- message{typ, bytes.Clone(p)}
			tag := "b"
			if typ == pistoke.Text {
				tag = "t"
			}
			if err := ws.SendText(tag + strconv.Itoa(len(p))); err != nil {
				return err
			}
		}
		return ws.Err()
	})))
	srv := httptest.NewServer(pistoke.Handler(mux, pistoke.Options{Logger: quietLog}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wc, err := dialRaw(ctx, "ws://"+strings.TrimPrefix(srv.URL, "http://")+sinkPath)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.close()
	for _, c := range cases {
		for _, size := range []int{1, 125, 126, 300, 70000} {
			payload, stream := c.build(size, uint64(size))
			if _, err := wc.conn.Write(stream); err != nil {
				t.Fatalf("%s, size %d: %v", c.name, size, err)
			}
			m := <-got
			wantType := pistoke.Binary
			if c.text {
				wantType = pistoke.Text
			}
			if m.typ != wantType || !bytes.Equal(m.p, payload) {
				t.Errorf("%s, size %d: server received a %v message of %d bytes, want %v of %d bytes as built",
					c.name, size, m.typ, len(m.p), wantType, len(payload))
			}
			if err := wc.expect(strconv.AppendInt([]byte{c.tag()}, int64(len(payload)), 10)); err != nil {
				t.Fatalf("%s, size %d: %v", c.name, size, err)
			}
		}
	}
}

func TestBadFlags(t *testing.T) {
	harnesstest.UsageErrors(t, command,
		[]string{"-cases", "binary-one-frame,nope"},
		[]string{"-cases", ","},
		[]string{"-size", "0"},
		[]string{"-size", strconv.Itoa(maxSize + 1)},
		[]string{"-msgs", "0"},
		[]string{"stray"},
	)
}
