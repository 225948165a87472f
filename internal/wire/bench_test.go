package wire

import (
	"bytes"
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
