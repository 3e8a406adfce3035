package policy

import (
	"math"
	"strconv"
	"strings"
)

// emitMetric is APIM's emit-metric policy: a custom metric with
// dimensions. The engine keeps a request's records on its Exec; the host
// takes them (Exec.Metrics) after each step and adds them to Envoy's
// metrics (the plugin: a counter per metric and dimension values, capped).
// Reference: https://learn.microsoft.com/azure/api-management/emit-metric-policy
//
// # Notes
//
//   - name and namespace (default "API Management") are constants; value
//     (default 1) and dimension values may be expressions.
//   - 1 to 5 dimensions (APIM's current limit). The default dimensions
//     need no value: API ID, Operation ID, Product ID, User ID and
//     Subscription ID come from the request's route and subscription;
//     Location and Gateway ID are empty (no APIM region or gateway). Any
//     other dimension needs a value.
//   - Envoy counters hold whole numbers: the value is added rounded, and a
//     negative or non-finite one adds nothing.
type emitMetric struct {
	stmtMeta
	name, namespace string
	value           Value
	dims            []metricDim
}

type metricDim struct {
	name  string
	value *Value // nil: a default dimension
}

// Metric is one record of emit-metric.
type Metric struct {
	Namespace, Name string
	Value           uint64
	Dimensions      [][2]string
}

// Bounds on emit-metric.
const (
	maxMetricDims = 5
	maxMetrics    = 16 // records per request
)

// defaultDims are the dimensions APIM fills itself.
var defaultDims = map[string]bool{"API ID": true, "Operation ID": true, "Product ID": true, "User ID": true,
	"Subscription ID": true, "Location": true, "Gateway ID": true}

func compileEmitMetric(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "name", "namespace", "value"); err != nil {
		return nil, err
	}
	if err := c.only(n, "dimension"); err != nil {
		return nil, err
	}
	a, err := c.required(n, "name")
	if err != nil {
		return nil, err
	}
	m := &emitMetric{stmtMeta: c.meta(n), namespace: "API Management"}
	if m.name, err = c.constant(n, a); err != nil {
		return nil, err
	}
	if strings.TrimSpace(m.name) == "" {
		return nil, c.errf(n, a.Pos, "attribute \"name\" is empty")
	}
	if ns, ok := n.Attr("namespace"); ok {
		if m.namespace, err = c.constant(n, ns); err != nil {
			return nil, err
		}
	}
	m.value = Value{constant: "1"}
	if v, ok := n.Attr("value"); ok {
		if m.value, err = c.value(n, v.Value, v.ValuePos); err != nil {
			return nil, err
		}
	}
	m.dims, err = c.metricDims(n)
	return m, err
}

// metricDims reads the <dimension> children of emit-metric and of the
// token metrics.
func (c *compiler) metricDims(n *Node) ([]metricDim, error) {
	if len(n.Children) == 0 || len(n.Children) > maxMetricDims {
		return nil, c.errf(n, n.Pos, "needs 1 to %d <dimension>s", maxMetricDims)
	}
	var dims []metricDim
	for _, d := range n.Children {
		if err := c.attrs(d, "name", "value"); err != nil {
			return nil, err
		}
		name, err := c.required(d, "name")
		if err != nil {
			return nil, err
		}
		dim := metricDim{}
		if dim.name, err = c.constant(d, name); err != nil {
			return nil, err
		}
		if v, ok := d.Attr("value"); ok {
			val, err := c.value(d, v.Value, v.ValuePos)
			if err != nil {
				return nil, err
			}
			dim.value = &val
		} else if !defaultDims[dim.name] {
			return nil, c.errf(d, d.Pos, "dimension %q is not one of APIM's default dimensions: it needs a value", dim.name)
		}
		dims = append(dims, dim)
	}
	return dims, nil
}

func (m *emitMetric) run(x *Exec) error {
	if m := x.extra(); len(m.metrics) >= maxMetrics {
		return nil
	}
	raw, err := m.value.Eval(x)
	if err != nil {
		return err
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	if err != nil {
		return &Failure{Source: "emit-metric", Reason: "ExpressionValueEvaluationFailure", Message: "emit-metric: value " + strconv.Quote(abbreviate(raw)) + " is not a number", PolicyID: m.id, scope: m.scope, Status: 500, Body: InternalErrorBody}
	}
	rec := Metric{Namespace: m.namespace, Name: m.name}
	if f > 0 && !math.IsInf(f, 0) {
		rec.Value = uint64(min(math.Round(f), 1<<53))
	}
	for _, d := range m.dims {
		v := x.defaultDimension(d.name)
		if d.value != nil {
			if v, err = d.value.Eval(x); err != nil {
				return err
			}
		}
		rec.Dimensions = append(rec.Dimensions, [2]string{d.name, cut(v, 64)})
	}
	x.more.metrics = append(x.more.metrics, rec)
	return nil
}

// defaultDimension is the value of one of APIM's default dimensions.
func (x *Exec) defaultDimension(name string) string {
	switch name {
	case "API ID":
		return x.prog.API
	case "Operation ID":
		return x.prog.Operation
	}
	if x.sub == nil {
		return ""
	}
	switch name {
	case "Subscription ID":
		return x.sub.ID
	case "Product ID":
		if x.sub.Product != nil {
			return x.sub.Product.ID
		}
	case "User ID":
		if x.sub.User != nil {
			return x.sub.User.ID
		}
	}
	return ""
}

// Metrics returns the emit-metric records made since the last call, and
// forgets them.
func (x *Exec) Metrics() []Metric {
	if x.more == nil {
		return nil
	}
	m := x.more.metrics
	x.more.metrics = nil
	return m
}
