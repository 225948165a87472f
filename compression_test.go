package pistoke_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"

	"github.com/pistoke/pistoke"
)

// compressedApp echoes on /echo/, with compression from the options.
func compressedApp(comp *pistoke.Compression, readLimit int64) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.Protocol{ReadLimit: readLimit}.Wrap(pistoke.HandlerFunc(echo)))
	return pistoke.Handler(mux, pistoke.Options{Logger: quietLogger(), Compression: comp})
}

func bigText(n int) string {
	return strings.Repeat("permessage-deflate squeezes repetitive text. ", n/45+1)[:n]
}

func TestCompressionWithPistokeClient(t *testing.T) {
	url := serve(t, compressedApp(&pistoke.Compression{}, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := pistoke.Dial(ctx, url+"/echo/", &pistoke.DialOptions{Compression: &pistoke.Compression{}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close(pistoke.CloseNormal, "")
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	if !strings.HasPrefix(ext, "permessage-deflate") || !strings.Contains(ext, "server_no_context_takeover") {
		t.Fatalf("negotiated %q, want permessage-deflate with server_no_context_takeover", ext)
	}
	for _, n := range []int{0, 10, 200, 70000, 500000} {
		msg := bigText(n)
		ws.SendText(msg)
		expectText(t, ws, msg)
	}
}

func TestCompressionOffByDefault(t *testing.T) {
	url := serve(t, compressedApp(nil, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := pistoke.Dial(ctx, url+"/echo/", &pistoke.DialOptions{Compression: &pistoke.Compression{}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close(pistoke.CloseNormal, "")
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("negotiated %q without Options.Compression", ext)
	}
	ws.SendText(bigText(1000))
	expectText(t, ws, bigText(1000))
}

func TestCompressionWithGorilla(t *testing.T) {
	url := serve(t, compressedApp(&pistoke.Compression{}, 0))
	d := websocket.Dialer{EnableCompression: true}
	c, resp, err := d.Dial(url+"/echo/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("negotiated %q", ext)
	}
	for _, n := range []int{5, 300, 100000} {
		for _, typ := range []int{websocket.TextMessage, websocket.BinaryMessage} {
			msg := []byte(bigText(n))
			if err := c.WriteMessage(typ, msg); err != nil {
				t.Fatal(err)
			}
			gotTyp, got, err := c.ReadMessage()
			if err != nil || gotTyp != typ || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes: type %d, %d bytes, %v", n, gotTyp, len(got), err)
			}
		}
	}
}

func TestCompressionContextTakeoverWithCoder(t *testing.T) {
	url := serve(t, compressedApp(&pistoke.Compression{ContextTakeover: true}, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := coder.Dial(ctx, url+"/echo/", &coder.DialOptions{
		CompressionMode:      coder.CompressionContextTakeover,
		CompressionThreshold: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	if !strings.Contains(ext, "permessage-deflate") || strings.Contains(ext, "client_no_context_takeover") {
		t.Fatalf("negotiated %q, want deflate with the client keeping its context", ext)
	}
	// A stream of similar messages: each refers back to the ones before.
	for i := range 50 {
		msg := []byte(bigText(100 + i*37))
		if err := c.Write(ctx, coder.MessageText, msg); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: %d bytes back, %v", i, len(got), err)
		}
	}
	c.Close(coder.StatusNormalClosure, "")
}

func TestDecompressionBombStopsAtReadLimit(t *testing.T) {
	url := serve(t, compressedApp(&pistoke.Compression{}, 64<<10))
	d := websocket.Dialer{EnableCompression: true}
	c, _, err := d.Dial(url+"/echo/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.EnableWriteCompression(true)
	// 16 MiB of zeros deflate to about 16 KiB, well under the limit; the
	// server must refuse to inflate it past 64 KiB.
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 16<<20)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != pistoke.CloseMessageTooBig {
		t.Fatalf("after a decompression bomb: %v, want close 1009", err)
	}
}
