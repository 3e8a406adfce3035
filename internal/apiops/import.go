package apiops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
)

// Options change what Import writes.
type Options struct {
	// Image is the module's OCI image for the Istio WasmPlugin (default a
	// placeholder pinned by an all-zero digest, as the shipped manifests).
	Image string
	// Resolve maps a host of the bootstrap's clusters to the address:port
	// Envoy connects to instead (private DNS, tests); the TLS name stays the
	// host's.
	Resolve map[string]string
	// CAFile is the PEM bundle the bootstrap's clusters trust (default
	// /etc/ssl/certs/ca-certificates.crt).
	CAFile string
	// Dir names the tree in the outputs' headers.
	Dir string
}

// Result is what Import writes: the files by name and the report.
type Result struct {
	Files             map[string][]byte
	Documents, Loaded int
	Entries           []Entry
}

// Import converts a tree: the plugin configuration (plugin-config.json),
// an Envoy bootstrap (envoy.yaml), Istio manifests (istio.yaml) and the
// readiness report (report.txt, report.json).
func Import(t *Tree, opt Options) (*Result, error) {
	c := &converter{t: t}
	c.entries = append(c.entries, t.Notes...)
	c.build()
	loaded := c.check()
	cfg, err := marshal(c.cfg)
	if err != nil {
		return nil, err
	}
	// Every policy.xml of the tree counts, also those of APIs, revisions
	// and operations left out.
	res := &Result{Files: map[string][]byte{"plugin-config.json": cfg}, Documents: max(len(c.docs), t.PolicyFiles), Loaded: loaded}
	hosts := c.hosts()
	if len(hosts) > 0 {
		var names []string
		for _, h := range hosts {
			names = append(names, h.Scheme+"://"+h.Name+":"+strconv.Itoa(h.Port))
		}
		c.entries = append(c.entries, Entry{Kind: "decide", File: "(clusters)", Message: fmt.Sprintf("the gateway calls %d hosts: %s; envoy.yaml has a cluster for each (the plugin's name for it, outbound|PORT||HOST; TLS checked against the system's CAs) and istio.yaml a ServiceEntry: check that they are reachable from the gateway", len(hosts), strings.Join(names, ", "))})
	}
	sort.SliceStable(c.entries, func(i, j int) bool {
		a, b := c.entries[i], c.entries[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	res.Entries = c.entries
	m := manifestData{Options: opt, Config: string(cfg), Env: c.env, Hosts: hosts, BackendRoute: len(c.cfg.Backends) > 0 || c.uses("set-backend-service")}
	if m.CAFile == "" {
		m.CAFile = "/etc/ssl/certs/ca-certificates.crt"
	}
	if m.Image == "" {
		m.Image = "oci://registry.example.com/apimguard@sha256:0000000000000000000000000000000000000000000000000000000000000000"
	}
	m.Routes = c.routes()
	for name, tmpl := range map[string]*template.Template{"envoy.yaml": envoyTemplate, "istio.yaml": istioTemplate} {
		var b bytes.Buffer
		if err := tmpl.Execute(&b, m); err != nil {
			return nil, err
		}
		res.Files[name] = b.Bytes()
	}
	res.Files["report.txt"] = res.text()
	if res.Files["report.json"], err = marshal(struct {
		Documents int     `json:"documents"`
		Loaded    int     `json:"loaded"`
		Summary   string  `json:"summary"`
		Entries   []Entry `json:"entries"`
	}{res.Documents, res.Loaded, res.Summary(), res.Entries}); err != nil {
		return nil, err
	}
	return res, nil
}

// Summary is the report's one line.
func (r *Result) Summary() string {
	return fmt.Sprintf("%d of %d policy documents load", r.Loaded, r.Documents)
}

func (r *Result) text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "apimguard import: %s\n", r.Summary())
	for _, e := range r.Entries {
		where := e.File
		if e.Line > 0 {
			where += ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Column)
		}
		msg := e.Message
		if e.Element != "" {
			msg = "<" + e.Element + ">: " + msg
		}
		fmt.Fprintf(&b, "%-8s %s: %s\n", e.Kind, where, msg)
	}
	return b.Bytes()
}

// host is an external host the gateway calls.
type host struct {
	Name, Scheme string
	Port         int
	Address      string // where Envoy connects (Resolve), default Name
	AddrPort     int
}

// Cluster is the plugin's default cluster name for the host (Istio's).
func (h host) Cluster() string { return "outbound|" + strconv.Itoa(h.Port) + "||" + h.Name }

// TLS says whether Envoy speaks TLS to it.
func (h host) TLS() bool { return h.Scheme == "https" }

// ID is a Kubernetes name for it.
func (h host) ID() string {
	return strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(h.Name), "-"), "-") + "-" + strconv.Itoa(h.Port)
}

var urlPattern = regexp.MustCompile(`https?://[A-Za-z0-9.\-]+(:[0-9]+)?`)

// hosts are the hosts of the APIs' services, the backends, the loggers,
// the managed identity's source and every constant URL of the policies
// (identity providers, send-request targets), named values resolved.
func (c *converter) hosts() []host {
	var urls []string
	for _, a := range c.cfg.APIs {
		urls = append(urls, a.ServiceURL)
	}
	for _, b := range c.cfg.Backends {
		urls = append(urls, b.URL)
	}
	for _, l := range c.cfg.Loggers {
		urls = append(urls, "https://"+l.EndpointAddress)
	}
	if c.cfg.ManagedIdentity != nil {
		urls = append(urls, "http://169.254.169.254")
	}
	for _, d := range c.docs {
		text := d.doc.Text
		for k, v := range c.cfg.NamedValues {
			text = strings.ReplaceAll(text, "{{"+k+"}}", v)
		}
		urls = append(urls, urlPattern.FindAllString(text, -1)...)
	}
	seen := map[string]bool{}
	var out []host
	for _, raw := range urls {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
			continue
		}
		h := host{Name: strings.ToLower(u.Hostname()), Scheme: u.Scheme, Port: 443}
		if u.Scheme == "http" {
			h.Port = 80
		}
		if p, err := strconv.Atoi(u.Port()); err == nil {
			h.Port = p
		}
		if seen[h.Cluster()] {
			continue
		}
		seen[h.Cluster()] = true
		h.Address, h.AddrPort = h.Name, h.Port
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster() < out[j].Cluster() })
	return out
}

// route is an API's route in the bootstrap: its path prefix with a
// slash, and the prefix alone (Path).
type route struct {
	Prefix, Cluster, Rewrite, Host string
}

// Path is the API's path without the trailing slash.
func (r route) Path() string { return strings.TrimSuffix(r.Prefix, "/") }

// ExactRewrite is where the API's path alone goes: the service's path.
func (r route) ExactRewrite() string {
	if r.Rewrite == "/" {
		return "/"
	}
	return strings.TrimSuffix(r.Rewrite, "/")
}

// routes send each API's path prefix to its serviceUrl, longest prefix
// first.
func (c *converter) routes() []route {
	var out []route
	for _, a := range c.cfg.APIs {
		r := route{Prefix: strings.TrimSuffix(a.PathPrefix, "/") + "/", Cluster: "backend", Rewrite: "/"}
		if u, err := url.Parse(a.ServiceURL); err == nil && u.Hostname() != "" {
			port := 443
			if u.Scheme == "http" {
				port = 80
			}
			if p, err := strconv.Atoi(u.Port()); err == nil {
				port = p
			}
			r.Cluster = host{Name: strings.ToLower(u.Hostname()), Port: port}.Cluster()
			r.Host = u.Host
			r.Rewrite = strings.TrimSuffix(u.EscapedPath(), "/") + "/"
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].Prefix) > len(out[j].Prefix) })
	return out
}

type manifestData struct {
	Options
	Config       string
	Env          []string
	Hosts        []host
	Routes       []route
	BackendRoute bool
}

// resolved is where Envoy connects for h.
func (m manifestData) Resolved(h host) (string, int) {
	if a, ok := m.Resolve[h.Name]; ok {
		if hostPart, p, err := net.SplitHostPort(a); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				return hostPart, n
			}
		}
	}
	return h.Name, h.Port
}

// Digest is the image's pinned digest, for the WasmPlugin's sha256.
func (m manifestData) Digest() string {
	if i := strings.LastIndex(m.Image, "@sha256:"); i >= 0 {
		return m.Image[i+len("@sha256:"):]
	}
	return ""
}

// HasBackendCluster: a route goes to the placeholder cluster "backend".
func (m manifestData) HasBackendCluster() bool {
	for _, r := range m.Routes {
		if r.Cluster == "backend" {
			return true
		}
	}
	return false
}

var funcs = template.FuncMap{
	"indent": func(n int, s string) string {
		pad := strings.Repeat(" ", n)
		return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
	},
	"quote": func(s string) string { b, _ := json.Marshal(s); return string(b) },
	"addr":  func(m manifestData, h host) string { a, _ := m.Resolved(h); return a },
	"port":  func(m manifestData, h host) int { _, p := m.Resolved(h); return p },
	"list": func(s []string) string {
		b, _ := json.Marshal(s)
		return string(b)
	},
}
