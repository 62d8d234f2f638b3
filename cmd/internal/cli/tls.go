package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"github.com/topicrpc/topicrpc/adapters/amqp"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/spf13/pflag"
)

// tlsOptions are the TLS flags both programs take. They configure amqps://
// connections and an https:// management URL; without any of them, Go's
// system roots verify the broker and no client certificate is sent (the
// URL's own cacertfile, certfile, keyfile and server_name_indication
// parameters, which amqp091-go reads, then still apply).
type tlsOptions struct {
	ca, cert, key, serverName string
}

func (t *tlsOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&t.ca, "tls-ca", "", "PEM file of the CA certificates that verify the broker (amqps://, https://); default the system's")
	f.StringVar(&t.cert, "tls-cert", "", "PEM file of the client certificate, for brokers that verify peers (with --tls-key)")
	f.StringVar(&t.key, "tls-key", "", "PEM file of the client certificate's private key (with --tls-cert)")
	f.StringVar(&t.serverName, "tls-server-name", "", "name the broker's certificate must hold; default the URL's host")
}

// set reports whether any TLS flag was given.
func (t *tlsOptions) set() bool {
	return t.ca != "" || t.cert != "" || t.key != "" || t.serverName != ""
}

// config builds the TLS configuration the flags describe, nil when none is
// given. Every mistake (a file that cannot be read or holds no PEM data, a
// certificate without its key, TLS flags with a URL that does not use TLS)
// is a usage error naming the flag; key material never appears in it.
func (t *tlsOptions) config(rawURL, managementURL string) (*tls.Config, error) {
	if !t.set() {
		return nil, nil
	}
	if !usesTLS(rawURL, "amqps") && !usesTLS(managementURL, "https") {
		return nil, usageError("--tls-* flags need a TLS URL: amqps://host:5671/ (or an https:// --management-url)")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.serverName}
	if t.ca != "" {
		pem, err := os.ReadFile(t.ca)
		if err != nil {
			return nil, usageError("--tls-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageError("--tls-ca %s: no PEM certificate in it", t.ca)
		}
		cfg.RootCAs = pool
	}
	switch {
	case t.cert != "" && t.key == "":
		return nil, usageError("--tls-cert %s needs --tls-key: the client certificate's private key", t.cert)
	case t.key != "" && t.cert == "":
		return nil, usageError("--tls-key %s needs --tls-cert: the client certificate", t.key)
	case t.cert != "":
		for _, f := range []struct{ flag, path string }{{"--tls-cert", t.cert}, {"--tls-key", t.key}} {
			if _, err := os.Stat(f.path); err != nil {
				return nil, usageError("%s: %v", f.flag, err)
			}
		}
		pair, err := tls.LoadX509KeyPair(t.cert, t.key)
		if err != nil {
			return nil, usageError("--tls-cert %s, --tls-key %s: %v", t.cert, t.key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// usesTLS reports whether rawURL, or one URL of a list of them (a
// cluster's nodes, see amqp.SplitURLs), has the given scheme.
func usesTLS(rawURL, scheme string) bool {
	for _, one := range amqp.SplitURLs(rawURL) {
		if u, err := url.Parse(one); err == nil && u.Scheme == scheme {
			return true
		}
	}
	return false
}

// tlsHint says what to do about the TLS failures a broker connection
// commonly meets; it returns "" for other errors. amqps tells whether the
// connection used TLS, clientCert whether it offered a certificate.
func tlsHint(err error, amqps, clientCert bool) string {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var ae *amqp091.Error
	msg := err.Error()
	// With TLS 1.3 the broker refuses a client certificate after the
	// client's side of the handshake is done: the refusal may then show as
	// the connection closing while AMQP sets up.
	closed := errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || strings.Contains(msg, "use of closed network connection") ||
		(errors.As(err, &ae) && ae.Code == amqp091.ChannelError)
	switch {
	case errors.As(err, &unknown):
		return "the broker's certificate is not signed by a CA this side trusts: give that CA with --tls-ca"
	case errors.As(err, &hostname):
		return "the broker's certificate names another host: connect by that name or set --tls-server-name"
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "that port does not speak TLS: use amqp://, or the broker's TLS port (usually 5671)"
	case !amqps && strings.Contains(msg, "frame_max"):
		return "is that the broker's TLS port? then use amqps://"
	case !amqps:
		return ""
	case clientCert && (closed || strings.Contains(msg, "remote error: tls:")):
		return "the broker refused the TLS connection: is the client certificate signed by a CA the broker trusts, and made for client authentication?"
	case closed || strings.Contains(msg, "remote error: tls:"):
		return "the broker refused the TLS connection: it may want a client certificate (--tls-cert, --tls-key)"
	}
	return ""
}
