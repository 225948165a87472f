package harness

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"
)

// Options are the settings every harness has. A harness's configuration
// embeds them, next to what it measures.
type Options struct {
	Pin      bool          // pin the processes to CPUs (see Launcher.Pin)
	Profile  string        // directory for the servers' profiles, "" for none
	Quick    bool          // a smoke run: enough to go through every step, too little to mean anything
	Timeout  time.Duration // bound on each process
	Progress io.Writer     // where progress goes: the harness's stderr
}

// OptionsHelp are the help texts of the flags of Options that say what
// pinning, profiling and a smoke run are in one harness.
type OptionsHelp struct {
	Pin, Profile, Quick string
}

// AddFlags defines the flags of the Options on fs: -pin, -profile,
// -quick and -timeout.
func (o *Options) AddFlags(fs *flag.FlagSet, help OptionsHelp) {
	fs.BoolVar(&o.Pin, "pin", true, help.Pin)
	fs.StringVar(&o.Profile, "profile", "", help.Profile)
	fs.BoolVar(&o.Quick, "quick", false, help.Quick)
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "give up on a process that runs longer than this")
}

// Parse parses args with fs, on which AddFlags and the harness have
// defined their flags, and completes the Options: progress goes to
// fs.Output(), the program's stderr, and Profile becomes an absolute
// path, which every process of the run can write to whatever its working
// directory. With -quick, the flags named in quick that the command line
// did not set take the values there (see Preset). Parse returns the
// names of the flags the command line set. It reports its errors to
// fs.Output(), after the name of fs.
func (o *Options) Parse(fs *flag.FlagSet, args []string, quick map[string]any) (given map[string]bool, err error) {
	if err := fs.Parse(args); err != nil {
		return nil, err // the flag set has reported it
	}
	defer func() {
		if err != nil {
			fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		}
	}()
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	given = Given(fs)
	if o.Quick {
		if err := Preset(fs, quick); err != nil {
			return nil, err
		}
	}
	o.Progress = fs.Output()
	if o.Profile != "" {
		if o.Profile, err = filepath.Abs(o.Profile); err != nil {
			return nil, err
		}
	}
	return given, nil
}
