package main

// The plugin's two clocks, both the host's wall clock (wallClock, one host
// call) unless something replaces them.
var (
	// now times the plugin itself: key refreshes and retries, a call's
	// timeout, the seconds of the event line limit. Tests replace it.
	now = wallClock
	// clock is the time token checks use. The VM configuration may fix it
	// ({"testClock": "2026-01-01T00:00:00Z"}) for policy tests, while now
	// keeps running so that key fetches are still retried; see OnVMStart.
	clock = wallClock
)
