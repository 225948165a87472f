package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pistoke/pistoke/devserver"
)

// certCommand writes a self-signed development certificate and its key.
func certCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pistoke cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "`directory` to write cert.pem and key.pem to")
	hosts := fs.String("host", "", "comma-separated extra `names` and IP addresses, besides localhost, 127.0.0.1 and ::1")
	force := fs.Bool("force", false, "overwrite existing files")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: pistoke cert [-dir dir] [-host names] [-force]

Writes a self-signed ECDSA certificate (cert.pem) and its private key
(key.pem) for localhost, for use with:

	pistoke run -tls-cert cert.pem -tls-key key.pem

Browsers do not trust it: accept the warning once, or add cert.pem to the
browser's or the system's trusted certificates. For development only.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pistoke cert: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var extra []string
	for h := range strings.SplitSeq(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			extra = append(extra, h)
		}
	}
	certFile, keyFile, err := writeCertificate(*dir, extra, *force)
	if err != nil {
		fmt.Fprintf(stderr, "pistoke cert: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s and %s\nuse them with: pistoke run -tls-cert %s -tls-key %s\n", certFile, keyFile, certFile, keyFile)
	return 0
}

// writeCertificate writes cert.pem and key.pem in dir, refusing to
// replace existing files unless force is set. The key is readable by its
// owner only.
func writeCertificate(dir string, hosts []string, force bool) (certFile, keyFile string, err error) {
	certPEM, keyPEM, err := devserver.NewCertificate(hosts...)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !force {
		flags |= os.O_EXCL
		for _, f := range []string{certFile, keyFile} {
			if _, err := os.Stat(f); err == nil {
				return "", "", fmt.Errorf("%s already exists (use -force to replace it)", f)
			}
		}
	}
	if err := writeFile(keyFile, keyPEM, flags, 0o600); err != nil {
		return "", "", err
	}
	if err := writeFile(certFile, certPEM, flags, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func writeFile(name string, data []byte, flags int, perm os.FileMode) error {
	f, err := os.OpenFile(name, flags, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
