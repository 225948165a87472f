package wire

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
	"unsafe"
)

// benchEcho measures one round trip per op: a client engine writes a
// message, a server engine echoes it, over loopback TCP.
func benchEcho(b *testing.B, size int, op Opcode) {
	se, ce := tcpPair(b)
	srv := NewConn(se, Config{Role: RoleServer})
	cli := NewConn(ce, Config{Role: RoleClient})
	go func() {
		for {
			op, p, err := srv.ReadMessage()
			if err != nil {
				return
			}
			if srv.WriteMessage(op, p) != nil {
				return
			}
		}
	}()
	msg := bytes.Repeat([]byte("x"), size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if err := cli.WriteMessage(op, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := cli.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cli.CloseNow()
	srv.CloseNow()
}

func BenchmarkEcho1KiB(b *testing.B) { benchEcho(b, 1024, OpBinary) }

func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{16, 1024, 16 << 10, 256 << 10} {
		for _, op := range []Opcode{OpBinary, OpText} {
			b.Run(op.String()+"/"+strconv.Itoa(size), func(b *testing.B) { benchEcho(b, size, op) })
		}
	}
}

// jsonLike returns n bytes of JSON-like text, as chat or telemetry
// messages look.
func jsonLike(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"user%d","text":"message number %d in the channel","ts":%d,"ok":true},`, i, i%7, i, 1700000000+i*13)
	}
	return b.Bytes()[:n]
}

// benchEchoDeflate is benchEcho with permessage-deflate on both sides.
func benchEchoDeflate(b *testing.B, msg []byte, d *Deflate) {
	se, ce := tcpPair(b)
	srv := NewConn(se, Config{Role: RoleServer, Deflate: d})
	cli := NewConn(ce, Config{Role: RoleClient, Deflate: d})
	go echo(srv)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := cli.WriteMessage(OpText, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := cli.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cli.CloseNow()
	srv.CloseNow()
}

// BenchmarkEchoDeflate measures compressed round trips: each op
// compresses and decompresses the message twice.
func BenchmarkEchoDeflate(b *testing.B) {
	for _, size := range []int{1024, 16 << 10} {
		msg := jsonLike(size)
		name := "json/" + strconv.Itoa(size)
		b.Run(name, func(b *testing.B) { benchEchoDeflate(b, msg, &Deflate{}) })
		b.Run(name+"/window", func(b *testing.B) { benchEchoDeflate(b, msg, &Deflate{PeerContextTakeover: true}) })
		b.Run(name+"/level6", func(b *testing.B) { benchEchoDeflate(b, msg, &Deflate{Level: 6}) })
	}
}

// BenchmarkWritePreparedDeflate measures sending a compressed broadcast
// message to one more connection: compressed once, written as is.
func BenchmarkWritePreparedDeflate(b *testing.B) {
	se, ce := tcpPair(b)
	c := NewConn(se, Config{Deflate: &Deflate{}})
	go func() {
		var buf [64 << 10]byte
		for {
			if _, err := ce.Read(buf[:]); err != nil {
				return
			}
		}
	}()
	m, _ := NewPreparedMessage(OpText, jsonLike(1024))
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WritePrepared(m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.CloseNow()
}

// BenchmarkReadPipelined measures the server's read path alone: many
// small masked messages already queued on the socket.
func BenchmarkReadPipelined(b *testing.B) {
	se, ce := tcpPair(b)
	srv := NewConn(se, Config{Role: RoleServer})
	frame := txt(true, strings.Repeat("m", 64))
	batch := bytes.Repeat(frame, 256)
	go func() {
		for {
			if _, err := ce.Write(batch); err != nil {
				return
			}
		}
	}()
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := srv.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	srv.CloseNow()
	ce.Close()
}

func BenchmarkUnmask(b *testing.B) {
	for _, size := range []int{15, 125, 1024, 64 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			p := make([]byte, size)
			b.SetBytes(int64(size))
			pos := 0
			for b.Loop() {
				pos = maskBytes(0x3d21fa37, pos, p)
			}
		})
	}
}

func BenchmarkUTF8(b *testing.B) {
	inputs := map[string][]byte{
		"ascii":    bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 100),
		"latin":    []byte(strings.Repeat("Grüße aus Köln, señor García! ", 100)),
		"cjk":      []byte(strings.Repeat("世界你好，这是一个测试。", 100)),
		"emoji":    []byte(strings.Repeat("😀🎉🚀✨", 200)),
		"json-mix": []byte(strings.Repeat(`{"user":"Jürgen","msg":"héllo wörld","n":12345} `, 60)),
	}
	for _, name := range []string{"ascii", "latin", "cjk", "emoji", "json-mix"} {
		p := inputs[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if !validUTF8(p) {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(name+"/stdlib", func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if !utf8.Valid(p) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// BenchmarkIdleMemory reports the heap held per idle server connection
// blocked in ReadMessage after a first message, beside what the socket
// and the reading goroutine cost in any design.
func BenchmarkIdleMemory(b *testing.B) {
	const n = 2000
	for b.Loop() {
		pairs := make([][2]net.Conn, n)
		for i := range pairs {
			s, c := tcpPair(b)
			pairs[i] = [2]net.Conn{s, c}
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		conns := make([]*Conn, n)
		var started sync.WaitGroup
		for i, p := range pairs {
			conns[i] = NewConn(p[0], Config{})
			started.Add(1)
			go func() {
				first := true
				for {
					if _, _, err := conns[i].ReadMessage(); err != nil {
						return
					}
					if first {
						first = false
						started.Done()
					}
				}
			}()
			p[1].Write(txt(true, "hello"))
		}
		started.Wait()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heap-B/conn")
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/n, "stack-B/conn")
		b.ReportMetric(float64(unsafe.Sizeof(Conn{})), "sizeof-Conn")
		for i, p := range pairs {
			conns[i].CloseNow()
			p[1].Close()
		}
	}
}
