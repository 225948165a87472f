package wire

import (
	"bufio"
	"encoding/base64"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestAcceptKey(t *testing.T) {
	// RFC 6455 section 1.3.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("AcceptKey = %q", got)
	}
}

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k := NewKey()
		if b, err := base64.StdEncoding.DecodeString(k); err != nil || len(b) != 16 {
			t.Fatalf("NewKey() = %q: %v, %d bytes", k, err, len(b))
		}
		if seen[k] {
			t.Fatalf("NewKey repeated %q", k)
		}
		seen[k] = true
	}
}

const goodKey = "dGhlIHNhbXBsZSBub25jZQ=="

func parseRequest(t testing.TB, raw string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("ReadRequest: %v", err)
	}
	return r
}

func TestCheckRequest(t *testing.T) {
	base := func(headers ...string) string {
		return "GET /chat HTTP/1.1\r\nHost: example.com\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n"
	}
	std := []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + goodKey, "Sec-WebSocket-Version: 13"}
	with := func(replace map[string]string, add ...string) string {
		var h []string
		for _, line := range std {
			name := line[:strings.IndexByte(line, ':')]
			if v, ok := replace[name]; ok {
				if v != "" {
					h = append(h, name+": "+v)
				}
				continue
			}
			h = append(h, line)
		}
		return base(append(h, add...)...)
	}
	for _, tc := range []struct {
		name    string
		raw     string
		status  int
		upgrade bool // IsUpgrade's answer
	}{
		{"valid", base(std...), 0, true},
		{"tokens in any case", with(map[string]string{"Upgrade": "WebSocket", "Connection": "uPgRaDe"}), 0, true},
		{"token lists", with(map[string]string{"Upgrade": "foo/1, websocket", "Connection": "keep-alive,  Upgrade "}), 0, true},
		{"several header lines", with(map[string]string{"Upgrade": "h2c", "Connection": "keep-alive"}, "Upgrade: websocket", "Connection: upgrade"), 0, true},
		{"lowercase header names", base("upgrade: websocket", "connection: upgrade", "sec-websocket-key: "+goodKey, "sec-websocket-version: 13"), 0, true},
		{"no Upgrade", with(map[string]string{"Upgrade": ""}), 400, false},
		{"Upgrade without websocket", with(map[string]string{"Upgrade": "websocketx, h2c"}), 400, false},
		{"no Connection", with(map[string]string{"Connection": ""}), 400, true},
		{"Connection without upgrade", with(map[string]string{"Connection": "keep-alive, upgrader"}), 400, true},
		{"no key", with(map[string]string{"Sec-WebSocket-Key": ""}), 400, true},
		{"key of 15 bytes", with(map[string]string{"Sec-WebSocket-Key": base64.StdEncoding.EncodeToString(make([]byte, 15))}), 400, true},
		{"key of 17 bytes", with(map[string]string{"Sec-WebSocket-Key": base64.StdEncoding.EncodeToString(make([]byte, 17))}), 400, true},
		{"key not base64", with(map[string]string{"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ!!"}), 400, true},
		{"key without padding", with(map[string]string{"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ"}), 400, true},
		{"two keys", with(nil, "Sec-WebSocket-Key: "+goodKey), 400, true},
		{"no version", with(map[string]string{"Sec-WebSocket-Version": ""}), 426, true},
		{"version 8", with(map[string]string{"Sec-WebSocket-Version": "8"}), 426, true},
		{"version list", with(map[string]string{"Sec-WebSocket-Version": "13, 8"}), 426, true},
		{"POST", strings.Replace(base(std...), "GET", "POST", 1), 405, true},
		{"HTTP/1.0", strings.Replace(base(std...), "HTTP/1.1", "HTTP/1.0", 1), 400, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := parseRequest(t, tc.raw)
			if got := IsUpgrade(r); got != tc.upgrade {
				t.Errorf("IsUpgrade = %v, want %v", got, tc.upgrade)
			}
			key, err := CheckRequest(r)
			if tc.status == 0 {
				if err != nil || key != goodKey {
					t.Fatalf("CheckRequest = %q, %v", key, err)
				}
				return
			}
			var he *HandshakeError
			if !errors.As(err, &he) {
				t.Fatalf("CheckRequest error %v (%T), want *HandshakeError", err, err)
			}
			if he.Status != tc.status || he.Reason == "" {
				t.Errorf("status %d reason %q, want %d", he.Status, he.Reason, tc.status)
			}
			switch tc.status {
			case 426:
				if he.Header.Get("Sec-WebSocket-Version") != "13" {
					t.Errorf("426 without Sec-WebSocket-Version: 13: %v", he.Header)
				}
			case 405:
				if he.Header.Get("Allow") != "GET" {
					t.Errorf("405 without Allow: GET: %v", he.Header)
				}
			}
		})
	}
}

func TestSubprotocols(t *testing.T) {
	h := http.Header{}
	h.Add("Sec-WebSocket-Protocol", " chat , , superchat")
	h.Add("sec-websocket-protocol", "v2.json,\tv1.json ")
	want := []string{"chat", "superchat", "v2.json", "v1.json"}
	if got := Subprotocols(h); !reflect.DeepEqual(got, want) {
		t.Errorf("Subprotocols = %q, want %q", got, want)
	}
	if got := Subprotocols(http.Header{}); len(got) != 0 {
		t.Errorf("Subprotocols of no header = %q", got)
	}
}

func TestAppendResponse(t *testing.T) {
	extra := http.Header{
		"Set-Cookie":             {"a=1", "b=2"},
		"X-Evil":                 {"x\r\nInjected: yes"},
		"Bad Name":               {"v"},
		"Sec-Websocket-Protocol": {"not this one"},
		"Connection":             {"close"},
	}
	got := string(AppendResponse([]byte("prefix|"), AcceptKey(goodKey), "chat", extra))
	want := "prefix|HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
		"Sec-WebSocket-Protocol: chat\r\n" +
		"Set-Cookie: a=1\r\n" +
		"Set-Cookie: b=2\r\n" +
		"X-Evil: x  Injected: yes\r\n" +
		"\r\n"
	if got != want {
		t.Errorf("AppendResponse =\n%q\nwant\n%q", got, want)
	}
	// The result parses as the response a client expects.
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(strings.TrimPrefix(got, "prefix|"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := CheckResponse(resp, goodKey, []string{"x", "chat"}); err != nil || sub != "chat" {
		t.Errorf("CheckResponse of our own response = %q, %v", sub, err)
	}
	if got := string(AppendResponse(nil, AcceptKey(goodKey), "", nil)); strings.Contains(got, "Sec-WebSocket-Protocol") {
		t.Errorf("response without a subprotocol names one: %q", got)
	}
}

func TestCheckResponse(t *testing.T) {
	accept := AcceptKey(goodKey)
	build := func(status string, headers ...string) *http.Response {
		raw := "HTTP/1.1 " + status + "\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n"
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ok := []string{"Upgrade: WebSocket", "Connection: keep-alive, Upgrade", "Sec-WebSocket-Accept: " + accept}
	offered := []string{"a", "b"}
	for _, tc := range []struct {
		name   string
		resp   *http.Response
		sub    string
		status int // 0: success
	}{
		{"valid", build("101 Switching Protocols", ok...), "", 0},
		{"subprotocol", build("101 Switching Protocols", append(ok, "Sec-WebSocket-Protocol: b")...), "b", 0},
		{"refused", build("403 Forbidden", ok...), "", 403},
		{"not switched", build("200 OK", ok...), "", 200},
		{"no upgrade", build("101 Switching Protocols", ok[1:]...), "", 101},
		{"no connection", build("101 Switching Protocols", ok[0], ok[2]), "", 101},
		{"wrong accept", build("101 Switching Protocols", ok[0], ok[1], "Sec-WebSocket-Accept: "+AcceptKey("other")), "", 101},
		{"no accept", build("101 Switching Protocols", ok[:2]...), "", 101},
		{"subprotocol not offered", build("101 Switching Protocols", append(ok, "Sec-WebSocket-Protocol: c")...), "", 101},
		{"subprotocol case differs", build("101 Switching Protocols", append(ok, "Sec-WebSocket-Protocol: A")...), "", 101},
		{"two subprotocols", build("101 Switching Protocols", append(ok, "Sec-WebSocket-Protocol: a, b")...), "", 101},
		// Extensions are CheckExtensions' business.
		{"extension", build("101 Switching Protocols", append(ok, "Sec-WebSocket-Extensions: permessage-deflate")...), "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := CheckResponse(tc.resp, goodKey, offered)
			if tc.status == 0 {
				if err != nil || sub != tc.sub {
					t.Fatalf("CheckResponse = %q, %v; want %q", sub, err, tc.sub)
				}
				return
			}
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != tc.status {
				t.Fatalf("CheckResponse error %v, want *HandshakeError with status %d", err, tc.status)
			}
		})
	}
}
