package apiops

import "text/template"

// envoyTemplate is the Envoy bootstrap, in the shape of
// build/envoy/apimguard.yaml: the hardened connection manager, TLS 1.2 or
// higher in and out, the plugin's decision in the access log, one route
// per API to its service and a cluster per host the gateway calls.
var envoyTemplate = template.Must(template.New("envoy.yaml").Funcs(funcs).Parse(`# Written by apimguard import{{if .Dir}} from {{.Dir}}{{end}}: the APIs of an APIM instance in
# plain Envoy (1.35 or later), with the plugin configuration of plugin-config.json. See report.txt
# for what loads and what to decide before it serves traffic.
#
#   envoy -c envoy.yaml{{if .Env}}     # with {{range $i, $e := .Env}}{{if $i}}, {{end}}{{$e}}{{end}} in Envoy's environment{{end}}
#
# Paths to provide: /etc/envoy/apimguard.wasm, the listener's certificate and key under
# /etc/envoy/tls/, and {{.CAFile}} for the services' certificates.
stats_config:
  stats_tags:
  - tag_name: policy
    regex: '^wasmcustom\.apimguard\.(policy\.([^.]+)\.)'
  - tag_name: reason
    regex: '^wasmcustom\.apimguard\.(?:policy\.[^.]+\.)?(reason\.([^.]+)\.)'
  - tag_name: outcome
    regex: '^wasmcustom\.apimguard\.(outcome\.([^.]+)\.)'
  - tag_name: subscription
    regex: '^wasmcustom\.apimguard\.(subscription\.([^.]+)\.)'
  - tag_name: metric
    regex: '^wasmcustom\.apimguard\.custom\.(([^.]+)\.)dims\.'
  - tag_name: dimensions
    regex: '^wasmcustom\.apimguard\.custom\.(?:[^.]+\.)?(dims\.(.*))$'
static_resources:
  listeners:
  - name: ingress
    address:
      socket_address: { address: 0.0.0.0, port_value: 8443 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          normalize_path: true
          merge_slashes: true
          path_with_escaped_slashes_action: REJECT_REQUEST
          strip_trailing_host_dot: true
          use_remote_address: true
          access_log:
          - name: envoy.access_loggers.stdout
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
              log_format:
                text_format_source:
                  inline_string: "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %DURATION% %REQ(X-REQUEST-ID)% %FILTER_STATE(wasm.apimguard:PLAIN)%\n"
          route_config:
            virtual_hosts:
            - name: apis
              domains: ["*"]
              routes:
{{- if .BackendRoute}}
              # set-backend-service: the plugin names the backend's cluster.
              - match:
                  prefix: "/"
                  headers: [{ name: x-apimguard-backend, present_match: true }]
                route: { cluster_header: x-apimguard-backend, auto_host_rewrite: true }
                request_headers_to_remove: [x-apimguard-backend]
{{- end}}
{{- range .Routes}}
{{- if ne .Prefix "/"}}
              - match: { path: {{quote .Path}} }
                route: { cluster: {{quote .Cluster}}, prefix_rewrite: {{quote .ExactRewrite}}{{if .Host}}, host_rewrite_literal: {{quote .Host}}{{end}} }
{{- end}}
              - match: { prefix: {{quote .Prefix}} }
                route: { cluster: {{quote .Cluster}}, prefix_rewrite: {{quote .Rewrite}}{{if .Host}}, host_rewrite_literal: {{quote .Host}}{{end}} }
{{- end}}
          http_filters:
          - name: apimguard
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: apimguard
                failure_policy: FAIL_RELOAD
                allow_on_headers_stop_iteration: true
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: |
{{indent 20 .Config}}
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code:
                    local: { filename: /etc/envoy/apimguard.wasm }
{{- if .Env}}
                  environment_variables:
                    host_env_keys: {{list .Env}}
{{- end}}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_params:
              tls_minimum_protocol_version: TLSv1_2
            tls_certificates:
            - certificate_chain: { filename: /etc/envoy/tls/server.pem }
              private_key: { filename: /etc/envoy/tls/server-key.pem }
  clusters:
{{- if .HasBackendCluster}}
  # The service of the APIs without a serviceUrl: point it at yours.
  - name: backend
    connect_timeout: 2s
    type: STRICT_DNS
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: backend.internal, port_value: 8080 }
{{- end}}
{{- $m := .}}
{{- range .Hosts}}
  - name: {{quote .Cluster}}
    connect_timeout: 2s
    type: LOGICAL_DNS
    dns_lookup_family: V4_PREFERRED
    load_assignment:
      cluster_name: {{quote .Cluster}}
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: {{addr $m .}}, port_value: {{port $m .}} }
{{- if .TLS}}
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: {{.Name}}
        common_tls_context:
          tls_params:
            tls_minimum_protocol_version: TLSv1_2
          validation_context:
            trusted_ca: { filename: {{$m.CAFile}} }
            match_typed_subject_alt_names:
            - san_type: DNS
              matcher: { exact: {{.Name}} }
{{- end}}
{{- end}}
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }
`))

// istioTemplate is the Istio ingress gateway's manifests, in the shape of
// build/istio: the hardening EnvoyFilter, the WasmPlugin with the
// configuration, a VirtualService routing each API to its service, and a
// ServiceEntry (and, for TLS, a DestinationRule) per host the gateway
// calls.
var istioTemplate = template.Must(template.New("istio.yaml").Funcs(funcs).Parse(`# Written by apimguard import{{if .Dir}} from {{.Dir}}{{end}}: the APIs of an APIM instance on an
# Istio ingress gateway. See report.txt for what loads and what to decide. Publish the module
# with make push and put its digest in the WasmPlugin's url and sha256; name your Gateway in
# the VirtualService.{{if .Env}} Secrets ({{range $i, $e := .Env}}{{if $i}}, {{end}}{{$e}}{{end}}) come from the
# gateway container's environment (vmConfig.env), never from pluginConfig.{{end}}
#
#   kubectl apply -f istio.yaml
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata:
  name: apimguard-hardening
  namespace: istio-system
spec:
  workloadSelector:
    labels:
      istio: ingressgateway
  configPatches:
  - applyTo: NETWORK_FILTER
    match:
      context: GATEWAY
      listener:
        filterChain:
          filter:
            name: envoy.filters.network.http_connection_manager
    patch:
      operation: MERGE
      value:
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          normalize_path: true
          merge_slashes: true
          path_with_escaped_slashes_action: REJECT_REQUEST
          strip_trailing_host_dot: true
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata:
  name: apimguard
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  url: {{.Image}}
{{- with .Digest}}
  sha256: "{{.}}"
{{- end}}
  imagePullPolicy: IfNotPresent
  phase: AUTHN
  failStrategy: FAIL_RELOAD
{{- if .Env}}
  vmConfig:
    env:
{{- range .Env}}
    - name: {{quote .}}
      valueFrom: HOST
{{- end}}
{{- end}}
  pluginConfig:
{{indent 4 .Config}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: apimguard-apis
  namespace: istio-system
spec:
  hosts: ["*"]
  gateways: [istio-system/apimguard-gateway]
  http:
{{- range .Routes}}
  - match:
    - uri: { prefix: {{quote .Prefix}} }
    rewrite: { uri: {{quote .Rewrite}}{{if .Host}}, authority: {{quote .Host}}{{end}} }
    route:
    - destination: { host: {{if .Host}}{{quote .Host}}{{else}}backend.internal{{end}} }
{{- end}}
{{- range .Hosts}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: {{.ID}}
  namespace: istio-system
spec:
  hosts:
  - {{.Name}}
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - number: {{.Port}}
    name: {{if .TLS}}https{{else}}http{{end}}
    protocol: {{if .TLS}}HTTPS{{else}}HTTP{{end}}
{{- if .TLS}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: {{.ID}}
  namespace: istio-system
spec:
  host: {{.Name}}
  trafficPolicy:
    tls:
      mode: SIMPLE
      sni: {{.Name}}
      subjectAltNames:
      - {{.Name}}
{{- end}}
{{- end}}
`))
