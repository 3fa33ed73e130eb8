package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// profiler writes a CPU and an allocation profile of each in-process phase under dir (nothing when dir is
// empty), named PHASE-N.cpu and PHASE-N.allocs, and the live heap with n running domains (rest-N.heap), for
// `go tool pprof`.
type profiler struct {
	dir   string
	n     int
	phase string
	cpu   *os.File
}

// start begins the CPU profile of phase.
func (p *profiler) start(phase string) {
	if p.dir == "" {
		return
	}
	must(os.MkdirAll(p.dir, 0o755))
	p.phase = phase
	f, err := os.Create(filepath.Join(p.dir, fmt.Sprintf("%s-%d.cpu", phase, p.n)))
	must(err)
	must(pprof.StartCPUProfile(f))
	p.cpu = f
}

// stop ends the phase's CPU profile and writes the allocations made so far.
func (p *profiler) stop() {
	if p.cpu == nil {
		return
	}
	pprof.StopCPUProfile()
	must(p.cpu.Close())
	p.cpu = nil
	runtime.GC()
	f, err := os.Create(filepath.Join(p.dir, fmt.Sprintf("%s-%d.allocs", p.phase, p.n)))
	must(err)
	must(pprof.Lookup("allocs").WriteTo(f, 0))
	must(f.Close())
}

// heap writes the live heap, as of a full collection, to rest-N.heap.
func (p *profiler) heap() {
	if p.dir == "" {
		return
	}
	must(os.MkdirAll(p.dir, 0o755))
	runtime.GC()
	f, err := os.Create(filepath.Join(p.dir, fmt.Sprintf("rest-%d.heap", p.n)))
	must(err)
	must(pprof.Lookup("heap").WriteTo(f, 0))
	must(f.Close())
}
