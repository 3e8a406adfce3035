package corpus

import (
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"

	"github.com/apimguard/apimguard/policy"
	"github.com/apimguard/apimguard/policy/clientcert"
)

// Connection is what the module learns of a case's connection: the TLS
// version it negotiated (as Envoy's connection.tls_version says it), the
// peer certificate's attributes and the x-forwarded-client-cert header
// Envoy sets from it ("" without a certificate).
type Connection struct {
	TLSVersion string
	Peer       policy.Peer
	XFCC       string
}

// Connection reads the case's TLS version and certificate. A case with a
// certificate and no tls speaks TLS 1.3, as a Go client to Envoy does.
func (r Request) Connection() (Connection, error) {
	var conn Connection
	switch r.TLS {
	case "":
		if strings.TrimSpace(r.Certificate) != "" {
			conn.TLSVersion = "TLSv1.3"
		}
	case "1.2", "1.3":
		conn.TLSVersion = "TLSv" + r.TLS
	default:
		return conn, fmt.Errorf("request.tls: want \"1.2\" or \"1.3\", not %q", r.TLS)
	}
	if strings.TrimSpace(r.Certificate) == "" {
		return conn, nil
	}
	chain, err := clientcert.ParseChain(r.Certificate)
	if err != nil || len(chain) == 0 {
		return Connection{}, fmt.Errorf("request.certificate: want PEM certificates (the client's first): %v", err)
	}
	c, err := clientcert.Parse(chain[0].Raw, chain[1:])
	if err != nil {
		return Connection{}, fmt.Errorf("request.certificate: %v", err)
	}
	conn.Peer = policy.Peer{SHA256: c.SHA256, Subject: c.Subject}
	if len(c.URIs) > 0 {
		conn.Peer.URISAN = c.URIs[0]
	}
	if len(c.DNSNames) > 0 {
		conn.Peer.DNSSAN = c.DNSNames[0]
	}
	leaf := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0].Raw}))
	conn.XFCC = clientcert.FormatXFCC(c.SHA256, leaf, r.Certificate)
	return conn, nil
}

// HeadersWith are the case's request headers as they reach the module: with
// x-forwarded-client-cert replaced (SANITIZE_SET) by the connection's, and
// a body's Content-Length, as the Envoy tier's HTTP/1.1 client sends it.
func (r Request) HeadersWith(conn Connection) [][2]string {
	var out [][2]string
	length := r.Body != ""
	for _, kv := range Pairs(r.Headers) {
		if kv[0] != "x-forwarded-client-cert" {
			out = append(out, kv)
		}
		if kv[0] == "content-length" || kv[0] == "transfer-encoding" {
			length = false
		}
	}
	if length {
		out = append(out, [2]string{"content-length", strconv.Itoa(len(r.Body))})
	}
	if conn.XFCC != "" {
		out = append(out, [2]string{"x-forwarded-client-cert", conn.XFCC})
	}
	return out
}
