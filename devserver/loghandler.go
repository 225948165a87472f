package devserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ColorMode says when a [LogHandler] colours its lines.
type ColorMode int

const (
	// ColorAuto colours when writing to a terminal, unless the NO_COLOR
	// environment variable is set to a non-empty value or TERM is "dumb".
	ColorAuto ColorMode = iota
	// ColorAlways colours whatever the output.
	ColorAlways
	// ColorNever never colours.
	ColorNever
)

// String returns "auto", "always" or "never", as [ParseColorMode] accepts.
func (m ColorMode) String() string {
	switch m {
	case ColorAlways:
		return "always"
	case ColorNever:
		return "never"
	}
	return "auto"
}

// ParseColorMode accepts "auto", "always" and "never" (and "" for auto).
func ParseColorMode(s string) (ColorMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return ColorAuto, nil
	case "always":
		return ColorAlways, nil
	case "never":
		return ColorNever, nil
	}
	return 0, fmt.Errorf("unknown colour mode %q: want auto, always or never", s)
}

// LogOptions configures [NewLogHandler]. The zero value logs at info and
// above, colours on a terminal and prints the time.
type LogOptions struct {
	// Level is the least level logged; nil means slog.LevelInfo.
	Level slog.Leveler
	// Color says when to colour.
	Color ColorMode
	// OmitTime leaves out the time at the start of each line, for output
	// compared in tests and examples.
	OmitTime bool
}

// LogHandler is a slog.Handler that writes one readable line per event,
// for a person watching a terminal: the time, the level, the message and
// the attributes as key=value. It knows the events of pistoke and of
// [LogRequests] and writes them as sentences:
//
//	14:02:11.315 INFO  GET /static/site.css 200 1.2KiB 412µs
//	14:02:11.402 INFO  WEBSOCKET /clock 101 912µs
//	14:02:19.870 INFO  socket closed /clock 1001 "going away" by server after 8.47s, 8 in (64B), 9 out (72B)
//
// Values spanning several lines, such as a panic's stack, follow their
// line indented. LogHandler is safe for concurrent use; use
// [NewLogHandler] to make one.
type LogHandler struct {
	shared *logShared
	attrs  []slog.Attr // from WithAttrs, keys qualified by their groups
	group  string      // prefix for keys, from WithGroup, ending in "."
}

type logShared struct {
	mu       sync.Mutex
	w        io.Writer
	level    slog.Leveler
	color    bool
	omitTime bool
}

// NewLogHandler returns a handler writing to w. A nil opts is the zero
// LogOptions.
func NewLogHandler(w io.Writer, opts *LogOptions) *LogHandler {
	var o LogOptions
	if opts != nil {
		o = *opts
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	return &LogHandler{shared: &logShared{
		w:        w,
		level:    o.Level,
		color:    useColor(o.Color, w),
		omitTime: o.OmitTime,
	}}
}

// useColor decides ColorAuto by looking at w and the environment.
func useColor(m ColorMode, w io.Writer) bool {
	switch m {
	case ColorAlways:
		return true
	case ColorNever:
		return false
	}
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Colored reports whether h colours its lines.
func (h *LogHandler) Colored() bool { return h.shared.color }

// Enabled reports whether level is at least the handler's level.
func (h *LogHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.shared.level.Level()
}

// WithAttrs returns a handler that adds attrs to every line.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.attrs = appendQualified(append([]slog.Attr(nil), h.attrs...), h.group, attrs)
	return &h2
}

// WithGroup returns a handler that qualifies the keys of later attributes
// with name, as in "name.key".
func (h *LogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group = h.group + name + "."
	return &h2
}

// appendQualified flattens attrs, prefixing keys with their groups, and
// drops empty ones as slog handlers should.
func appendQualified(dst []slog.Attr, prefix string, attrs []slog.Attr) []slog.Attr {
	for _, a := range attrs {
		a.Value = a.Value.Resolve()
		if a.Equal(slog.Attr{}) {
			continue
		}
		if a.Value.Kind() == slog.KindGroup {
			p := prefix
			if a.Key != "" {
				p += a.Key + "."
			}
			dst = appendQualified(dst, p, a.Value.Group())
			continue
		}
		a.Key = prefix + a.Key
		dst = append(dst, a)
	}
	return dst
}

// Handle writes r as one line, plus indented lines for multi-line values.
func (h *LogHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := append([]slog.Attr(nil), h.attrs...)
	var recAttrs []slog.Attr
	r.Attrs(func(a slog.Attr) bool {
		recAttrs = append(recAttrs, a)
		return true
	})
	attrs = appendQualified(attrs, h.group, recAttrs)

	s := h.shared
	l := &line{color: s.color, attrs: attrs, used: make([]bool, len(attrs))}
	if !s.omitTime && !r.Time.IsZero() {
		l.paint(dim, r.Time.Format("15:04:05.000"))
		l.buf = append(l.buf, ' ')
	}
	l.level(r.Level)
	l.buf = append(l.buf, ' ')
	if render, ok := events[r.Message]; ok {
		render(l)
	} else {
		l.text(r.Message)
	}
	l.rest()
	l.buf = append(l.buf, '\n')
	l.buf = append(l.buf, l.tail...)

	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(l.buf)
	return err
}

// ANSI colours.
const (
	reset   = "\x1b[0m"
	bold    = "\x1b[1m"
	dim     = "\x1b[2m"
	red     = "\x1b[31m"
	green   = "\x1b[32m"
	yellow  = "\x1b[33m"
	blue    = "\x1b[34m"
	magenta = "\x1b[35m"
	cyan    = "\x1b[36m"
	boldRed = "\x1b[1;31m"
)

// line builds one event's output. Renderers take attributes by key; those
// nobody took follow as key=value.
type line struct {
	buf   []byte
	tail  []byte // indented multi-line values, after the line
	color bool
	attrs []slog.Attr
	used  []bool
}

func (l *line) paint(code, s string) {
	if l.color && code != "" {
		l.buf = append(l.buf, code...)
		l.buf = append(l.buf, s...)
		l.buf = append(l.buf, reset...)
		return
	}
	l.buf = append(l.buf, s...)
}

func (l *line) text(s string) { l.buf = append(l.buf, s...) }

func (l *line) level(lv slog.Level) {
	var name, code string
	switch {
	case lv >= LevelCritical:
		name, code = "CRIT ", boldRed
	case lv >= slog.LevelError:
		name, code = "ERROR", red
	case lv >= slog.LevelWarn:
		name, code = "WARN ", yellow
	case lv >= slog.LevelInfo:
		name, code = "INFO ", green
	case lv >= slog.LevelDebug:
		name, code = "DEBUG", blue
	default:
		name, code = "TRACE", magenta
	}
	l.paint(code, name)
}

// take returns the value of the first attribute named key that nobody
// took yet, and marks it taken.
func (l *line) take(key string) (slog.Value, bool) {
	for i, a := range l.attrs {
		if !l.used[i] && a.Key == key {
			l.used[i] = true
			return a.Value, true
		}
	}
	return slog.Value{}, false
}

// word appends " " and the value of key, if present, in colour code.
func (l *line) word(key, code string) {
	if v, ok := l.take(key); ok {
		l.text(" ")
		l.paint(code, formatValue(v))
	}
}

func (l *line) int(key string) (int64, bool) {
	v, ok := l.take(key)
	if !ok {
		return 0, false
	}
	switch v.Kind() {
	case slog.KindInt64:
		return v.Int64(), true
	case slog.KindUint64:
		return int64(v.Uint64()), true
	}
	n, err := strconv.ParseInt(v.String(), 10, 64)
	return n, err == nil
}

func (l *line) str(key string) (string, bool) {
	v, ok := l.take(key)
	if !ok {
		return "", false
	}
	return formatValue(v), true
}

// status appends the HTTP status named key, coloured by its class.
func (l *line) status(key string) {
	if n, ok := l.int(key); ok {
		l.statusCode(n)
	}
}

func (l *line) statusCode(n int64) {
	var code string
	switch {
	case n < 200:
		code = cyan
	case n < 300:
		code = green
	case n < 400:
		code = cyan
	case n < 500:
		code = yellow
	default:
		code = red
	}
	l.text(" ")
	l.paint(code, strconv.FormatInt(n, 10))
}

// rest appends the attributes nobody took.
func (l *line) rest() {
	for i, a := range l.attrs {
		if l.used[i] {
			continue
		}
		if a.Value.Kind() == slog.KindString && strings.Contains(a.Value.String(), "\n") {
			l.block(a.Key, a.Value.String())
			continue
		}
		l.text(" ")
		l.paint(dim, a.Key+"=")
		l.text(quoteIfNeeded(formatValue(a.Value)))
	}
}

// block adds a multi-line value after the line, indented.
func (l *line) block(key, s string) {
	if l.color {
		l.tail = append(l.tail, dim...)
	}
	l.tail = append(l.tail, "    "...)
	l.tail = append(l.tail, key...)
	l.tail = append(l.tail, ":\n"...)
	for ln := range strings.Lines(strings.TrimRight(s, "\n")) {
		l.tail = append(l.tail, "      "...)
		l.tail = append(l.tail, strings.TrimRight(ln, "\n")...)
		l.tail = append(l.tail, '\n')
	}
	if l.color {
		l.tail = append(l.tail, reset...)
	}
}

// formatValue writes a value for a person: durations rounded, times as
// clock times, everything else as slog would.
func formatValue(v slog.Value) string {
	switch v.Kind() {
	case slog.KindDuration:
		return formatDuration(v.Duration())
	case slog.KindTime:
		return v.Time().Format("15:04:05.000")
	}
	return v.String()
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " =\"\t\r\n") || !strconv.CanBackquote(s) {
		return strconv.Quote(s)
	}
	return s
}

// formatDuration keeps three significant digits: 412µs, 12.3ms, 8.47s.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', decimals(d/time.Microsecond), 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', decimals(d/time.Millisecond), 64) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', decimals(d/time.Second), 64) + "s"
	}
	return d.Round(time.Second).String()
}

// decimals says how many decimals keep a number of whole units n at about
// three significant digits.
func decimals(n time.Duration) int {
	switch {
	case n < 10:
		return 2
	case n < 100:
		return 1
	}
	return 0
}

// formatSize writes a byte count: 312B, 1.2KiB, 3.4MiB.
func formatSize(n int64) string {
	switch {
	case n < 1024:
		return strconv.FormatInt(n, 10) + "B"
	case n < 1024*1024:
		return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + "KiB"
	}
	return strconv.FormatFloat(float64(n)/(1024*1024), 'f', 1, 64) + "MiB"
}
