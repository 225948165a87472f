package pistoke_test

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pistoke/pistoke"
)

// metricsRecorder is a pistoke.Metrics that remembers what it was told.
type metricsRecorder struct {
	mu       sync.Mutex
	outcomes map[pistoke.HandshakeOutcome]int
	opened   atomic.Int64
	in, out  atomic.Int64
	inBytes  atomic.Int64
	outBytes atomic.Int64
	dropped  atomic.Int64
	closed   chan pistoke.CloseInfo
}

func newMetricsRecorder() *metricsRecorder {
	return &metricsRecorder{outcomes: make(map[pistoke.HandshakeOutcome]int), closed: make(chan pistoke.CloseInfo, 100)}
}

func (m *metricsRecorder) Handshake(o pistoke.HandshakeOutcome) {
	m.mu.Lock()
	m.outcomes[o]++
	m.mu.Unlock()
}
func (m *metricsRecorder) Opened()                       { m.opened.Add(1) }
func (m *metricsRecorder) Closed(info pistoke.CloseInfo) { m.closed <- info }
func (m *metricsRecorder) Received(_ pistoke.MessageType, n int) {
	m.in.Add(1)
	m.inBytes.Add(int64(n))
}
func (m *metricsRecorder) Sent(_ pistoke.MessageType, n int) {
	m.out.Add(1)
	m.outBytes.Add(int64(n))
}
func (m *metricsRecorder) SendDropped() { m.dropped.Add(1) }

func (m *metricsRecorder) handshakes(o pistoke.HandshakeOutcome) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.outcomes[o]
}

func TestCloseEventAndMetrics(t *testing.T) {
	rec := newMetricsRecorder()
	logs := &logRecorder{}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(echo))
	_, url := startServer(t, pistoke.Handler(mux, pistoke.Options{Logger: slog.New(logs), Metrics: rec}))

	ws := dialOK(t, url+"/echo/", nil)
	ws.SendText("hello")
	expectText(t, ws, "hello")
	ws.SendBinary([]byte{1, 2, 3})
	if _, p, err := ws.Receive(); err != nil || len(p) != 3 {
		t.Fatalf("binary echo: %v %v", p, err)
	}
	ws.Close(4001, "bye")

	info := <-rec.closed
	if info.Code != 4001 || info.Reason != "bye" || info.By != "client" {
		t.Errorf("close info %+v, want 4001 bye by the client", info)
	}
	if info.MessagesIn != 2 || info.MessagesOut != 2 || info.BytesIn != 8 || info.BytesOut != 8 || info.Duration <= 0 {
		t.Errorf("close info counts %+v, want 2 messages and 8 bytes each way", info)
	}
	if rec.opened.Load() != 1 || rec.in.Load() != 2 || rec.out.Load() != 2 || rec.inBytes.Load() != 8 || rec.outBytes.Load() != 8 {
		t.Errorf("metrics: opened %d in %d/%dB out %d/%dB", rec.opened.Load(), rec.in.Load(), rec.inBytes.Load(), rec.out.Load(), rec.outBytes.Load())
	}
	line := logs.wait(t, "pistoke: socket closed")
	for _, want := range []string{"path=/echo/", "code=4001", "reason=bye", "by=client", "messages_in=2", "messages_out=2", "bytes_in=8", "bytes_out=8", "duration="} {
		if !strings.Contains(line, want) {
			t.Errorf("close event %q lacks %q", line, want)
		}
	}
	opened := logs.wait(t, "pistoke: socket opened")
	if !strings.Contains(opened, "path=/echo/") || !strings.Contains(opened, "remote=127.0.0.1:") {
		t.Errorf("open event %q", opened)
	}
}

func TestServerCloseIsByServer(t *testing.T) {
	rec := newMetricsRecorder()
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /bye/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		return &pistoke.CloseError{Code: 4403, Reason: "Forbidden"}
	}))
	mux.Handle("WEBSOCKET /fail/", pistoke.Protocol{ReadLimit: 4}.Wrap(pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		_, _, err := ws.Receive()
		return err
	})))
	_, url := startServer(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger(), Metrics: rec}))

	ws := dialOK(t, url+"/bye/", nil)
	expectClose(t, ws, 4403)
	if info := <-rec.closed; info.Code != 4403 || info.By != "server" {
		t.Errorf("close info %+v, want 4403 by the server", info)
	}

	ws = dialOK(t, url+"/fail/", nil)
	ws.SendText("too long")
	expectClose(t, ws, pistoke.CloseMessageTooBig)
	if info := <-rec.closed; info.Code != pistoke.CloseMessageTooBig || info.By != "server" {
		t.Errorf("close info %+v, want 1009 by the server", info)
	}
}

func TestHandshakeOutcomes(t *testing.T) {
	rec := newMetricsRecorder()
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(echo))
	mux.Handle("WEBSOCKET /sub/", pistoke.Protocol{Subprotocols: []string{"v1"}}.Wrap(pistoke.HandlerFunc(echo)))
	_, url := startServer(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger(), Metrics: rec}))

	dialOK(t, url+"/echo/", nil)
	if s := dialStatus(t, url+"/missing/", nil); s != http.StatusNotFound {
		t.Errorf("unknown path: %d", s)
	}
	if s := dialStatus(t, url+"/sub/", &pistoke.DialOptions{Subprotocols: []string{"v2"}}); s != http.StatusForbidden {
		t.Errorf("wrong subprotocol: %d", s)
	}
	h := http.Header{"Origin": {"http://evil.example"}}
	if s := dialStatus(t, url+"/echo/", &pistoke.DialOptions{Header: h}); s != http.StatusForbidden {
		t.Errorf("foreign origin: %d", s)
	}
	req, _ := http.NewRequest("GET", "http"+strings.TrimPrefix(url, "ws")+"/echo/", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("handshake without a key: %d", resp.StatusCode)
	}

	for o, want := range map[pistoke.HandshakeOutcome]int{
		pistoke.HandshakeAccepted:    1,
		pistoke.HandshakeRejected:    1,
		pistoke.HandshakeSubprotocol: 1,
		pistoke.HandshakeOrigin:      1,
		pistoke.HandshakeBadRequest:  1,
	} {
		if got := rec.handshakes(o); got != want {
			t.Errorf("handshakes %q = %d, want %d", o, got, want)
		}
	}
}
