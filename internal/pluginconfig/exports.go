package pluginconfig

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"
)

// Exports is where the plugin sends what it records outside Envoy:
// security events to Azure Monitor's Logs Ingestion API ("events":
// {"azureMonitor"}) and log-to-eventhub's messages to the event hubs of
// "loggers". Both are sent in batches on the tick with a token of the
// plugin's managed identity ("managedIdentity"); no request waits for them.
type Exports struct {
	AzureMonitor *AzureMonitor
	Loggers      map[string]Logger
	// BatchEvents, FlushSeconds and BufferEvents bound every sink: a batch
	// goes out when it has BatchEvents records or its oldest is
	// FlushSeconds old; each worker holds at most BufferEvents records per
	// sink and drops (and counts) the ones after.
	BatchEvents, FlushSeconds, BufferEvents int
}

// Export defaults.
const (
	DefaultBatchEvents  = 500
	DefaultFlushSeconds = 5
	DefaultBufferEvents = 5000
)

// AzureMonitor is a Logs Ingestion API stream: POST
// {Endpoint}/dataCollectionRules/{RuleID}/streams/{Stream}?api-version=2023-01-01.
type AzureMonitor struct {
	Endpoint, RuleID, Stream string
	// ClientID is the managed identity the token is for ("": the token
	// source's own).
	ClientID string
}

// URL is where the stream's batches are posted.
func (a *AzureMonitor) URL() string {
	return strings.TrimRight(a.Endpoint, "/") + "/dataCollectionRules/" + url.PathEscape(a.RuleID) + "/streams/" + url.PathEscape(a.Stream) + "?api-version=2023-01-01"
}

// Logger is an APIM logger of type azureEventHub: the event hub Name in
// the namespace EndpointAddress (contoso.servicebus.windows.net).
type Logger struct {
	EndpointAddress, Name string
	// ClientID is credentials.identityClientId: "SystemAssigned" or ""
	// for the token source's own identity, else a user-assigned one.
	ClientID string
}

// URL is where a batch for partition (""; any) is posted.
func (l Logger) URL(partition string) string {
	u := "https://" + l.EndpointAddress + "/" + url.PathEscape(l.Name)
	if partition != "" {
		u += "/partitions/" + url.PathEscape(partition)
	}
	return u + "/messages?timeout=60&api-version=2014-01"
}

// parseEvents reads "events": {"azureMonitor": {...}, "batchEvents",
// "flushSeconds", "bufferEvents"}.
func (c *Config) parseEvents(v gjson.Result) error {
	return object("events", v, map[string]gjson.Type{"azureMonitor": gjson.JSON, "batchEvents": gjson.Number, "flushSeconds": gjson.Number, "bufferEvents": gjson.Number},
		func(key string, f gjson.Result) error {
			if key == "azureMonitor" {
				a := &AzureMonitor{}
				err := object("events.azureMonitor", f, map[string]gjson.Type{"endpoint": gjson.String, "ruleId": gjson.String, "stream": gjson.String, "clientId": gjson.String},
					func(key string, s gjson.Result) error {
						*map[string]*string{"endpoint": &a.Endpoint, "ruleId": &a.RuleID, "stream": &a.Stream, "clientId": &a.ClientID}[key] = strings.TrimSpace(s.Str)
						return nil
					})
				if err != nil {
					return err
				}
				if u, err := url.Parse(a.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
					return fmt.Errorf("plugin configuration: events.azureMonitor.endpoint must be the https URL of a data collection endpoint (https://<name>.<region>.ingest.monitor.azure.com), got %q", firstWord(a.Endpoint))
				}
				if a.RuleID == "" || a.Stream == "" {
					return fmt.Errorf("plugin configuration: events.azureMonitor needs \"ruleId\" (the rule's immutable id, dcr-…) and \"stream\" (Custom-…)")
				}
				c.Exports.AzureMonitor = a
				return nil
			}
			bounds := map[string][2]int64{"batchEvents": {1, 10000}, "flushSeconds": {1, 300}, "bufferEvents": {1, 100000}}[key]
			n := f.Int()
			if float64(n) != f.Num || n < bounds[0] || n > bounds[1] {
				return fmt.Errorf("plugin configuration: events.%s must be a whole number from %d to %d, got %s", key, bounds[0], bounds[1], f.Raw)
			}
			*map[string]*int{"batchEvents": &c.Exports.BatchEvents, "flushSeconds": &c.Exports.FlushSeconds, "bufferEvents": &c.Exports.BufferEvents}[key] = int(n)
			return nil
		})
}

// parseLoggers reads "loggers": {"id": {"type": "azureEventHub",
// "endpointAddress", "name", "identityClientId"}}: APIM's logger entities
// (their credentials' fields) that log-to-eventhub's logger-id names.
func (c *Config) parseLoggers(v gjson.Result) error {
	if !v.IsObject() {
		return fmt.Errorf("plugin configuration: \"loggers\" must be an object of loggers by id")
	}
	c.Exports.Loggers = map[string]Logger{}
	var err error
	v.ForEach(func(k, f gjson.Result) bool {
		id := k.String()
		where := fmt.Sprintf("loggers[%q]", id)
		var l Logger
		kind := "azureEventHub"
		err = object(where, f, map[string]gjson.Type{"type": gjson.String, "endpointAddress": gjson.String, "name": gjson.String, "identityClientId": gjson.String},
			func(key string, s gjson.Result) error {
				*map[string]*string{"type": &kind, "endpointAddress": &l.EndpointAddress, "name": &l.Name, "identityClientId": &l.ClientID}[key] = strings.TrimSpace(s.Str)
				return nil
			})
		switch {
		case err != nil:
		case kind != "azureEventHub":
			err = fmt.Errorf("plugin configuration: %s: type %q is not supported: only azureEventHub loggers (log-to-eventhub); security events go to Azure Monitor through \"events\"", where, firstWord(kind))
		case id == "" || l.Name == "" || !hostOnly(l.EndpointAddress):
			err = fmt.Errorf("plugin configuration: %s needs \"endpointAddress\" (the namespace's host, <namespace>.servicebus.windows.net) and \"name\" (the event hub)", where)
		}
		if strings.EqualFold(l.ClientID, "SystemAssigned") {
			l.ClientID = ""
		}
		c.Exports.Loggers[id] = l
		return err == nil
	})
	return err
}

// hostOnly reports whether s is a host name (with an optional port) and
// nothing else.
func hostOnly(s string) bool {
	if s == "" || strings.ContainsAny(s, "/?#@ ") {
		return false
	}
	u, err := url.Parse("https://" + s)
	return err == nil && u.Host == s
}

// checkExports checks what the sinks need of the rest of the configuration
// and fills the defaults.
func (c *Config) checkExports() error {
	e := &c.Exports
	if e.AzureMonitor == nil && len(e.Loggers) == 0 {
		return nil
	}
	if c.ManagedIdentity == nil {
		what := "events.azureMonitor"
		if e.AzureMonitor == nil {
			what = "loggers"
		}
		return fmt.Errorf("plugin configuration: %s needs \"managedIdentity\": the exporter's token comes from the plugin's managed identity", what)
	}
	if c.NoTelemetry && e.AzureMonitor != nil {
		return fmt.Errorf("plugin configuration: events.azureMonitor sends security events, which \"telemetry\": false turns off")
	}
	if e.BatchEvents == 0 {
		e.BatchEvents = DefaultBatchEvents
	}
	if e.FlushSeconds == 0 {
		e.FlushSeconds = DefaultFlushSeconds
	}
	if e.BufferEvents == 0 {
		e.BufferEvents = DefaultBufferEvents
	}
	return nil
}

// loggerIDs are the ids log-to-eventhub may name.
func (c *Config) loggerIDs() []string {
	ids := make([]string, 0, len(c.Exports.Loggers))
	for id := range c.Exports.Loggers {
		ids = append(ids, id)
	}
	return ids
}
