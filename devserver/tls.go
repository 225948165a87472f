package devserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// Errors wrapped by a [*TLSFileError], for errors.Is.
var (
	// ErrNoCertificate: the certificate file holds no PEM CERTIFICATE block.
	ErrNoCertificate = errors.New("no PEM CERTIFICATE block found")
	// ErrNoPrivateKey: the key file holds no PEM private key block.
	ErrNoPrivateKey = errors.New("no PEM PRIVATE KEY block found")
	// ErrKeyMismatch: the key is not the one the certificate was made for.
	ErrKeyMismatch = errors.New("the private key does not match the certificate's public key")
)

// TLSFileError reports a certificate or key file that cannot be used,
// naming the file and saying what is wrong with it.
type TLSFileError struct {
	Role string // "certificate" or "key"
	File string // the path as given
	Hint string // what to try, if anything
	Err  error  // the cause: an *fs.PathError, ErrNoCertificate, ErrKeyMismatch...
}

// Error says which file is at fault, what is wrong and, when it can, what
// to do.
func (e *TLSFileError) Error() string {
	msg := fmt.Sprintf("TLS %s file %s: %v", e.Role, e.File, e.Err)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// Unwrap returns the cause.
func (e *TLSFileError) Unwrap() error { return e.Err }

// LoadCertificate reads a PEM certificate (chain) and its private key, as
// tls.LoadX509KeyPair does, with errors a person can act on: a
// [*TLSFileError] naming the file at fault, wrapping the file system's
// error or one of ErrNoCertificate, ErrNoPrivateKey and ErrKeyMismatch.
func LoadCertificate(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		e := &TLSFileError{Role: "certificate", File: certFile, Err: err}
		if errors.Is(err, fs.ErrNotExist) {
			e.Hint = "make a development certificate with: pistoke cert"
		}
		return tls.Certificate{}, e
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, &TLSFileError{Role: "key", File: keyFile, Err: err}
	}

	certDER, certHas := firstBlock(certPEM, func(t string) bool { return t == "CERTIFICATE" })
	if certDER == nil {
		e := &TLSFileError{Role: "certificate", File: certFile, Err: ErrNoCertificate}
		if strings.Contains(certHas, "PRIVATE KEY") {
			e.Hint = "it holds a private key: are the certificate and key files swapped?"
		}
		return tls.Certificate{}, e
	}
	leaf, err := x509.ParseCertificate(certDER)
	if err != nil {
		return tls.Certificate{}, &TLSFileError{Role: "certificate", File: certFile, Err: err}
	}
	keyDER, keyHas := firstBlock(keyPEM, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") })
	if keyDER == nil {
		e := &TLSFileError{Role: "key", File: keyFile, Err: ErrNoPrivateKey}
		if strings.Contains(keyHas, "CERTIFICATE") {
			e.Hint = "it holds a certificate: are the certificate and key files swapped?"
		}
		return tls.Certificate{}, e
	}
	key, err := parsePrivateKey(keyDER)
	if err != nil {
		return tls.Certificate{}, &TLSFileError{Role: "key", File: keyFile, Err: err}
	}
	pub, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return tls.Certificate{}, &TLSFileError{Role: "key", File: keyFile, Err: fmt.Errorf("unsupported key type %T", key)}
	}
	if eq, ok := pub.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(leaf.PublicKey) {
		return tls.Certificate{}, &TLSFileError{Role: "key", File: keyFile, Err: ErrKeyMismatch,
			Hint: "certificate " + certFile}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, &TLSFileError{Role: "certificate", File: certFile, Err: err}
	}
	return cert, nil
}

// firstBlock returns the bytes of the first PEM block whose type matches,
// and the types of all blocks seen, for error messages.
func firstBlock(data []byte, match func(string) bool) (der []byte, types string) {
	var seen []string
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, strings.Join(seen, ", ")
		}
		if match(b.Type) {
			return b.Bytes, ""
		}
		seen = append(seen, b.Type)
	}
}

// parsePrivateKey accepts the encodings tls.X509KeyPair accepts.
func parsePrivateKey(der []byte) (crypto.PrivateKey, error) {
	if key, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return key, nil
	}
	if key, err := x509.ParseECPrivateKey(der); err == nil {
		return key, nil
	}
	if key, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return key, nil
	}
	return nil, errors.New("the private key is not PKCS #8, SEC 1 (EC) or PKCS #1 (RSA)")
}

// CertificateValidity is how long a certificate from [NewCertificate]
// stays valid.
const CertificateValidity = 365 * 24 * time.Hour

// NewCertificate makes a self-signed ECDSA P-256 certificate and its
// private key, PEM encoded, for localhost, 127.0.0.1 and ::1 plus hosts
// (names or IP addresses). Use it for TLS in development only: no browser
// trusts it until told to, so the first visit shows a warning to accept
// (or the certificate must be added to the browser's or system's trust
// store).
func NewCertificate(hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"pistoke development"}, CommonName: "localhost"},
		NotBefore:             now.Add(-time.Hour), // tolerate a clock slightly behind
		NotAfter:              now.Add(CertificateValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch ip := net.ParseIP(h); {
		case h == "":
		case ip != nil:
			if !containsIP(tmpl.IPAddresses, ip) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		case !containsString(tmpl.DNSNames, h):
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

func containsIP(list []net.IP, ip net.IP) bool {
	for _, x := range list {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
