package tls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// authority is a certificate authority made up for the tests.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

// newAuthority makes a self-signed CA valid for a day.
func newAuthority(name string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, der: der}, nil
}

// issue signs a certificate for name: a server certificate for localhost and
// 127.0.0.1 when server is true, else a client certificate.
func (a *authority) issue(name string, server bool) (certDER []byte, key *ecdsa.PrivateKey, err error) {
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	return certDER, key, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

// pki is the files the tests use, in one directory.
type pki struct {
	ca                    string // the CA that signed the broker's and the client's certificates
	serverCert, serverKey string
	clientCert, clientKey string
	rogueCert, rogueKey   string // a client certificate from a CA the broker does not trust
}

// writePKI makes a CA, a server certificate for 127.0.0.1 and localhost, a
// client certificate, and a client certificate of another CA, as PEM files
// in dir readable by this user only (the broker runs as this user, see
// scripts/broker.sh).
func writePKI(dir string) (*pki, error) {
	ca, err := newAuthority("topicrpc test CA")
	if err != nil {
		return nil, err
	}
	rogue, err := newAuthority("rogue CA")
	if err != nil {
		return nil, err
	}
	p := &pki{
		ca:         filepath.Join(dir, "ca.pem"),
		serverCert: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server-key.pem"),
		clientCert: filepath.Join(dir, "client.pem"), clientKey: filepath.Join(dir, "client-key.pem"),
		rogueCert: filepath.Join(dir, "rogue.pem"), rogueKey: filepath.Join(dir, "rogue-key.pem"),
	}
	if err := writePEM(p.ca, "CERTIFICATE", ca.der); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		by        *authority
		name      string
		server    bool
		cert, key string
	}{
		{ca, "localhost", true, p.serverCert, p.serverKey},
		{ca, "topicrpc-client", false, p.clientCert, p.clientKey},
		{rogue, "topicrpc-client", false, p.rogueCert, p.rogueKey},
	} {
		der, key, err := c.by.issue(c.name, c.server)
		if err != nil {
			return nil, fmt.Errorf("issue %s: %w", c.cert, err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := writePEM(c.cert, "CERTIFICATE", der); err != nil {
			return nil, err
		}
		if err := writePEM(c.key, "PRIVATE KEY", keyDER); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}
