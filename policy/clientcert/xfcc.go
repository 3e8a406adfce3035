package clientcert

import (
	"errors"
	"net/url"
	"strings"
)

// Element is one element of Envoy's x-forwarded-client-cert header: the
// certificate one hop saw. Only the keys the gateway uses are kept.
type Element struct {
	Hash    string // lower-case hex SHA-256 of the certificate's DER
	Cert    string // the URL-decoded PEM certificate
	Chain   string // the URL-decoded PEM chain, leaf first
	Subject string
}

// ParseXFCC reads an x-forwarded-client-cert header: elements separated by
// ',', key=value pairs by ';', values optionally double-quoted (with \"
// inside). Keys are case-insensitive; an unknown key is skipped; a
// duplicate key, an unclosed quote or more than MaxElements elements is
// an error.
func ParseXFCC(h string) ([]Element, error) {
	if len(h) > MaxHeader {
		return nil, errors.New("x-forwarded-client-cert is longer than allowed")
	}
	var out []Element
	var el Element
	seen := map[string]bool{}
	i := 0
	for {
		for i < len(h) && (h[i] == ' ' || h[i] == '\t') {
			i++
		}
		eq := strings.IndexByte(h[i:], '=')
		if eq < 0 {
			return nil, errors.New("x-forwarded-client-cert: a pair has no '='")
		}
		key := strings.ToLower(strings.TrimSpace(h[i : i+eq]))
		i += eq + 1
		var val string
		if i < len(h) && h[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < len(h) {
				c := h[i]
				if c == '\\' && i+1 < len(h) {
					b.WriteByte(h[i+1])
					i += 2
					continue
				}
				i++
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, errors.New("x-forwarded-client-cert: a quoted value is not closed")
			}
			val = b.String()
		} else {
			end := strings.IndexAny(h[i:], ";,")
			if end < 0 {
				end = len(h) - i
			}
			val = strings.TrimSpace(h[i : i+end])
			i += end
		}
		if seen[key] {
			return nil, errors.New("x-forwarded-client-cert: duplicate key " + quoteKey(key))
		}
		seen[key] = true
		var err error
		switch key {
		case "hash":
			el.Hash = strings.ToLower(val)
		case "cert":
			el.Cert, err = url.PathUnescape(val)
		case "chain":
			el.Chain, err = url.PathUnescape(val)
		case "subject":
			el.Subject = val
		}
		if err != nil {
			return nil, errors.New("x-forwarded-client-cert: " + key + " is not URL-encoded")
		}
		for i < len(h) && (h[i] == ' ' || h[i] == '\t') {
			i++
		}
		if i == len(h) {
			return append(out, el), nil
		}
		switch h[i] {
		case ';':
		case ',':
			if out = append(out, el); len(out) == MaxElements {
				return nil, errors.New("x-forwarded-client-cert has too many elements")
			}
			el, seen = Element{}, map[string]bool{}
		default:
			return nil, errors.New("x-forwarded-client-cert: unexpected text after a quoted value")
		}
		i++
	}
}

func quoteKey(k string) string {
	if len(k) > 20 {
		k = k[:20]
	}
	return `"` + k + `"`
}

// FormatXFCC writes a one-element x-forwarded-client-cert value as Envoy
// does with set_current_client_cert_details cert and chain: the digest,
// (when known) the URL-encoded PEM certificate and chain (apimguard test builds the
// header of a case's certificate with it).
func FormatXFCC(sha256Hex, certPEM, chainPEM string) string {
	v := `Cert="` + url.PathEscape(certPEM) + `"`
	if sha256Hex != "" {
		v = "Hash=" + sha256Hex + ";" + v
	}
	if chainPEM != "" {
		v += `;Chain="` + url.PathEscape(chainPEM) + `"`
	}
	return v
}
