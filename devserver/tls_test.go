package devserver

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewCertificate(t *testing.T) {
	certPEM, keyPEM, err := NewCertificate("dev.example", "192.0.2.7", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("certificate PEM: %q", certPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("public key %T; want ECDSA", cert.PublicKey)
	}
	if got := strings.Join(cert.DNSNames, ","); got != "localhost,dev.example" {
		t.Errorf("DNS names %s; want localhost,dev.example", got)
	}
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	if got := strings.Join(ips, ","); got != "127.0.0.1,::1,192.0.2.7" {
		t.Errorf("IP addresses %s; want 127.0.0.1,::1,192.0.2.7", got)
	}
	now := time.Now()
	if now.Before(cert.NotBefore) || now.Add(300*24*time.Hour).After(cert.NotAfter) {
		t.Errorf("valid %v to %v; want from now for about a year", cert.NotBefore, cert.NotAfter)
	}

	// It verifies as a server certificate for each name, once trusted.
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "dev.example", "192.0.2.7"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots}); err == nil {
		t.Error("verifies for a name it was not made for")
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Errorf("key does not pair with the certificate: %v", err)
	}
}

func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadCertificate(t *testing.T) {
	certPEM, keyPEM, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string][]byte{
		"cert.pem":  certPEM,
		"key.pem":   keyPEM,
		"other.pem": otherKey,
		"junk.pem":  []byte("not PEM at all\n"),
	})
	p := func(name string) string { return filepath.Join(dir, name) }

	if _, err := LoadCertificate(p("cert.pem"), p("key.pem")); err != nil {
		t.Fatalf("good pair: %v", err)
	}

	tests := []struct {
		name      string
		cert, key string
		role      string
		file      string
		is        error
		mention   string
	}{
		{"missing certificate", "nope.pem", "key.pem", "certificate", "nope.pem", fs.ErrNotExist, "pistoke cert"},
		{"missing key", "cert.pem", "nope.pem", "key", "nope.pem", fs.ErrNotExist, "no such file"},
		{"swapped", "key.pem", "cert.pem", "certificate", "key.pem", ErrNoCertificate, "swapped"},
		{"key file holds a certificate", "cert.pem", "cert.pem", "key", "cert.pem", ErrNoPrivateKey, "swapped"},
		{"not PEM", "junk.pem", "key.pem", "certificate", "junk.pem", ErrNoCertificate, "CERTIFICATE"},
		{"wrong key", "cert.pem", "other.pem", "key", "other.pem", ErrKeyMismatch, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCertificate(p(tt.cert), p(tt.key))
			var fe *TLSFileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T); want *TLSFileError", err, err)
			}
			if fe.Role != tt.role || fe.File != p(tt.file) {
				t.Errorf("blames %s %s; want %s %s", fe.Role, fe.File, tt.role, p(tt.file))
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v; want errors.Is %v", err, tt.is)
			}
			msg := err.Error()
			if !strings.Contains(msg, p(tt.file)) || !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q should name %s and say %q", msg, p(tt.file), tt.mention)
			}
		})
	}
}

// A server using the certificate completes a handshake with a client that
// trusts it, for 127.0.0.1.
func TestNewCertificateServes(t *testing.T) {
	certPEM, keyPEM, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			c.Close()
		}
		done <- err
	}()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}
