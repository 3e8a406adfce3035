package main

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"
)

// stat is a median with the min and max of the per-round values.
type stat struct{ med, lo, hi float64 }

func summarize(vals []float64) stat {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	return stat{med: s[len(s)/2], lo: s[0], hi: s[len(s)-1]}
}

func (s stat) format(f string) string {
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s.med, s.lo, s.hi)
}

// perRound applies get to each round's measurement of a variant.
func perRound(ms []measurement, get func(measurement) float64) []float64 {
	out := make([]float64, len(ms))
	for i, m := range ms {
		out[i] = get(m)
	}
	return out
}

// ratio is the per-round ratio of two variants' values.
func ratio(a, b []measurement, get func(measurement) float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = get(a[i]) / get(b[i])
	}
	return out
}

func report(variants []variant, r map[string][]measurement, rounds, seconds int, fixedRate float64) string {
	rps := func(m measurement) float64 { return m.rps }
	cpu := func(m measurement) float64 { return m.cpuMicros }
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s on %s, %d cores; Envoy 1.40 --concurrency 1 on core 0, wrk and vegeta on core 1; %d interleaved rounds of %d s per load run; token mix: reuse (100 RS256 tokens round-robin). Latencies at a fixed rate of %.0f req/s (half of B0's first maximum). Medians of per-round values, min–max in brackets.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), rounds, seconds, fixedRate)
	b.WriteString("| variant | what | max req/s | vs B0 | p50 ms | p99 ms | p99.9 ms | Envoy CPU µs/req | RSS MB | ready ms |\n|---|---|---|---|---|---|---|---|---|---|\n")
	base := r["B0"]
	for _, v := range variants {
		ms := r[v.name]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %.0f |\n", v.name, v.what,
			summarize(perRound(ms, rps)).format("%.0f"),
			summarize(ratio(ms, base, rps)).format("%.2f"),
			summarize(perRound(ms, func(m measurement) float64 { return m.p50 })).format("%.3f"),
			summarize(perRound(ms, func(m measurement) float64 { return m.p99 })).format("%.3f"),
			summarize(perRound(ms, func(m measurement) float64 { return m.p999 })).format("%.3f"),
			summarize(perRound(ms, cpu)).format("%.1f"),
			summarize(perRound(ms, func(m measurement) float64 { return m.rssMB })).med,
			summarize(perRound(ms, func(m measurement) float64 { return m.readyMS })).med)
	}
	var saturated []string
	for _, v := range variants {
		if summarize(perRound(r[v.name], rps)).med < fixedRate {
			saturated = append(saturated, v.name)
		}
	}
	if saturated != nil {
		fmt.Fprintf(&b, "\n%s cannot sustain the fixed rate: its latencies are those of a saturated server (vegeta caps the requests in flight at 64).\n", strings.Join(saturated, ", "))
	}
	b.WriteString("\n| comparison | max req/s ratio | Envoy CPU per request ratio |\n|---|---|---|\n")
	for _, c := range [][2]string{{"P", "N"}, {"P-nc", "N-nc"}, {"P", "B0"}, {"N", "B0"}} {
		a, z := r[c[0]], r[c[1]]
		fmt.Fprintf(&b, "| %s / %s | %s | %s |\n", c[0], c[1], summarize(ratio(a, z, rps)).format("%.2f"), summarize(ratio(a, z, cpu)).format("%.2f"))
	}
	return b.String()
}
