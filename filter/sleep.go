package main

import (
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
)

// sleepList holds the requests waiting between a retry's attempts, counted
// in the plugin's ticks (tickMS each): Envoy calls the tick on its own
// timer, so a wait takes real time whatever clock the VM reads (a
// testClock, or the wazero emulator's, which stands still).
type sleepList struct {
	rootID   uint32
	sleeping map[uint32]sleeper
}

type sleeper struct {
	ticks  int
	resume func()
}

func newSleepList(rootID uint32) sleepList {
	return sleepList{rootID: rootID, sleeping: map[uint32]sleeper{}}
}

// add makes request id sleep for d (rounded up to whole ticks), then
// resume.
func (s *sleepList) add(id uint32, d time.Duration, resume func()) {
	ticks := int((d + tickMS*time.Millisecond - 1) / (tickMS * time.Millisecond))
	s.sleeping[id] = sleeper{ticks: max(ticks, 1), resume: resume}
}

// cancel forgets a request that ended while it slept.
func (s *sleepList) cancel(id uint32) { delete(s.sleeping, id) }

// tick counts a tick and resumes the requests whose wait is over, each
// with its own context effective.
func (s *sleepList) tick() {
	if len(s.sleeping) == 0 {
		return
	}
	var due []uint32
	for id, sl := range s.sleeping {
		if sl.ticks--; sl.ticks <= 0 {
			due = append(due, id)
		}
		s.sleeping[id] = sl
	}
	if len(due) == 0 {
		return
	}
	defer proxywasm.SetEffectiveContext(s.rootID)
	for _, id := range due {
		sl := s.sleeping[id]
		delete(s.sleeping, id)
		if proxywasm.SetEffectiveContext(id) != nil {
			continue
		}
		sl.resume()
	}
}
