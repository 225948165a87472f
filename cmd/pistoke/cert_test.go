package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pistoke/pistoke/devserver"
)

func TestCertCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var stdout, stderr bytes.Buffer
	if code := command([]string{"cert", "-dir", dir, "-host", "dev.test, 10.0.0.5"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr.String())
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if !strings.Contains(stdout.String(), "-tls-cert "+certFile) {
		t.Errorf("output %q does not say how to use the files", stdout.String())
	}
	if _, err := devserver.LoadCertificate(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cert.DNSNames, "localhost") || !slices.Contains(cert.DNSNames, "dev.test") {
		t.Errorf("DNS names %q", cert.DNSNames)
	}
	if len(cert.IPAddresses) != 3 || cert.IPAddresses[2].String() != "10.0.0.5" {
		t.Errorf("IP addresses %v; want 127.0.0.1, ::1 and 10.0.0.5", cert.IPAddresses)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}

	// Existing files stay unless -force.
	stderr.Reset()
	if code := command([]string{"cert", "-dir", dir}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "-force") {
		t.Errorf("second run: exit status %d, %q; want 1 and a hint about -force", code, stderr.String())
	}
	after, _ := os.ReadFile(certFile)
	if !bytes.Equal(after, data) {
		t.Error("the certificate was replaced without -force")
	}
	if code := command([]string{"cert", "-dir", dir, "-force"}, &stdout, &stderr); code != 0 {
		t.Errorf("-force: exit status %d", code)
	}
}
