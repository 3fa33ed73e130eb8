//go:build xenlight

package xenlight

import (
	"strconv"
	"strings"
	"sync"

	"github.com/virtxend/virtxend/libxl"
)

// sendProgress turns libxc's progress reports during a save into a SendDomain's MigrationProgress. libxc
// (xg_sr_save.c) names each round of the memory copy "Frames iteration N" (N from 0, the first pass over all
// of the guest's pages) and reports pages sent of the round's pages every 4 MiB, then "Domain now suspended"
// before the last round; libxl's save helper passes them to the context's logger (vx_progress).
//
// The reports carry no domain: they go to the one SendDomain that holds the context's progress (the first of
// two that run at once; the second then reports none, and its job shows elapsed time only).
type sendProgress struct {
	report   func(libxl.MigrationProgress)
	pageSize uint64

	mu    sync.Mutex
	p     libxl.MigrationProgress
	round uint64 // pages in this round
	base  uint64 // pages sent in the rounds before it
}

// framesPrefix is what libxc's update_progress_string writes before the round's number.
const framesPrefix = "Frames iteration "

// step takes one report: doing is its text, done and total its pages.
func (s *sendProgress) step(doing string, done, total uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasPrefix(doing, framesPrefix):
		n, err := strconv.Atoi(strings.TrimSpace(doing[len(framesPrefix):]))
		if err != nil || n < 0 {
			return
		}
		if it := n + 1; it != s.p.Iteration {
			if s.p.Iteration != 0 {
				s.base += s.round
			}
			s.p.Iteration, s.round = it, total
			if s.p.Total == 0 {
				s.p.Total = total * s.pageSize
			}
		}
		done = min(done, s.round)
		s.p.Processed = (s.base + done) * s.pageSize
		s.p.Remaining = (s.round - done) * s.pageSize
	case doing == "Domain now suspended":
		s.p.Suspended = true
	default:
		return
	}
	s.report(s.p)
}

// progressFor registers a SendDomain's progress callback for the context's reports; the returned function
// ends the registration. Without a callback, or while another send holds the reports, it does nothing.
func (h *Hypervisor) progressFor(report func(libxl.MigrationProgress)) (end func()) {
	if report == nil {
		return func() {}
	}
	s := &sendProgress{report: report, pageSize: max(h.pageKiB, 4) * 1024}
	if !h.progress.CompareAndSwap(nil, s) {
		return func() {}
	}
	return func() { h.progress.CompareAndSwap(s, nil) }
}
