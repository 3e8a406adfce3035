//go:build !wasip1

package main

import "time"

// wallClock, in the plugin compiled for the host (tests only), is time.Now.
func wallClock() time.Time { return time.Now() }
