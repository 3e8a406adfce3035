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
	fmt.Fprintf(&b, "Run %s on %s, %d cores; Envoy 1.40 --concurrency 1 on core 0, wrk and vegeta on core 1; %d interleaved rounds of %d s per load run; token mixes: reuse (%d RS256 tokens round-robin; every cache holds them) and unique (%d tokens round-robin, more than either cache keeps: every request verifies). Latencies at a fixed rate of %.0f req/s (half of B0's first maximum). Medians of per-round values, min–max in brackets.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), rounds, seconds, reuseTokens, uniqueTokens, fixedRate)
	b.WriteString("| variant | what | tokens | max req/s | vs B0 | p50 ms | p99 ms | p99.9 ms | Envoy CPU µs/req | RSS MB | VM pages | ready ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	base := r["B0"]
	for _, v := range variants {
		ms := r[v.name]
		pages := "—"
		if p := summarize(perRound(ms, func(m measurement) float64 { return m.pages })).med; p > 0 {
			pages = fmt.Sprintf("%.0f", p)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %s | %.0f |\n", v.name, v.what, v.mix.name,
			summarize(perRound(ms, rps)).format("%.0f"),
			summarize(ratio(ms, base, rps)).format("%.2f"),
			summarize(perRound(ms, func(m measurement) float64 { return m.p50 })).format("%.3f"),
			summarize(perRound(ms, func(m measurement) float64 { return m.p99 })).format("%.3f"),
			summarize(perRound(ms, func(m measurement) float64 { return m.p999 })).format("%.3f"),
			summarize(perRound(ms, cpu)).format("%.1f"),
			summarize(perRound(ms, func(m measurement) float64 { return m.rssMB })).med, pages,
			summarize(perRound(ms, func(m measurement) float64 { return m.readyMS })).med)
	}
	var saturated []string
	for _, v := range variants {
		if summarize(perRound(r[v.name], rps)).med < fixedRate {
			saturated = append(saturated, v.name)
		}
	}
	if saturated != nil {
		fmt.Fprintf(&b, "\n%s cannot sustain the fixed rate: their latencies there are those of a saturated server (vegeta caps the requests in flight at 64).\n", strings.Join(saturated, ", "))
	}
	b.WriteString("\n| comparison | max req/s ratio | Envoy CPU per request ratio |\n|---|---|---|\n")
	for _, c := range [][2]string{{"P", "G0"}, {"P0", "G0"}, {"P-nc", "N-nc"}, {"P", "N"}, {"P-u", "N-u"}, {"P", "B0"}, {"N", "B0"}, {"G0", "B0"}, {"P0", "B0"}, {"P-rl", "P"}, {"P-rlg", "P"}, {"D", "N"}, {"D-u", "N-u"}, {"P", "D"}} {
		a, z := r[c[0]], r[c[1]]
		fmt.Fprintf(&b, "| %s / %s | %s | %s |\n", c[0], c[1], summarize(ratio(a, z, rps)).format("%.2f"), summarize(ratio(a, z, cpu)).format("%.2f"))
	}
	b.WriteString("\n| Envoy CPU per request, difference | µs |\n|---|---|\n")
	for _, c := range [][2]string{{"P", "G0"}, {"P0", "G0"}, {"P", "P0"}, {"N", "B0"}, {"G0", "B0"}, {"P-nc", "N-nc"}, {"P-rl", "P"}, {"P-rlg", "P"}, {"D0", "B0"}, {"D", "D0"}, {"D", "B0"}, {"D", "N"}, {"P", "D"}, {"D-u", "N-u"}, {"P-u", "D-u"}} {
		fmt.Fprintf(&b, "| %s − %s | %s |\n", c[0], c[1], summarize(difference(r[c[0]], r[c[1]], cpu)).format("%.1f"))
	}
	b.WriteString(nativeTable(r))
	return b.String()
}

// nativeTable is issue #33's table: the native build (D) against Envoy's
// native filters, the Wasm module and the no-op Go module, from the same
// interleaved run.
func nativeTable(r map[string][]measurement) string {
	if r["D"] == nil {
		return ""
	}
	rps := func(m measurement) float64 { return m.rps }
	cpu := func(m measurement) float64 { return m.cpuMicros }
	ready := func(m measurement) float64 { return m.readyMS }
	rss := func(m measurement) float64 { return m.rssMB }
	var b strings.Builder
	b.WriteString("\n| the native build (D) | this run |\n|---|---|\n")
	for _, c := range [][2]string{{"D", "B0"}, {"D", "N"}, {"P", "D"}, {"D0", "B0"}, {"D", "D0"}, {"P0", "D0"}} {
		fmt.Fprintf(&b, "| Envoy CPU per request, %s − %s | %s µs |\n", c[0], c[1], summarize(difference(r[c[0]], r[c[1]], cpu)).format("%.1f"))
	}
	fmt.Fprintf(&b, "| max req/s, D / N | %s |\n", summarize(ratio(r["D"], r["N"], rps)).format("%.2f"))
	if r["D-u"] != nil {
		fmt.Fprintf(&b, "| unique RS256 tokens: Envoy CPU per request, D-u − N-u; P-u − D-u | %s µs; %s µs |\n",
			summarize(difference(r["D-u"], r["N-u"], cpu)).format("%.1f"), summarize(difference(r["P-u"], r["D-u"], cpu)).format("%.1f"))
	}
	fmt.Fprintf(&b, "| time to ready, D; P; G0; B0 | %.0f ms; %.0f ms; %.0f ms; %.0f ms |\n", summarize(perRound(r["D"], ready)).med,
		summarize(perRound(r["P"], ready)).med, summarize(perRound(r["G0"], ready)).med, summarize(perRound(r["B0"], ready)).med)
	fmt.Fprintf(&b, "| RSS after the load run, D; P; G0; N; B0 | %.0f MB; %.0f MB; %.0f MB; %.0f MB; %.0f MB |\n", summarize(perRound(r["D"], rss)).med,
		summarize(perRound(r["P"], rss)).med, summarize(perRound(r["G0"], rss)).med, summarize(perRound(r["N"], rss)).med, summarize(perRound(r["B0"], rss)).med)
	return b.String()
}

// difference is the per-round difference of two variants' values.
func difference(a, b []measurement, get func(measurement) float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = get(a[i]) - get(b[i])
	}
	return out
}

// targetTable is issue #17's table: each target with the figure this run
// measured and whether it is met. points and points2 (the soaks with one
// and two workers) are nil when there was no soak; sizes are the .wasm
// files of P and G0 in bytes.
func targetTable(r map[string][]measurement, points, points2 []memPoint, sizes map[string]int64) string {
	rps := func(m measurement) float64 { return m.rps }
	cpu := func(m measurement) float64 { return m.cpuMicros }
	ready := func(m measurement) float64 { return m.readyMS }
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	var b strings.Builder
	b.WriteString("\n| target | goal | this run | verdict |\n|---|---|---|---|\n")
	row := func(name, goal, got string, ok bool) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, goal, got, verdict(ok))
	}
	pg := summarize(difference(r["P"], r["G0"], cpu))
	nb := summarize(difference(r["N"], r["B0"], cpu))
	row("Envoy CPU per request, P − G0, reuse", "≤ 8 µs", pg.format("%.1f")+" µs", pg.med <= 8)
	row("the same, stretch: no more than Envoy's native filters cost (N − B0)", fmt.Sprintf("≤ %.1f µs", nb.med), pg.format("%.1f")+" µs", pg.med <= nb.med)
	nc := summarize(ratio(r["P-nc"], r["N-nc"], rps))
	row("max req/s, P-nc/N-nc, unique RS256¹", "≥ 0.8", nc.format("%.2f"), nc.med >= 0.8)
	mb := float64(sizes["P"]) / 1e6
	row("`.wasm` size", "≤ 5.0 MB (stretch ≤ 4.0)", fmt.Sprintf("%.2f MB (G0: %.2f MB)", mb, float64(sizes["G0"])/1e6), mb <= 5.0)
	rd := summarize(ratio(r["P"], r["G0"], ready))
	row("time to ready, P / G0, Envoy pinned to one core", "≤ 2.2×", fmt.Sprintf("%s× (P %.1f s, G0 %.1f s)", rd.format("%.2f"),
		summarize(perRound(r["P"], ready)).med/1000, summarize(perRound(r["G0"], ready)).med/1000), rd.med <= 2.2)
	// budget < 0: reported only, the verdict is flatness.
	soakRow := func(name, goal string, points []memPoint, budget int64) {
		if points == nil {
			row(name, goal, "not run (-soak 0)", false)
			return
		}
		last := points[len(points)-1]
		half, most := secondHalf(points)
		row(fmt.Sprintf("%s, %.0f requests²", name, last.requests), goal,
			fmt.Sprintf("%d pages; %d → at most %d over the second half", last.pages, half, most), (budget < 0 || last.pages <= budget) && most-half <= 4)
	}
	soakRow("VM linear memory, `--concurrency 1`", "≤ 140 pages, flat", points, 140)
	soakRow("the same, `--concurrency 2` (sum of both VMs)", "reported; flat", points2, -1)
	b.WriteString("\n¹ Caches off and unique tokens: every request verifies an RS256 signature (P through Envoy's `verify_signature`). P-u/N-u above are the same mix with the caches on.  \n")
	b.WriteString("² The worker VM's linear memory (wasm `memory.size`, which Go never shrinks); flat means it grew by at most 4 pages over the second half.\n")
	return b.String()
}
