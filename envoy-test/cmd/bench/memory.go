package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// memPoint is the module's memory gauge after some number of requests.
type memPoint struct {
	requests float64
	pages    int64
}

// memorySoak sends at least total requests through one Envoy running v with
// that many workers, in closed-loop chunks of chunk seconds, and reads the
// plugin's apimguard.vm.memory_pages gauge from the admin endpoint after
// each chunk. With two workers the gauge is the sum of both VMs.
func memorySoak(envoyBin string, v variant, total float64, chunk, workers int) ([]memPoint, error) {
	e, _, err := startWorkers(envoyBin, v, workers)
	if err != nil {
		return nil, err
	}
	defer e.Stop()
	pages, err := memoryGauge(e.AdminPort)
	if err != nil {
		return nil, err
	}
	points := []memPoint{{0, pages}}
	var sent float64
	for sent < total {
		n, err := wrk(e.URL(""), v.mix.script, chunk)
		if err != nil {
			return nil, err
		}
		sent += n
		if pages, err = memoryGauge(e.AdminPort); err != nil {
			return nil, err
		}
		points = append(points, memPoint{sent, pages})
		fmt.Fprintf(os.Stderr, "memory %s (%d workers) %9.0f requests  %d pages\n", v.name, workers, sent, pages)
	}
	return points, nil
}

// memoryGauge reads the plugin's memory gauge: with --concurrency 1, the
// linear memory of the one worker's VM (0 before the first request).
func memoryGauge(adminPort int) (int64, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/stats?filter=apimguard.vm.memory_pages", adminPort))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, ": ")
		if ok && strings.HasSuffix(name, "apimguard.vm.memory_pages") {
			return strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		}
	}
	return 0, fmt.Errorf("no apimguard.vm.memory_pages in Envoy's stats:\n%s", b)
}

// memoryReport is the soak's table and its verdict against the budget.
func memoryReport(name string, points []memPoint, workers int) string {
	var b strings.Builder
	last := points[len(points)-1]
	if workers == 1 {
		fmt.Fprintf(&b, "\nMemory soak: %s, %.0f requests (reuse mix) through one Envoy (`--concurrency 1`); the plugin's `apimguard.vm.memory_pages` gauge (the worker VM's linear memory in 64 KiB pages) after each load chunk.\n\n", name, last.requests)
	} else {
		fmt.Fprintf(&b, "\nThe same with `--concurrency %d` (both workers on core 0, the kernel spreading wrk's 16 connections over them): the gauge is the sum of the %d worker VMs' pages.\n\n", workers, workers)
	}
	b.WriteString("| requests | pages |\n|---|---|\n")
	for _, p := range points {
		fmt.Fprintf(&b, "| %.0f | %d |\n", p.requests, p.pages)
	}
	atHalf, maxSecond := secondHalf(points)
	fmt.Fprintf(&b, "\nAt the end: %d pages; over the second half the gauge went from %d to at most %d.\n", last.pages, atHalf, maxSecond)
	return b.String()
}

// secondHalf returns the gauge at the first point of the soak's second half
// and its maximum from there on.
func secondHalf(points []memPoint) (atHalf, most int64) {
	last := points[len(points)-1]
	atHalf = -1
	for _, p := range points {
		if p.requests >= last.requests/2 {
			if atHalf < 0 {
				atHalf = p.pages
			}
			most = max(most, p.pages)
		}
	}
	return atHalf, most
}
