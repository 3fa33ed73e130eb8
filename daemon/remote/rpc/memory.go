package rpc

import (
	"runtime/debug"
	"sync"
	"time"
)

// largeClient is what a connection must have held at some point (Client memory account: calls being served and
// packets queued) for its departure to return memory to the operating system (Options.ReturnMemory).
const largeClient = 1 << 20

// Pacing of the memory returns: a return waits returnMemoryDelay after the departure that asked for it, so that a
// crowd leaving together causes one, and follows the previous one by returnMemoryInterval at least.
const (
	returnMemoryDelay    = 500 * time.Millisecond
	returnMemoryInterval = 2 * time.Second
)

// memoryReturner returns freed memory to the operating system on request, coalescing requests.
type memoryReturner struct {
	mu      sync.Mutex
	timer   *time.Timer // pending return, nil when none
	last    time.Time   // when the last return ran
	stopped bool
}

// schedule asks for a return soon; a return already pending covers the request.
func (m *memoryReturner) schedule() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer != nil || m.stopped {
		return
	}
	wait := max(returnMemoryDelay, time.Until(m.last.Add(returnMemoryInterval)))
	m.timer = time.AfterFunc(wait, m.run)
}

func (m *memoryReturner) run() {
	debug.FreeOSMemory()
	m.mu.Lock()
	m.timer = nil
	m.last = time.Now()
	m.mu.Unlock()
}

// stop cancels a pending return and refuses later ones.
func (m *memoryReturner) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
}
