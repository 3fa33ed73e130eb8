package rpc

import "sync"

// WorkerStats describes a server's workers (virt-admin srv-threadpool-info).
type WorkerStats struct {
	// Max is max_workers, negative when calls are not bounded.
	Max int
	// Prio is prio_workers.
	Prio int
	// Busy is the number of calls the workers serve now, priority workers included.
	Busy int
	// Queued is the number of calls waiting for a worker (the job queue depth).
	Queued int
}

// workerPool bounds the calls a server serves at once, as libvirt's thread pool does: max regular workers serve
// any call, prio more serve only high-priority procedures, and calls wait for a worker in arrival order. There
// are no threads behind it: a call runs on its own goroutine once it holds a worker.
type workerPool struct {
	mu       sync.Mutex
	max      int // negative: no bound
	prio     int
	busy     int // regular workers in use
	busyPrio int // priority workers in use
	queue    []*workerWait
}

// workerWait is a call waiting for a worker; ch receives whether it got a priority worker.
type workerWait struct {
	priority bool
	ch       chan bool
}

func newWorkerPool(maxWorkers, prioWorkers int) *workerPool {
	return &workerPool{max: maxWorkers, prio: prioWorkers}
}

// acquire waits for a worker and reports whether it is a priority worker, to give back with release; ok is false
// when cancel closed first.
func (p *workerPool) acquire(priority bool, cancel <-chan struct{}) (prio, ok bool) {
	p.mu.Lock()
	if len(p.queue) == 0 {
		prio, ok = p.takeLocked(priority)
	} else if priority && p.busyPrio < p.prio {
		// Waiting calls mean every regular worker is busy: a high-priority call still gets a free priority worker.
		p.busyPrio++
		prio, ok = true, true
	}
	if ok {
		p.mu.Unlock()
		return prio, true
	}
	w := &workerWait{priority: priority, ch: make(chan bool, 1)}
	p.queue = append(p.queue, w)
	p.mu.Unlock()
	select {
	case prio := <-w.ch:
		return prio, true
	case <-cancel:
		p.mu.Lock()
		for i, q := range p.queue {
			if q == w {
				p.queue = append(p.queue[:i], p.queue[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
		select {
		case prio := <-w.ch: // handed a worker meanwhile: give it back
			p.release(prio)
		default:
		}
		return false, false
	}
}

// takeLocked takes a free worker if there is one for the call: a regular one, else for a high-priority call a
// priority one.
func (p *workerPool) takeLocked(priority bool) (prio, ok bool) {
	switch {
	case p.max < 0 || p.busy < p.max:
		p.busy++
		return false, true
	case priority && p.busyPrio < p.prio:
		p.busyPrio++
		return true, true
	}
	return false, false
}

// release gives back a worker acquire returned, once.
func (p *workerPool) release(prio bool) {
	p.mu.Lock()
	if prio {
		p.busyPrio--
	} else {
		p.busy--
	}
	p.handOutLocked()
	p.mu.Unlock()
}

// handOutLocked gives free workers to the waiting calls, oldest first; a regular call waits behind nobody it
// could not pass anyway, so a high-priority call may take a priority worker ahead of older regular calls.
func (p *workerPool) handOutLocked() {
	for i := 0; i < len(p.queue); {
		w := p.queue[i]
		prio, ok := p.takeLocked(w.priority)
		if !ok {
			if p.max >= 0 && p.busy >= p.max && p.busyPrio >= p.prio {
				return // nothing left for anyone
			}
			i++ // a regular call while only priority workers are free
			continue
		}
		p.queue = append(p.queue[:i], p.queue[i+1:]...)
		w.ch <- prio
	}
}

func (p *workerPool) setLimits(maxWorkers, prioWorkers int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.max, p.prio = maxWorkers, prioWorkers
	p.handOutLocked()
}

func (p *workerPool) stats() WorkerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return WorkerStats{Max: p.max, Prio: p.prio, Busy: p.busy + p.busyPrio, Queued: len(p.queue)}
}
