package policy

import (
	"sort"
	"strconv"
	"strings"
)

// logToEventHub is APIM's log-to-eventhub policy: a message for the event
// hub of a logger. The engine keeps a request's messages on its Exec; the
// host takes them (Exec.EventHubMessages) after each step and hands them to
// its exporter (the plugin: batches sent to Event Hubs' REST endpoint with
// a managed-identity token, on the tick; no request waits for them).
// Reference: https://learn.microsoft.com/azure/api-management/log-to-eventhub-policy
//
// # Notes
//
//   - logger-id (required) and partition-id are constants; partition-key
//     may be an expression; partition-id and partition-key exclude each
//     other. The element's text is the message (usually one expression).
//   - logger-id must name a logger of the configuration (Config.Loggers):
//     an unknown one refuses the configuration at load, as an unknown
//     backend-id does.
//   - A message longer than 200 KB is cut to 200 KB, as APIM does. At most
//     maxEventHubMessages per request (the rest are dropped and counted by
//     the host, as a sink that is down drops).
type logToEventHub struct {
	stmtMeta
	logger, partitionID string
	partitionKey        *Value
	message             Value
}

// EventHubMessage is one message of log-to-eventhub.
type EventHubMessage struct {
	Logger       string
	PartitionID  string // "": none
	PartitionKey string // "": none
	Message      string
}

// Bounds on log-to-eventhub.
const (
	maxEventHubMessage  = 200 * 1024
	maxEventHubMessages = 16 // per request
)

func compileLogToEventHub(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "logger-id", "partition-id", "partition-key"); err != nil {
		return nil, err
	}
	if len(n.Children) > 0 {
		return nil, c.errf(n, n.Children[0].Pos, "unexpected element <%s> (the message is the element's text)", n.Children[0].Name)
	}
	a, err := c.required(n, "logger-id")
	if err != nil {
		return nil, err
	}
	s := &logToEventHub{stmtMeta: c.meta(n)}
	if s.logger, err = c.constant(n, a); err != nil {
		return nil, err
	}
	if !c.loggers[s.logger] {
		known := make([]string, 0, len(c.loggers))
		for id := range c.loggers {
			known = append(known, strconv.Quote(id))
		}
		sort.Strings(known)
		if len(known) == 0 {
			return nil, c.errf(n, a.ValuePos, "logger %q is not configured (the configuration has no \"loggers\")", abbreviate(s.logger))
		}
		return nil, c.errf(n, a.ValuePos, "logger %q is not configured (known: %s)", abbreviate(s.logger), strings.Join(known, ", "))
	}
	id, hasID := n.Attr("partition-id")
	key, hasKey := n.Attr("partition-key")
	if hasID && hasKey {
		return nil, c.errf(n, key.Pos, "partition-id and partition-key exclude each other")
	}
	if hasID {
		if s.partitionID, err = c.constant(n, id); err != nil {
			return nil, err
		}
		if p, err := strconv.Atoi(strings.TrimSpace(s.partitionID)); err != nil || p < 0 || p > 1023 {
			return nil, c.errf(n, id.ValuePos, "partition-id must be a partition index from 0 to 1023, not %q", abbreviate(s.partitionID))
		}
		s.partitionID = strings.TrimSpace(s.partitionID)
	}
	if hasKey {
		v, err := c.value(n, key.Value, key.ValuePos)
		if err != nil {
			return nil, err
		}
		s.partitionKey = &v
	}
	if s.message, err = c.value(n, n.Text, n.TextPos); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *logToEventHub) run(x *Exec) error {
	if m := x.extra(); m.eventHubMade >= maxEventHubMessages {
		m.eventHubDropped++
		return nil
	}
	msg, err := s.message.Eval(x)
	if err != nil {
		return err
	}
	rec := EventHubMessage{Logger: s.logger, PartitionID: s.partitionID, Message: truncate(msg, maxEventHubMessage)}
	if s.partitionKey != nil {
		if rec.PartitionKey, err = s.partitionKey.Eval(x); err != nil {
			return err
		}
		rec.PartitionKey = cut(rec.PartitionKey, 256)
	}
	x.more.eventHub = append(x.more.eventHub, rec)
	x.more.eventHubMade++
	return nil
}

// EventHubMessages returns the log-to-eventhub messages made since the last
// call and how many were dropped over the per-request bound, and forgets
// them.
func (x *Exec) EventHubMessages() ([]EventHubMessage, int) {
	if x.more == nil {
		return nil, 0
	}
	m, d := x.more.eventHub, x.more.eventHubDropped
	x.more.eventHub, x.more.eventHubDropped = nil, 0
	return m, d
}

// truncate shortens s to at most n bytes on a UTF-8 boundary, unmarked (as
// APIM cuts an event hub message).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
