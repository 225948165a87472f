package wire

import (
	"bufio"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// extHeader returns a header with one Sec-WebSocket-Extensions line per
// value.
func extHeader(lines ...string) http.Header {
	h := http.Header{}
	for _, l := range lines {
		h.Add("Sec-WebSocket-Extensions", l)
	}
	return h
}

func TestParseExtensions(t *testing.T) {
	p := func(name, value string, hasValue bool) extParam { return extParam{name, value, hasValue} }
	for _, tc := range []struct {
		name  string
		lines []string
		want  []extension
	}{
		{"none", nil, nil},
		{"empty elements", []string{" , ,\t,"}, nil},
		{"bare", []string{"permessage-deflate"}, []extension{{name: "permessage-deflate"}}},
		{
			"params with and without values",
			[]string{"permessage-deflate; client_max_window_bits; server_max_window_bits=10"},
			[]extension{{name: "permessage-deflate", params: []extParam{p("client_max_window_bits", "", false), p("server_max_window_bits", "10", true)}}},
		},
		{
			"whitespace around separators",
			[]string{"  foo ;\tbar = 1 ;baz ,x-y"},
			[]extension{{name: "foo", params: []extParam{p("bar", "1", true), p("baz", "", false)}}, {name: "x-y"}},
		},
		{
			"escaped quote and comma inside a quoted value",
			[]string{`a; z="\",x", b; p="v"`},
			[]extension{{name: "a", bad: true}, {name: "b", params: []extParam{p("p", "v", true)}}},
		},
		{
			"escaped quoted values",
			[]string{`a; x="10"; y="\1\5"`},
			[]extension{{name: "a", params: []extParam{p("x", "10", true), p("y", "15", true)}}},
		},
		{
			"parameter names lower-cased",
			[]string{"permessage-deflate; Server_No_Context_Takeover"},
			[]extension{{name: "permessage-deflate", params: []extParam{p("server_no_context_takeover", "", false)}}},
		},
		{
			"several lines",
			[]string{"a, b", "c; d"},
			[]extension{{name: "a"}, {name: "b"}, {name: "c", params: []extParam{p("d", "", false)}}},
		},
		{
			"malformed elements are marked and skipped over",
			[]string{`a b, ok1, ;x, c; ="v", d; p=, e; p="x"y, f; p="un,terminated`, "ok2"},
			[]extension{
				{name: "a", bad: true}, {name: "ok1"}, {bad: true}, {name: "c", bad: true},
				{name: "d", bad: true}, {name: "e", bad: true}, {name: "f", bad: true}, {name: "ok2"},
			},
		},
		{
			"quoted value that is not a token",
			[]string{`a; p="1 5", b`},
			[]extension{{name: "a", bad: true}, {name: "b"}},
		},
		{
			"comma inside a quoted value of a malformed element",
			[]string{`a q="x,y", b`},
			[]extension{{name: "a", bad: true}, {name: "b"}},
		},
		{
			"control character in a quoted value",
			[]string{"a; p=\"\x01\", b"},
			[]extension{{name: "a", bad: true}, {name: "b"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseExtensions(extHeader(tc.lines...))
			// Only names and badness of bad elements matter.
			for i := range got {
				if got[i].bad {
					got[i].params = nil
				}
			}
			want := tc.want
			for i := range want {
				if want[i].bad {
					want[i].params = nil
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("parseExtensions(%q)\n got %+v\nwant %+v", tc.lines, got, want)
			}
		})
	}
}

func TestNegotiateDeflate(t *testing.T) {
	const (
		noContext   = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
		withContext = "permessage-deflate; server_no_context_takeover"
	)
	takeover := &DeflateConfig{ContextTakeover: true}
	takeover10 := &DeflateConfig{ContextTakeover: true, MaxWindowBits: 10}
	for _, tc := range []struct {
		name  string
		cfg   *DeflateConfig
		lines []string
		resp  string   // "" when declined
		peer  *Deflate // nil when declined; Level and Threshold not compared
	}{
		{"disabled", nil, []string{"permessage-deflate"}, "", nil},
		{"no offer", &DeflateConfig{}, nil, "", nil},
		{"bare offer", &DeflateConfig{}, []string{"permessage-deflate"}, noContext, &Deflate{}},
		{"name in another case", &DeflateConfig{}, []string{"PerMessage-Deflate"}, noContext, &Deflate{}},
		{"unknown extension ignored", &DeflateConfig{}, []string{"x-webkit-deflate-frame, permessage-deflate"}, noContext, &Deflate{}},
		{"browser offer", &DeflateConfig{}, []string{"permessage-deflate; client_max_window_bits"}, noContext, &Deflate{}},
		{"all parameters", &DeflateConfig{}, []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=12"},
			withContext + "; server_max_window_bits=15; client_no_context_takeover", &Deflate{}},
		{"quoted value", &DeflateConfig{}, []string{`permessage-deflate; server_max_window_bits="15"`},
			withContext + "; server_max_window_bits=15; client_no_context_takeover", &Deflate{}},
		{"server window below 15", &DeflateConfig{}, []string{"permessage-deflate; server_max_window_bits=10"},
			withContext + "; server_max_window_bits=10; client_no_context_takeover", &Deflate{WindowBits: 10}},
		{"server window below 15, or none", &DeflateConfig{}, []string{"permessage-deflate; server_max_window_bits=10, permessage-deflate"}, noContext, &Deflate{}},
		{"server window 14", &DeflateConfig{}, []string{"permessage-deflate; server_max_window_bits=14"},
			withContext + "; server_max_window_bits=14; client_no_context_takeover", &Deflate{WindowBits: 14}},
		{"server window without value skipped", &DeflateConfig{}, []string{"permessage-deflate; server_max_window_bits", "permessage-deflate"}, noContext, &Deflate{}},
		{"bad values skipped", &DeflateConfig{}, []string{"permessage-deflate; client_max_window_bits=16", "permessage-deflate; client_max_window_bits=7",
			"permessage-deflate; client_max_window_bits=010", "permessage-deflate; server_max_window_bits=x", "permessage-deflate; client_no_context_takeover=1",
			"permessage-deflate; server_no_context_takeover=\"\"", "permessage-deflate; client_no_context_takeover"}, noContext, &Deflate{}},
		{"duplicates skipped", &DeflateConfig{}, []string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover, permessage-deflate; client_max_window_bits; client_max_window_bits=9, permessage-deflate"},
			noContext, &Deflate{}},
		{"unknown parameter skipped", &DeflateConfig{}, []string{"permessage-deflate; mystery, permessage-deflate"}, noContext, &Deflate{}},
		{"malformed offer skipped", &DeflateConfig{}, []string{"permessage-deflate; =, permessage-deflate"}, noContext, &Deflate{}},
		{"every offer bad", &DeflateConfig{}, []string{"permessage-deflate; a", "permessage-deflate; server_max_window_bits=7"}, "", nil},
		{"takeover allowed", takeover, []string{"permessage-deflate"}, withContext, &Deflate{PeerContextTakeover: true, PeerWindowBits: 15}},
		{"takeover declined by the client", takeover, []string{"permessage-deflate; client_no_context_takeover"}, noContext, &Deflate{}},
		{"takeover with the client's window", takeover, []string{"permessage-deflate; client_max_window_bits=11"},
			withContext + "; client_max_window_bits=11", &Deflate{PeerContextTakeover: true, PeerWindowBits: 11}},
		{"takeover with a window to choose", takeover, []string{"permessage-deflate; client_max_window_bits"},
			withContext + "; client_max_window_bits=15", &Deflate{PeerContextTakeover: true, PeerWindowBits: 15}},
		{"bounded window", takeover10, []string{"permessage-deflate; client_max_window_bits"},
			withContext + "; client_max_window_bits=10", &Deflate{PeerContextTakeover: true, PeerWindowBits: 10}},
		{"bounded window, smaller offer", takeover10, []string{"permessage-deflate; client_max_window_bits=9"},
			withContext + "; client_max_window_bits=9", &Deflate{PeerContextTakeover: true, PeerWindowBits: 9}},
		{"bound that cannot be told", takeover10, []string{"permessage-deflate"}, noContext, &Deflate{}},
		{"unbounded server window preferred", &DeflateConfig{}, []string{"permessage-deflate; server_max_window_bits=10, permessage-deflate; server_max_window_bits=15, permessage-deflate"},
			withContext + "; server_max_window_bits=15; client_no_context_takeover", &Deflate{WindowBits: 15}},
		{"first bounded window when all are", &DeflateConfig{}, []string{"permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=12, permessage-deflate; server_max_window_bits=9"},
			withContext + "; server_max_window_bits=12; client_no_context_takeover", &Deflate{WindowBits: 12}},
		{"first acceptable offer wins", takeover, []string{"permessage-deflate; server_max_window_bits=7; client_max_window_bits=9", "permessage-deflate; client_max_window_bits=12, permessage-deflate"},
			withContext + "; client_max_window_bits=12", &Deflate{PeerContextTakeover: true, PeerWindowBits: 12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, resp := NegotiateDeflate(extHeader(tc.lines...), tc.cfg)
			if resp != tc.resp {
				t.Errorf("response %q, want %q", resp, tc.resp)
			}
			if (d == nil) != (tc.peer == nil) {
				t.Fatalf("parameters %+v, want %+v", d, tc.peer)
			}
			if d == nil {
				return
			}
			if d.PeerContextTakeover != tc.peer.PeerContextTakeover || d.PeerContextTakeover && d.PeerWindowBits != tc.peer.PeerWindowBits ||
				windowBits(d.WindowBits) != windowBits(tc.peer.WindowBits) {
				t.Errorf("parameters %+v, want %+v", d, tc.peer)
			}
			if d.Level != tc.cfg.Level || d.Threshold != tc.cfg.Threshold {
				t.Errorf("level and threshold %d, %d; want the config's %d, %d", d.Level, d.Threshold, tc.cfg.Level, tc.cfg.Threshold)
			}
		})
	}
}

func TestOfferDeflate(t *testing.T) {
	for _, tc := range []struct {
		cfg  *DeflateConfig
		want string
	}{
		{nil, ""},
		{&DeflateConfig{}, "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover"},
		{&DeflateConfig{MaxWindowBits: 9}, "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover"},
		{&DeflateConfig{ContextTakeover: true}, "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
		{&DeflateConfig{ContextTakeover: true, MaxWindowBits: 15}, "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
		{&DeflateConfig{ContextTakeover: true, MaxWindowBits: 10},
			"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover"},
		{&DeflateConfig{ContextTakeover: true, MaxWindowBits: 3},
			"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8, permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover"},
		{&DeflateConfig{CompressWindowBits: 15}, "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover"},
		{&DeflateConfig{CompressWindowBits: 9}, "permessage-deflate; client_no_context_takeover; client_max_window_bits=9; server_no_context_takeover"},
		{&DeflateConfig{CompressWindowBits: 1}, "permessage-deflate; client_no_context_takeover; client_max_window_bits=8; server_no_context_takeover"},
		{&DeflateConfig{ContextTakeover: true, MaxWindowBits: 10, CompressWindowBits: 12},
			"permessage-deflate; client_no_context_takeover; client_max_window_bits=12; server_max_window_bits=10, permessage-deflate; client_no_context_takeover; client_max_window_bits=12; server_no_context_takeover"},
	} {
		if got := OfferDeflate(tc.cfg); got != tc.want {
			t.Errorf("OfferDeflate(%+v) = %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

// TestOfferAccepted checks that our server accepts each offer of our
// client, and that our client accepts the answer.
func TestOfferAccepted(t *testing.T) {
	cfgs := []*DeflateConfig{
		{}, {ContextTakeover: true}, {ContextTakeover: true, MaxWindowBits: 9},
		{Level: 9, Threshold: -1, MaxWindowBits: 12}, {CompressWindowBits: 10},
		{ContextTakeover: true, MaxWindowBits: 8, CompressWindowBits: 8},
	}
	for _, client := range cfgs {
		for _, server := range cfgs {
			sd, resp := NegotiateDeflate(extHeader(OfferDeflate(client)), server)
			if sd == nil {
				t.Errorf("server %+v declined the offer of client %+v", server, client)
				continue
			}
			cd, err := CheckExtensions(extResponse(t, resp), client)
			if err != nil || cd == nil {
				t.Errorf("client %+v rejected %q: %v", client, resp, err)
				continue
			}
			// Our server never keeps context, and keeps the client's
			// only when both allow it.
			if cd.PeerContextTakeover || sd.PeerContextTakeover {
				t.Errorf("client %+v, server %+v: context takeover negotiated (%+v, %+v), though our client never takes context over",
					client, server, cd, sd)
			}
			// Our client's window is its own choice, and our server
			// takes the offer that leaves its window whole.
			if windowBits(cd.WindowBits) != windowBits(client.CompressWindowBits) || windowBits(sd.WindowBits) != 15 {
				t.Errorf("client %+v, server %+v: windows %d (client) and %d (server)", client, server, cd.WindowBits, sd.WindowBits)
			}
		}
	}
}

// extResponse returns a 101 response carrying the extension lines.
func extResponse(t testing.TB, lines ...string) *http.Response {
	t.Helper()
	raw := "HTTP/1.1 101 Switching Protocols\r\n"
	for _, l := range lines {
		raw += "Sec-WebSocket-Extensions: " + l + "\r\n"
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw+"\r\n")), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestCheckExtensions(t *testing.T) {
	noCtx := &DeflateConfig{}
	ctx := &DeflateConfig{ContextTakeover: true}
	ctx10 := &DeflateConfig{ContextTakeover: true, MaxWindowBits: 10}
	for _, tc := range []struct {
		name   string
		offer  *DeflateConfig
		lines  []string
		peer   *Deflate // nil: no compression
		reason string   // part of the error; "" for success
	}{
		{"nothing offered, nothing selected", nil, nil, nil, ""},
		{"nothing offered, empty header", nil, []string{" "}, nil, ""},
		{"nothing offered, extension selected", nil, []string{"permessage-deflate"}, nil, "the server selected an extension that was not offered"},
		{"nothing offered, unknown extension", nil, []string{"x-foo"}, nil, "the server selected an extension that was not offered"},
		{"offer declined", noCtx, nil, nil, ""},
		{"accepted", noCtx, []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, &Deflate{}, ""},
		{"accepted, any case", noCtx, []string{"Permessage-Deflate; Server_No_Context_Takeover"}, &Deflate{}, ""},
		{"unknown extension", noCtx, []string{"x-foo"}, nil, "not offered"},
		{"unknown extension besides", noCtx, []string{"permessage-deflate; server_no_context_takeover", "x-foo"}, nil, "not offered"},
		{"selected twice", noCtx, []string{"permessage-deflate; server_no_context_takeover, permessage-deflate; server_no_context_takeover"}, nil, "more than once"},
		{"malformed", noCtx, []string{"permessage-deflate; server_no_context_takeover; =x"}, nil, "malformed"},
		{"unknown parameter", noCtx, []string{"permessage-deflate; server_no_context_takeover; mystery"}, nil, "unknown permessage-deflate parameter"},
		{"repeated parameter", noCtx, []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, nil, "repeated"},
		{"flag with a value", noCtx, []string{"permessage-deflate; server_no_context_takeover=1"}, nil, "with a value"},
		{"client flag with a value", noCtx, []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover=x"}, nil, "with a value"},
		{"bad window", noCtx, []string{"permessage-deflate; server_no_context_takeover; server_max_window_bits=16"}, nil, "bad value"},
		{"window without a value", noCtx, []string{"permessage-deflate; server_no_context_takeover; server_max_window_bits"}, nil, "bad value"},
		{"client window", noCtx, []string{"permessage-deflate; server_no_context_takeover; client_max_window_bits=9"}, &Deflate{WindowBits: 9}, ""},
		{"client window 15", noCtx, []string{"permessage-deflate; server_no_context_takeover; client_max_window_bits=15"}, &Deflate{}, ""},
		{"client window without a value", noCtx, []string{"permessage-deflate; server_no_context_takeover; client_max_window_bits"}, nil, "bad value"},
		{"client window past the offer's", &DeflateConfig{CompressWindowBits: 10}, []string{"permessage-deflate; server_no_context_takeover; client_max_window_bits=11"},
			nil, "larger than the offer's"},
		{"client window within the offer's", &DeflateConfig{CompressWindowBits: 10}, []string{"permessage-deflate; server_no_context_takeover; client_max_window_bits=9"},
			&Deflate{WindowBits: 9}, ""},
		{"client window of the offer", &DeflateConfig{CompressWindowBits: 10}, []string{"permessage-deflate; server_no_context_takeover"}, &Deflate{WindowBits: 10}, ""},
		{"client window repeated", noCtx, []string{"permessage-deflate; server_no_context_takeover; client_max_window_bits=9; client_max_window_bits=9"}, nil, "repeated"},
		{"small server window without context", noCtx, []string{"permessage-deflate; server_no_context_takeover; server_max_window_bits=8"}, &Deflate{}, ""},
		{"server kept context it was asked not to", noCtx, []string{"permessage-deflate"}, nil, "context takeover"},
		{"server keeps context", ctx, []string{"permessage-deflate"}, &Deflate{PeerContextTakeover: true, PeerWindowBits: 15}, ""},
		{"server keeps context with a small window", ctx, []string{`permessage-deflate; server_max_window_bits="9"`}, &Deflate{PeerContextTakeover: true, PeerWindowBits: 9}, ""},
		{"server within the bound", ctx10, []string{"permessage-deflate; server_max_window_bits=10"}, &Deflate{PeerContextTakeover: true, PeerWindowBits: 10}, ""},
		{"server past the bound", ctx10, []string{"permessage-deflate; server_max_window_bits=11"}, nil, "window"},
		{"server with no bound answered", ctx10, []string{"permessage-deflate"}, nil, "window"},
		{"server took the fallback offer", ctx10, []string{"permessage-deflate; client_no_context_takeover; server_no_context_takeover"}, &Deflate{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := extResponse(t, tc.lines...)
			d, err := CheckExtensions(resp, tc.offer)
			if tc.reason != "" {
				var he *HandshakeError
				if !errors.As(err, &he) || he.Status != 101 || !strings.Contains(he.Reason, tc.reason) {
					t.Fatalf("CheckExtensions = %+v, %v; want a *HandshakeError about %q", d, err, tc.reason)
				}
				if d != nil {
					t.Errorf("parameters %+v returned with an error", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckExtensions: %v", err)
			}
			if (d == nil) != (tc.peer == nil) {
				t.Fatalf("parameters %+v, want %+v", d, tc.peer)
			}
			if d == nil {
				return
			}
			if d.PeerContextTakeover != tc.peer.PeerContextTakeover || d.PeerContextTakeover && d.PeerWindowBits != tc.peer.PeerWindowBits ||
				windowBits(d.WindowBits) != windowBits(tc.peer.WindowBits) {
				t.Errorf("parameters %+v, want %+v", d, tc.peer)
			}
		})
	}
}

// FuzzNegotiateDeflate checks that any offer either is declined or gets an
// answer that our client, offering the same, accepts.
func FuzzNegotiateDeflate(f *testing.F) {
	f.Add("permessage-deflate; client_max_window_bits", false, uint8(0))
	f.Add(`permessage-deflate; server_max_window_bits="15"; client_max_window_bits=9, permessage-deflate`, true, uint8(10))
	f.Add(`x, permessage-deflate; a="b\"c,d", permessage-deflate; client_no_context_takeover`, true, uint8(15))
	f.Add("permessage-deflate;;, ,permessage-deflate; server_no_context_takeover=", false, uint8(8))
	f.Fuzz(func(t *testing.T, offer string, takeover bool, bits uint8) {
		cfg := &DeflateConfig{ContextTakeover: takeover, MaxWindowBits: int(bits)}
		h := http.Header{"Sec-Websocket-Extensions": strings.Split(offer, "\n")}
		d, resp := NegotiateDeflate(h, cfg)
		if d == nil {
			if resp != "" {
				t.Fatalf("declined with response %q", resp)
			}
			return
		}
		exts := parseExtensions(extHeader(resp))
		if len(exts) != 1 || exts[0].bad || exts[0].name != deflateName {
			t.Fatalf("response %q does not parse as one permessage-deflate", resp)
		}
		if d.PeerContextTakeover && (!takeover || d.PeerWindowBits > windowBits(cfg.MaxWindowBits) || d.PeerWindowBits < 8) {
			t.Fatalf("takeover with window bits %d, config %+v", d.PeerWindowBits, cfg)
		}
		// The answer must be one a client that offered client_max_window_bits
		// and context takeover would accept, apart from that parameter.
		var kept []string
		for _, p := range strings.Split(resp, "; ") {
			if !strings.HasPrefix(p, paramClientMaxWindow) {
				kept = append(kept, p)
			}
		}
		if _, err := CheckExtensions(extResponse(t, strings.Join(kept, "; ")), &DeflateConfig{ContextTakeover: true}); err != nil {
			t.Fatalf("response %q: %v", resp, err)
		}
	})
}
