package pistokeprom_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/pistokeprom"
)

func TestFreshMetricsShowZeroSeries(t *testing.T) {
	m := pistokeprom.New(pistokeprom.Opts{})
	want := exposition("pistoke", "connections_open", ` 0`) +
		handshakes(nil) +
		messages("received", 0, 0) +
		messages("sent", 0, 0) +
		exposition("pistoke", "send_dropped_total", ` 0`)
	if err := testutil.CollectAndCompare(m, strings.NewReader(want),
		"pistoke_connections_open", "pistoke_handshakes_total",
		"pistoke_messages_received_total", "pistoke_messages_sent_total",
		"pistoke_send_dropped_total"); err != nil {
		t.Error(err)
	}
	// No connection has closed, so there is no close code to show yet.
	if n := testutil.CollectAndCount(m, "pistoke_closes_total"); n != 0 {
		t.Errorf("pistoke_closes_total has %d series before any close; want 0", n)
	}
}

func TestCountsAConversation(t *testing.T) {
	m := pistokeprom.New(pistokeprom.Opts{})
	m.Handshake(pistoke.HandshakeAccepted)
	m.Handshake(pistoke.HandshakeAccepted)
	m.Handshake(pistoke.HandshakeOrigin)
	m.Opened()
	m.Opened()
	m.Received(pistoke.Text, 5)
	m.Received(pistoke.Text, 7)
	m.Received(pistoke.Binary, 100)
	m.Sent(pistoke.Text, 3)
	m.Sent(pistoke.Binary, 1000)
	m.Sent(pistoke.Binary, 24)
	m.SendDropped()
	m.Closed(pistoke.CloseInfo{Code: pistoke.CloseNormal, By: "client", Duration: 2 * time.Second})

	for _, c := range []struct {
		name string
		want float64
	}{
		{"pistoke_connections_open", 1},
		{"pistoke_send_dropped_total", 1},
		{"pistoke_received_bytes_total", 112},
		{"pistoke_sent_bytes_total", 1027},
	} {
		if got := value(t, m, c.name); got != c.want {
			t.Errorf("%s = %v; want %v", c.name, got, c.want)
		}
	}

	want := handshakes(map[string]int{"accepted": 2, "origin": 1}) +
		messages("received", 2, 1) +
		messages("sent", 1, 2) +
		exposition("pistoke", "closes_total", `{by="client",code="1000"} 1`) +
		exposition("pistoke", "connection_duration_seconds", `_bucket{le="0.1"} 0`, `_bucket{le="0.5"} 0`, `_bucket{le="1"} 0`, `_bucket{le="5"} 1`, `_bucket{le="10"} 1`, `_bucket{le="30"} 1`, `_bucket{le="60"} 1`, `_bucket{le="120"} 1`, `_bucket{le="300"} 1`, `_bucket{le="600"} 1`, `_bucket{le="1800"} 1`, `_bucket{le="3600"} 1`, `_bucket{le="7200"} 1`, `_bucket{le="14400"} 1`, `_bucket{le="43200"} 1`, `_bucket{le="86400"} 1`, `_bucket{le="+Inf"} 1`, `_sum 2`, `_count 1`)
	if err := testutil.CollectAndCompare(m, strings.NewReader(want),
		"pistoke_handshakes_total", "pistoke_messages_received_total", "pistoke_messages_sent_total",
		"pistoke_closes_total", "pistoke_connection_duration_seconds"); err != nil {
		t.Error(err)
	}
}

func TestCloseCodeLabels(t *testing.T) {
	for _, c := range []struct {
		code int
		by   string
		want string // the code label
	}{
		{1000, "client", "1000"},
		{1001, "client", "1001"},
		{1006, "network", "1006"},
		{1015, "client", "1015"},
		{1016, "client", "other"},
		{999, "client", "other"},
		{3000, "client", "other"},
		{4403, "client", "other"},
		// The server's own codes are the application's choices.
		{4403, "server", "4403"},
		{3001, "server", "3001"},
		{1011, "server", "1011"},
		{0, "server", "other"},
		{70000, "server", "other"},
	} {
		m := pistokeprom.New(pistokeprom.Opts{})
		m.Opened()
		m.Closed(pistoke.CloseInfo{Code: c.code, By: c.by})
		if n := value(t, m, "pistoke_closes_total", "by", c.by); n != 1 {
			t.Errorf("code %d by %s: closes_total = %v; want 1", c.code, c.by, n)
		}
		got := labelValues(t, m, "pistoke_closes_total", "code")
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("code %d by %s: code label %q; want [%q]", c.code, c.by, got, c.want)
		}
	}
}

func TestClientCloseCodesDoNotCreateSeries(t *testing.T) {
	m := pistokeprom.New(pistokeprom.Opts{})
	for code := 4000; code < 5000; code++ {
		m.Opened()
		m.Closed(pistoke.CloseInfo{Code: code, By: "client"})
	}
	if n := testutil.CollectAndCount(m, "pistoke_closes_total"); n != 1 {
		t.Fatalf("1000 distinct client close codes made %d series; want 1", n)
	}
	want := exposition("pistoke", "closes_total", `{by="client",code="other"} 1000`)
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "pistoke_closes_total"); err != nil {
		t.Error(err)
	}
}

func TestUnknownValuesStayBounded(t *testing.T) {
	m := pistokeprom.New(pistokeprom.Opts{})
	m.Closed(pistoke.CloseInfo{Code: 1000, By: "someone"})
	if got := labelValues(t, m, "pistoke_closes_total", "by"); len(got) != 1 || got[0] != "other" {
		t.Errorf("by label for an unknown closer: %q; want [other]", got)
	}
	for i := range 10 {
		m.Received(pistoke.MessageType(100+i), 1)
	}
	if got := labelValues(t, m, "pistoke_messages_received_total", "type"); strings.Join(got, ",") != "binary,other,text" {
		t.Errorf("type labels after unknown message types: %q; want [binary other text]", got)
	}
	m.Handshake("later_outcome")
	if got := value(t, m, "pistoke_handshakes_total", "outcome", "later_outcome"); got != 1 {
		t.Errorf("handshakes_total{outcome=later_outcome} = %v; want 1", got)
	}
}

func TestNamespaceAndConstLabels(t *testing.T) {
	m := pistokeprom.New(pistokeprom.Opts{
		Namespace:       "chat",
		ConstLabels:     prometheus.Labels{"endpoint": "lobby"},
		DurationBuckets: []float64{1, 10},
	})
	m.Opened()
	m.Closed(pistoke.CloseInfo{Code: 1000, By: "server", Duration: 3 * time.Second})
	want := exposition("chat", "connection_duration_seconds", `_bucket{endpoint="lobby",le="1"} 0`, `_bucket{endpoint="lobby",le="10"} 1`, `_bucket{endpoint="lobby",le="+Inf"} 1`, `_sum{endpoint="lobby"} 3`, `_count{endpoint="lobby"} 1`) +
		exposition("chat", "closes_total", `{by="server",code="1000",endpoint="lobby"} 1`)
	if err := testutil.CollectAndCompare(m, strings.NewReader(want),
		"chat_connection_duration_seconds", "chat_closes_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m, "pistoke_connections_open"); n != 0 {
		t.Errorf("the default namespace is still used with Namespace set: %d series", n)
	}
}

func TestRegisterer(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := pistokeprom.New(pistokeprom.Opts{Registerer: reg})
	m.Opened()
	m.Closed(pistoke.CloseInfo{Code: 1000, By: "client", Duration: time.Second})
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering from a pedantic registry: %v", err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	want := "pistoke_closes_total pistoke_connection_duration_seconds pistoke_connections_open " +
		"pistoke_handshakes_total pistoke_messages_received_total pistoke_messages_sent_total " +
		"pistoke_received_bytes_total pistoke_send_dropped_total pistoke_sent_bytes_total"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("registered metrics:\n%s\nwant:\n%s", got, want)
	}

	// A second set under the same names must be refused, not merged.
	defer func() {
		if recover() == nil {
			t.Error("registering a second Metrics with the same names did not panic")
		}
	}()
	pistokeprom.New(pistokeprom.Opts{Registerer: reg})
}

func TestNoRegistererRegistersNothing(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := pistokeprom.New(pistokeprom.Opts{})
	if families, _ := reg.Gather(); len(families) != 0 {
		t.Fatalf("a registry not passed to New has %d families", len(families))
	}
	if err := reg.Register(m); err != nil {
		t.Fatalf("registering Metrics as a collector: %v", err)
	}
}

func TestFollowsNamingConventions(t *testing.T) {
	m := pistokeprom.New(pistokeprom.Opts{})
	m.Opened()
	m.Closed(pistoke.CloseInfo{Code: 1000, By: "client"})
	problems, err := testutil.CollectAndLint(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func BenchmarkReceived(b *testing.B) {
	m := pistokeprom.New(pistokeprom.Opts{})
	b.ReportAllocs()
	for b.Loop() {
		m.Received(pistoke.Text, 1024)
	}
}

// BenchmarkReceivedParallel measures the cost when every core counts
// messages at once, as a busy server does.
func BenchmarkReceivedParallel(b *testing.B) {
	m := pistokeprom.New(pistokeprom.Opts{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Received(pistoke.Binary, 1024)
		}
	})
}

// value returns the value of the series of name whose labels include
// labels, failing the test unless exactly one matches.
func value(t *testing.T, m *pistokeprom.Metrics, name string, labels ...string) float64 {
	t.Helper()
	var found []float64
	for _, s := range series(t, m, name) {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && have[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case s.Counter != nil:
			found = append(found, s.Counter.GetValue())
		case s.Gauge != nil:
			found = append(found, s.Gauge.GetValue())
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%q: %d matching series; want 1", name, labels, len(found))
	}
	return found[0]
}

// series gathers the series of m's metric called name.
func series(t *testing.T, m *pistokeprom.Metrics, name string) []*dto.Metric {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()
		}
	}
	return nil
}

// labelValues returns the values label takes in the series of name, in
// order.
func labelValues(t *testing.T, m *pistokeprom.Metrics, name, label string) []string {
	t.Helper()
	var values []string
	for _, s := range series(t, m, name) {
		for _, l := range s.GetLabel() {
			if l.GetName() == label {
				values = append(values, l.GetValue())
			}
		}
	}
	return values
}
