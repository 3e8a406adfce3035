package policy

import "fmt"

// TLSFloor is the plugin's TLS floor: the lowest TLS version a request may
// arrive over. A listener that is misconfigured (plain HTTP, or TLS 1.0
// and 1.1 allowed) then cannot serve a request anyway: the gateway refuses
// it before any policy runs. The host reports the version the connection
// negotiated (Envoy: connection.tls_version); see CheckTLS.
type TLSFloor struct {
	// MinVersion is "1.2" or "1.3"; "" sets no floor.
	MinVersion string
	// AllowPlainText lets requests without TLS through (a plain listener
	// for health checks); TLS connections below MinVersion are still
	// refused.
	AllowPlainText bool
}

type tlsFloor struct {
	min        int // 12 or 13; 0: none
	plainText  bool
	required   *Program // answers a plain-text request
	tooOld     *Program // answers a request over an older TLS version
	configured bool
}

func compileTLSFloor(f TLSFloor) (tlsFloor, error) {
	var t tlsFloor
	switch f.MinVersion {
	case "":
		return t, nil
	case "1.2":
		t.min = 12
	case "1.3":
		t.min = 13
	default:
		return t, &ConfigError{Doc: "tls", Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("minVersion must be \"1.2\" or \"1.3\", not %q", abbreviate(f.MinVersion))}
	}
	t.configured, t.plainText = true, f.AllowPlainText
	message := "TLS " + f.MinVersion + " or higher is required."
	reject := func(reason string) *Program {
		return &Program{inbound: []statement{&rejectRequest{
			stmtMeta: stmtMeta{element: "tls", scope: "global"},
			reason:   reason, message: message, status: 403, body: errorBody(403, message),
		}}}
	}
	t.required, t.tooOld = reject("TlsRequired"), reject("TlsVersionNotAllowed")
	return t, nil
}

// CheckTLS returns nil when a request that arrived over version may go on,
// else the program that refuses it (403, before any policy). version is
// what Envoy's connection.tls_version reports: "TLSv1.2", "TLSv1.3", ...;
// "" for a plain-text connection. An unknown version is refused.
func (g *Gateway) CheckTLS(version string) *Program {
	t := &g.tls
	if !t.configured {
		return nil
	}
	if version == "" {
		if t.plainText {
			return nil
		}
		return t.required
	}
	if tlsVersion(version) < t.min {
		return t.tooOld
	}
	return nil
}

// tlsVersion reads BoringSSL's version names: 10 for "TLSv1", 11, 12, 13;
// 0 for anything else.
func tlsVersion(name string) int {
	switch name {
	case "TLSv1":
		return 10
	case "TLSv1.1":
		return 11
	case "TLSv1.2":
		return 12
	case "TLSv1.3":
		return 13
	}
	return 0
}
