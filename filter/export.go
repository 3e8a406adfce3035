package main

// The exporter: security events to Azure Monitor's Logs Ingestion API and
// log-to-eventhub's messages to Event Hubs, sent in batches from the
// plugin's tick with a managed-identity token (tokens.go). A request only
// appends a record to its worker's buffer; nothing a request does waits
// for the export, and a sink that is down costs a request nothing. Each
// worker's buffer is bounded per sink: records beyond the bound are dropped
// and counted, never held without end.

import (
	"strconv"
	"strings"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy"
)

// Export bounds and timing.
const (
	// maxExportBody bounds one batch's body: the Logs Ingestion API and
	// Event Hubs (standard tier and up) take 1 MB per call.
	maxExportBody = 1_000_000
	// maxBufferBytes bounds a sink's buffer on one worker whatever its
	// record count (event hub messages may be 200 KB each).
	maxBufferBytes = 8 << 20
	// Backoff after a failed batch when the answer gives no Retry-After:
	// exportBackoff doubling up to maxExportBackoff; a Retry-After is
	// honoured up to maxRetryAfter.
	exportBackoff    = time.Second
	maxExportBackoff = time.Minute
	maxRetryAfter    = 5 * time.Minute
)

// Resources of the exporter's tokens.
const (
	monitorResource   = "https://monitor.azure.com"
	eventHubsResource = "https://eventhubs.azure.net"
)

// exporter holds the sinks of one plugin context (one per worker's VM).
type exporter struct {
	monitor *sink            // nil: no "events.azureMonitor"
	hubs    map[string]*sink // by logger id and partition id
	loggers map[string]pluginconfig.Logger
	all     []*sink
	tokens  *tokenManager
	ups     pluginconfig.Upstreams
	cs      counters
	batch   int
	buffer  int
	flush   time.Duration
}

// sink is one destination: a Logs Ingestion stream, or an event hub (or
// one partition of it).
type sink struct {
	name        string // names it in log lines: "azure monitor", "logger \"id\""
	url         string
	token       policy.TokenRequest
	contentType string
	metric      string // the records' counter: azure_monitor_events, eventhub_messages
	recs        []record
	bytes       int
	oldest      time.Time // of recs[0]'s arrival in an empty buffer
	inflight    int       // records at the front being sent
	seq         uint32    // the batch in flight's number: a late answer to an earlier one is ignored
	sentAt      time.Time
	retryAt     time.Time
	backoff     time.Duration
	failing     bool // the last batch failed: logged once until one succeeds
}

// record is one record of a batch, as JSON; records of one batch share
// their group (an event hub message's partition key).
type record struct {
	data  string
	group string
}

// newExporter makes the sinks of e; nil when there are none.
func newExporter(e pluginconfig.Exports, tokens *tokenManager, ups pluginconfig.Upstreams, cs counters) *exporter {
	if e.AzureMonitor == nil && len(e.Loggers) == 0 {
		return nil
	}
	x := &exporter{hubs: map[string]*sink{}, loggers: e.Loggers, tokens: tokens, ups: ups, cs: cs,
		batch: e.BatchEvents, buffer: e.BufferEvents, flush: time.Duration(e.FlushSeconds) * time.Second}
	if a := e.AzureMonitor; a != nil {
		x.monitor = &sink{name: "azure monitor", url: a.URL(), token: policy.TokenRequest{Resource: monitorResource, ClientID: a.ClientID},
			contentType: "application/json", metric: "azure_monitor_events"}
		x.all = append(x.all, x.monitor)
	}
	return x
}

// tokenRequests are the tokens the sinks need, reserved at start.
func (x *exporter) tokenRequests() []policy.TokenRequest {
	if x == nil {
		return nil
	}
	var reqs []policy.TokenRequest
	if x.monitor != nil {
		reqs = append(reqs, x.monitor.token)
	}
	seen := map[string]bool{}
	for _, l := range x.loggers {
		if !seen[l.ClientID] {
			seen[l.ClientID] = true
			reqs = append(reqs, policy.TokenRequest{Resource: eventHubsResource, ClientID: l.ClientID})
		}
	}
	return reqs
}

// event adds a security event line (a JSON object) for Azure Monitor,
// with the time it was made as TimeGenerated.
func (x *exporter) event(line string) {
	if x == nil || x.monitor == nil || !strings.HasPrefix(line, "{") {
		return
	}
	ts := now().UTC().Format("2006-01-02T15:04:05.000Z")
	if len(line) > 2 {
		line = `{"TimeGenerated":"` + ts + `",` + line[1:]
	} else {
		line = `{"TimeGenerated":"` + ts + `"}`
	}
	x.add(x.monitor, record{data: line})
}

// messages adds log-to-eventhub's messages to their loggers' sinks, and
// counts the ones a request made over its bound.
func (x *exporter) messages(msgs []policy.EventHubMessage, dropped int) {
	if x == nil {
		return
	}
	for _, m := range msgs {
		s := x.hub(m.Logger, m.PartitionID)
		if s == nil {
			continue // the policy was compiled against these loggers: never
		}
		data := `{"Body":` + policy.JSONString(m.Message)
		if m.PartitionKey != "" {
			data += `,"BrokerProperties":{"PartitionKey":` + policy.JSONString(m.PartitionKey) + `}`
		}
		x.add(s, record{data: data + "}", group: m.PartitionKey})
	}
	if dropped > 0 {
		x.cs.add(outcomeMetric("dropped", "eventhub_messages"), uint64(dropped))
	}
}

// hub is the sink of a logger's partition ("": the hub's), made at its
// first message: partition ids are constants of the policies, so their
// number is bounded by the configuration.
func (x *exporter) hub(id, partition string) *sink {
	key := id + "\x00" + partition
	if s := x.hubs[key]; s != nil {
		return s
	}
	l, ok := x.loggers[id]
	if !ok {
		return nil
	}
	s := &sink{name: "logger " + strconv.Quote(id), url: l.URL(partition), token: policy.TokenRequest{Resource: eventHubsResource, ClientID: l.ClientID},
		contentType: "application/vnd.microsoft.servicebus.json", metric: "eventhub_messages"}
	x.hubs[key] = s
	x.all = append(x.all, s)
	return s
}

// add appends r to s's buffer, or drops and counts it when the buffer is
// full.
func (x *exporter) add(s *sink, r record) {
	if len(s.recs) >= x.buffer || s.bytes+len(r.data) > maxBufferBytes {
		x.cs.count(outcomeMetric("dropped", s.metric))
		return
	}
	if len(s.recs) == 0 {
		s.oldest = now()
	}
	s.recs = append(s.recs, r)
	s.bytes += len(r.data)
}

// tick sends the batches that are due: a sink's first batch once it is full
// or its oldest record has waited the flush interval, and none while a
// batch is in flight or a failed one waits for its retry.
func (x *exporter) tick() {
	if x == nil {
		return
	}
	t := now()
	for _, s := range x.all {
		if s.inflight > 0 {
			if t.Sub(s.sentAt) > fetchStuck {
				x.failed(s, t, "no answer", "")
				s.inflight = 0
			}
			continue
		}
		if len(s.recs) == 0 || t.Before(s.retryAt) || (len(s.recs) < x.batch && t.Sub(s.oldest) < x.flush && s.backoff == 0) {
			continue
		}
		tok := x.tokens.Token(s.token)
		if tok == "" {
			x.tokens.want(s.token) // the records wait in the buffer
			continue
		}
		x.send(s, tok, t)
	}
}

// send posts s's first batch: the records at the front that share the
// first one's group, up to the batch size and maxExportBody.
func (x *exporter) send(s *sink, tok string, t time.Time) {
	n, size := 0, 2
	for n < len(s.recs) && n < x.batch {
		r := s.recs[n]
		if n > 0 && (r.group != s.recs[0].group || size+len(r.data)+1 > maxExportBody) {
			break
		}
		size += len(r.data) + 1
		n++
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteByte('[')
	for i, r := range s.recs[:n] {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r.data)
	}
	b.WriteByte(']')
	s.seq++
	s.inflight, s.sentAt = n, t
	seq := s.seq
	call := fetchCall{what: "export", method: "POST", url: s.url, body: []byte(b.String()),
		headers: [][2]string{{"authorization", "Bearer " + tok}, {"content-type", s.contentType}}}
	dispatchBackground(x.ups, call, func(resp *policy.CallResponse, why string) {
		if s.inflight == 0 || s.seq != seq {
			return // given up as stuck (and maybe another batch sent since)
		}
		at := now()
		switch {
		case resp == nil:
			x.failed(s, at, why, "")
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			x.sent(s)
		case resp.StatusCode == 400 || resp.StatusCode == 413:
			// The batch itself is refused: sending it again cannot help.
			x.refused(s, resp.StatusCode)
		default:
			// 429, 5xx, and 401/403/404 while a role assignment or the
			// rule propagates: the records stay and are sent again.
			x.failed(s, at, "status "+strconv.Itoa(resp.StatusCode), retryAfter(resp.Headers))
		}
		s.inflight = 0
	})
}

// sent drops a batch that arrived.
func (x *exporter) sent(s *sink) {
	x.cs.add(outcomeMetric("sent", s.metric), uint64(s.inflight))
	x.cs.count(outcomeMetric("sent", "export_batches"))
	x.forget(s)
	if s.failing {
		proxywasm.LogInfof("apimguard: export to %s: sending again", s.name)
	}
	s.failing, s.backoff, s.retryAt = false, 0, time.Time{}
}

// refused drops a batch the sink refused as such, counting its records.
func (x *exporter) refused(s *sink, status int) {
	proxywasm.LogWarnf("apimguard: export to %s: a batch of %d records was refused (status %d) and is dropped", s.name, s.inflight, status)
	x.cs.add(outcomeMetric("dropped", s.metric), uint64(s.inflight))
	x.cs.count(outcomeMetric("refused", "export_batches"))
	x.forget(s)
}

// forget removes the batch in flight from the front of s's buffer.
func (x *exporter) forget(s *sink) {
	for _, r := range s.recs[:s.inflight] {
		s.bytes -= len(r.data)
	}
	s.recs = append(s.recs[:0], s.recs[s.inflight:]...)
	if len(s.recs) > 0 {
		s.oldest = now()
	}
}

// failed keeps the batch for a retry after retryAfter (seconds or an HTTP
// date) or the backoff.
func (x *exporter) failed(s *sink, t time.Time, why, retryAfter string) {
	x.cs.count(outcomeMetric("retried", "export_batches"))
	s.backoff = min(max(2*s.backoff, exportBackoff), maxExportBackoff)
	wait := s.backoff
	if d, ok := parseRetryAfter(retryAfter, t); ok {
		wait = min(d, maxRetryAfter)
	}
	s.retryAt = t.Add(wait)
	if !s.failing {
		s.failing = true
		proxywasm.LogWarnf("apimguard: export to %s failed (%s): %d records kept, sent again in %s", s.name, why, len(s.recs), wait)
	}
}

// retryAfter is the answer's Retry-After header ("": none).
func retryAfter(headers [][2]string) string {
	v, _ := policy.JoinHeader(headers, "retry-after")
	return v
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date.
func parseRetryAfter(v string, t time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(n, 0)) * time.Second, n >= 0 && n < 1<<20
	}
	if d, err := time.Parse(time.RFC1123, v); err == nil {
		return max(d.Sub(t), 0), true
	}
	return 0, false
}
