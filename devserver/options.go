package devserver

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// DefaultAddr is where the dev server listens unless told otherwise:
// loopback only, since a development server should not be reachable from
// the network by accident.
const DefaultAddr = "127.0.0.1:8000"

// Options configures [Serve]. The zero value serves on DefaultAddr over
// plain HTTP, without static files, logging at info to standard error.
type Options struct {
	// Addr is the host:port to listen on; "" means DefaultAddr. Port 0
	// picks a free port, which the listening line shows.
	Addr string

	// StaticDir, when set, is a directory served under StaticPrefix
	// before the application sees the request (see [StaticHandler]).
	StaticDir string
	// StaticPrefix is the URL path of StaticDir; "" means
	// DefaultStaticPrefix.
	StaticPrefix string

	// TLSCert and TLSKey name PEM files of a certificate and its key;
	// with both set the server speaks HTTPS (see [LoadCertificate]).
	TLSCert, TLSKey string
	// TLSSelfSigned serves HTTPS with a certificate made at start for
	// localhost (see [NewCertificate]); browsers warn about it once.
	TLSSelfSigned bool

	// Level is the verbosity: the least level logged. The zero value is
	// info; see [ParseVerbosity] for the names of the others.
	Level slog.Level
	// Color says when log lines are coloured.
	Color ColorMode
	// Logger, when set, receives the server's events instead of a
	// [LogHandler] on standard error built from Level and Color; while
	// Serve runs, so do the records logged to slog's default logger,
	// pistoke's events among them (see [Serve]).
	Logger *slog.Logger

	// Stdout receives the line announcing the server's address once it
	// listens; nil means os.Stdout.
	Stdout io.Writer

	// DrainTimeout bounds how long a stop waits for sockets to close
	// after sending them 1001; 0 means 5 seconds.
	DrainTimeout time.Duration
}

// The environment variables read by [Options.LoadEnv] and written by
// [Options.Environ], one per setting.
const (
	EnvAddr          = "PISTOKE_ADDR"
	EnvStatic        = "PISTOKE_STATIC"
	EnvStaticPrefix  = "PISTOKE_STATIC_PREFIX"
	EnvTLSCert       = "PISTOKE_TLS_CERT"
	EnvTLSKey        = "PISTOKE_TLS_KEY"
	EnvTLSSelfSigned = "PISTOKE_TLS_SELF_SIGNED"
	EnvVerbosity     = "PISTOKE_VERBOSITY"
	EnvColor         = "PISTOKE_COLOR"
)

// LoadEnv sets the fields named by the PISTOKE_* environment variables
// that are set and not empty, leaving the others as they are. It is how
// a program run by the pistoke command learns its settings. A value that
// does not parse gives an error naming the variable.
func (o *Options) LoadEnv() error {
	str := func(name string, dst *string) {
		if v := os.Getenv(name); v != "" {
			*dst = v
		}
	}
	str(EnvAddr, &o.Addr)
	str(EnvStatic, &o.StaticDir)
	str(EnvStaticPrefix, &o.StaticPrefix)
	str(EnvTLSCert, &o.TLSCert)
	str(EnvTLSKey, &o.TLSKey)
	if v := os.Getenv(EnvTLSSelfSigned); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s=%q: want true or false", EnvTLSSelfSigned, v)
		}
		o.TLSSelfSigned = b
	}
	if v := os.Getenv(EnvVerbosity); v != "" {
		l, err := ParseVerbosity(v)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvVerbosity, err)
		}
		o.Level = l
	}
	if v := os.Getenv(EnvColor); v != "" {
		m, err := ParseColorMode(v)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvColor, err)
		}
		o.Color = m
	}
	return nil
}

// Environ returns the settings of o as PISTOKE_* environment variables,
// in the form of os.Environ, for a child process whose main calls [Main]
// (or [Options.LoadEnv]). Settings at their zero value are left out.
func (o Options) Environ() []string {
	var env []string
	add := func(name, v string) {
		if v != "" {
			env = append(env, name+"="+v)
		}
	}
	add(EnvAddr, o.Addr)
	add(EnvStatic, o.StaticDir)
	add(EnvStaticPrefix, o.StaticPrefix)
	add(EnvTLSCert, o.TLSCert)
	add(EnvTLSKey, o.TLSKey)
	if o.TLSSelfSigned {
		add(EnvTLSSelfSigned, "true")
	}
	if o.Level != slog.LevelInfo {
		add(EnvVerbosity, verbosityName(o.Level))
	}
	if o.Color != ColorAuto {
		add(EnvColor, o.Color.String())
	}
	return env
}

// RegisterFlags defines the dev server's flags on fs, with o's fields as
// their defaults and destinations: -addr, -static, -static-prefix,
// -tls-cert, -tls-key, -tls-self-signed, -v and -color. Programs with
// flags of their own use it instead of [Main]:
//
//	var o devserver.Options
//	if err := o.LoadEnv(); err != nil { ... }
//	o.RegisterFlags(flag.CommandLine)
//	flag.Parse()
//	err := devserver.Serve(ctx, app, o)
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.StaticPrefix == "" {
		o.StaticPrefix = DefaultStaticPrefix
	}
	fs.StringVar(&o.Addr, "addr", o.Addr, "`host:port` to listen on (port 0 picks a free port)")
	fs.StringVar(&o.StaticDir, "static", o.StaticDir, "`directory` of static files, served before the application and never cached")
	fs.StringVar(&o.StaticPrefix, "static-prefix", o.StaticPrefix, "URL `path` under which -static is served")
	fs.StringVar(&o.TLSCert, "tls-cert", o.TLSCert, "PEM certificate `file` (with -tls-key: serve HTTPS)")
	fs.StringVar(&o.TLSKey, "tls-key", o.TLSKey, "PEM private key `file` of -tls-cert")
	fs.BoolVar(&o.TLSSelfSigned, "tls-self-signed", o.TLSSelfSigned, "serve HTTPS with a certificate made at start for localhost (browsers warn once)")
	fs.Var((*levelFlag)(&o.Level), "v", "verbosity: 0-3 or critical, error, warning, info, debug, trace")
	fs.Var((*colorFlag)(&o.Color), "color", "colour log lines: auto, always or never (NO_COLOR disables auto)")
}

// levelFlag is a verbosity as a flag.Value.
type levelFlag slog.Level

func (f *levelFlag) String() string { return verbosityName(slog.Level(*f)) }

func (f *levelFlag) Set(s string) error {
	l, err := ParseVerbosity(s)
	if err != nil {
		return err
	}
	*f = levelFlag(l)
	return nil
}

// colorFlag is a ColorMode as a flag.Value.
type colorFlag ColorMode

func (f *colorFlag) String() string { return ColorMode(*f).String() }

func (f *colorFlag) Set(s string) error {
	m, err := ParseColorMode(s)
	if err != nil {
		return err
	}
	*f = colorFlag(m)
	return nil
}
