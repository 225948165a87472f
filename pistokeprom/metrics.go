// Package pistokeprom exports what pistoke's handshakes and connections do
// as Prometheus metrics.
//
//	m := pistokeprom.New(pistokeprom.Opts{Registerer: prometheus.DefaultRegisterer})
//	app := pistoke.Handler(mux, pistoke.Options{Metrics: m})
//
// The metrics, with the default namespace:
//
//	pistoke_connections_open                      gauge
//	pistoke_handshakes_total{outcome}             counter
//	pistoke_messages_received_total{type}         counter
//	pistoke_messages_sent_total{type}             counter
//	pistoke_received_bytes_total                  counter (payload bytes)
//	pistoke_sent_bytes_total                      counter (payload bytes)
//	pistoke_closes_total{code,by}                 counter
//	pistoke_connection_duration_seconds           histogram
//	pistoke_send_dropped_total                    counter
//
// Every label takes a bounded set of values: outcomes and message types
// are pistoke's own, and the close code of a connection the client
// closed is reported only for the codes RFC 6455 defines (1000-1015);
// any other client code counts as "other", so that clients cannot create
// series at will. Paths, addresses and connection identities are never
// labels.
package pistokeprom

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pistoke/pistoke"
)

// DefaultNamespace prefixes every metric name when [Opts.Namespace] is
// empty.
const DefaultNamespace = "pistoke"

// DefaultDurationBuckets are the upper bounds, in seconds, of the
// connection duration histogram: from a tenth of a second, for sockets
// refused or dropped at once, to a day, for dashboards left open.
var DefaultDurationBuckets = []float64{
	0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400,
}

// Opts configures [New]. The zero value is ready to use.
type Opts struct {
	// Namespace prefixes every metric name; DefaultNamespace when empty.
	Namespace string

	// ConstLabels are added to every series, for example to tell apart
	// two handlers in one process: {"endpoint": "chat"}.
	ConstLabels prometheus.Labels

	// DurationBuckets replaces DefaultDurationBuckets.
	DurationBuckets []float64

	// Registerer, when set, has the metrics registered with it by New,
	// which panics if that fails, as prometheus.MustRegister does. When
	// nil, register the returned *Metrics yourself: it is a
	// prometheus.Collector.
	Registerer prometheus.Registerer
}

// Metrics implements [pistoke.Metrics] with Prometheus counters, a gauge
// and a histogram, and is itself a [prometheus.Collector] that collects
// them all. Create it with [New] and set it in [pistoke.Options.Metrics];
// its methods are safe for concurrent use.
type Metrics struct {
	open       prometheus.Gauge
	handshakes *prometheus.CounterVec
	outcomes   map[pistoke.HandshakeOutcome]prometheus.Counter

	received, sent             *prometheus.CounterVec
	receivedText, sentText     prometheus.Counter
	receivedBinary, sentBinary prometheus.Counter
	receivedBytes, sentBytes   prometheus.Counter

	closes   *prometheus.CounterVec
	duration prometheus.Histogram
	dropped  prometheus.Counter

	all []prometheus.Collector
}

var (
	_ pistoke.Metrics      = (*Metrics)(nil)
	_ prometheus.Collector = (*Metrics)(nil)
)

// outcomes lists the handshake outcomes whose series exist from the
// start, so that rate() and alerts see a zero rather than no data.
var outcomes = []pistoke.HandshakeOutcome{
	pistoke.HandshakeAccepted,
	pistoke.HandshakeBadRequest,
	pistoke.HandshakeOrigin,
	pistoke.HandshakeSubprotocol,
	pistoke.HandshakeRejected,
	pistoke.HandshakeOverloaded,
	pistoke.HandshakeDraining,
	pistoke.HandshakeFailed,
}

// New returns metrics configured by opts, registered with
// opts.Registerer when it is set.
func New(opts Opts) *Metrics {
	ns := opts.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	buckets := opts.DurationBuckets
	if buckets == nil {
		buckets = DefaultDurationBuckets
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help, ConstLabels: opts.ConstLabels})
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help, ConstLabels: opts.ConstLabels}, labels)
	}

	m := &Metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "connections_open", ConstLabels: opts.ConstLabels,
			Help: "WebSocket connections currently open.",
		}),
		handshakes: counterVec("handshakes_total", "WebSocket handshakes that reached the handler, by how they ended.", "outcome"),
		outcomes:   make(map[pistoke.HandshakeOutcome]prometheus.Counter, len(outcomes)),
		received:   counterVec("messages_received_total", "Data messages read from clients, by type.", "type"),
		sent:       counterVec("messages_sent_total", "Data messages written to clients, by type.", "type"),
		receivedBytes: counter("received_bytes_total",
			"Payload bytes of the data messages read from clients."),
		sentBytes: counter("sent_bytes_total",
			"Payload bytes of the data messages written to clients."),
		closes: counterVec("closes_total",
			`Connections ended, by close code and by who ended them (server, client or network). `+
				`Codes a client chose outside 1000-1015 count as "other".`, "code", "by"),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "connection_duration_seconds", ConstLabels: opts.ConstLabels,
			Help:    "How long WebSocket connections stayed open, from upgrade to end.",
			Buckets: buckets,
		}),
		dropped: counter("send_dropped_total",
			"Connections closed because they could not keep up with the messages sent to them."),
	}
	for _, o := range outcomes {
		m.outcomes[o] = m.handshakes.WithLabelValues(string(o))
	}
	// Resolved once, so that the per-message path does no label lookup.
	m.receivedText = m.received.WithLabelValues(pistoke.Text.String())
	m.receivedBinary = m.received.WithLabelValues(pistoke.Binary.String())
	m.sentText = m.sent.WithLabelValues(pistoke.Text.String())
	m.sentBinary = m.sent.WithLabelValues(pistoke.Binary.String())

	m.all = []prometheus.Collector{
		m.open, m.handshakes, m.received, m.sent, m.receivedBytes, m.sentBytes,
		m.closes, m.duration, m.dropped,
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(m)
	}
	return m
}

// Handshake counts a handshake by its outcome.
func (m *Metrics) Handshake(outcome pistoke.HandshakeOutcome) {
	if c, ok := m.outcomes[outcome]; ok {
		c.Inc()
		return
	}
	// An outcome added to pistoke after this package was built: still one
	// of a bounded set, so it gets a series of its own.
	m.handshakes.WithLabelValues(string(outcome)).Inc()
}

// Opened counts a connection as open.
func (m *Metrics) Opened() { m.open.Inc() }

// Closed counts a connection as ended, by close code and who ended it,
// and records how long it was open.
func (m *Metrics) Closed(info pistoke.CloseInfo) {
	m.open.Dec()
	m.closes.WithLabelValues(codeLabel(info), byLabel(info.By)).Inc()
	m.duration.Observe(info.Duration.Seconds())
}

// Received counts a data message read and its payload bytes.
func (m *Metrics) Received(typ pistoke.MessageType, n int) {
	switch typ {
	case pistoke.Text:
		m.receivedText.Inc()
	case pistoke.Binary:
		m.receivedBinary.Inc()
	default:
		m.received.WithLabelValues("other").Inc()
	}
	m.receivedBytes.Add(float64(n))
}

// Sent counts a data message written and its payload bytes.
func (m *Metrics) Sent(typ pistoke.MessageType, n int) {
	switch typ {
	case pistoke.Text:
		m.sentText.Inc()
	case pistoke.Binary:
		m.sentBinary.Inc()
	default:
		m.sent.WithLabelValues("other").Inc()
	}
	m.sentBytes.Add(float64(n))
}

// SendDropped counts a connection closed for falling behind.
func (m *Metrics) SendDropped() { m.dropped.Inc() }

// Describe sends the descriptions of every metric, for
// [prometheus.Collector].
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all {
		c.Describe(ch)
	}
}

// Collect sends the current value of every metric, for
// [prometheus.Collector].
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all {
		c.Collect(ch)
	}
}

// codeLabel is the close code as a label value. The server's own codes
// form a set bounded by the application's code; a client may send any of
// the thousands of codes 3000-4999, so only the ones RFC 6455 defines keep
// their number.
func codeLabel(info pistoke.CloseInfo) string {
	if (info.Code >= 1000 && info.Code <= 1015) || (info.By == "server" && info.Code > 0 && info.Code < 5000) {
		return strconv.Itoa(info.Code)
	}
	return "other"
}

// byLabel keeps the "by" label to pistoke's three values.
func byLabel(by string) string {
	switch by {
	case "server", "client", "network":
		return by
	}
	return "other"
}
