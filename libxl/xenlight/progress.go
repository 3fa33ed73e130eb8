//go:build xenlight

package xenlight

import (
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/virtxend/virtxend/libxl"
)

// sendProgress turns libxc's progress reports during a save into a SendDomain's MigrationProgress. libxc
// (xg_sr_save.c) names each round of a live save's memory copy "Frames iteration N" (N from 0, the first pass
// over the guest's whole physical map; a save that is not live has one, "Frames") and reports pages sent of
// the round's pages every 4 MiB, and "Domain now suspended" before the last round; libxl's save helper passes them to the context's logger (vx_progress).
// The first round's page count is the size of the physical map, holes included (a PVH guest's reaches 4 GiB
// whatever its memory), so the data processed is what went through the stream (a TCP connection's
// acknowledged bytes, or what the copy to a tunnel counted) and the total is the guest's memory.
//
// The reports carry no domain: they go to the one SendDomain that holds the context's progress (the first of
// two that run at once; the second then reports none, and its job shows elapsed time only).
type sendProgress struct {
	report   func(libxl.MigrationProgress)
	sent     func() uint64 // bytes written to the stream so far
	pageSize uint64

	mu          sync.Mutex
	p           libxl.MigrationProgress
	round, done uint64 // pages in this round, and sent of them
}

// framesPrefix is what libxc's update_progress_string writes before the round's number.
const framesPrefix = "Frames iteration "

// step takes one report: doing is its text, done and total its pages.
func (s *sendProgress) step(doing string, done, total uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case doing == "Frames", strings.HasPrefix(doing, framesPrefix):
		n := 0 // a save that is not live has one round, "Frames", the guest suspended first
		if doing != "Frames" {
			var err error
			if n, err = strconv.Atoi(strings.TrimSpace(doing[len(framesPrefix):])); err != nil || n < 0 {
				return
			}
		}
		if it := n + 1; it != s.p.Iteration {
			s.p.Iteration, s.round = it, total
		}
		s.done = min(done, s.round)
	case doing == "Domain now suspended":
		s.p.Suspended = true
	default:
		return
	}
	s.p.Processed = s.sent()
	if s.p.Iteration <= 1 { // the first pass sends the whole memory
		s.p.Remaining = s.p.Total - min(s.p.Processed, s.p.Total)
	} else { // later rounds send the pages dirtied meanwhile
		s.p.Remaining = (s.round - s.done) * s.pageSize
	}
	s.report(s.p)
}

// finish reports the stream complete.
func (s *sendProgress) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p.Processed, s.p.Remaining = s.sent(), 0
	s.report(s.p)
}

// progressFor registers a SendDomain's progress callback for the context's reports, for a guest of totalKiB
// whose stream's bytes sent counts; the returned function ends the registration (complete: with a last
// report). Without a callback, or while another send holds the reports, it does nothing.
func (h *Hypervisor) progressFor(report func(libxl.MigrationProgress), totalKiB uint64, sent func() uint64) (end func(complete bool)) {
	if report == nil {
		return func(bool) {}
	}
	s := &sendProgress{report: report, sent: sent, pageSize: max(h.pageKiB, 4) * 1024}
	s.p.Total = totalKiB * 1024
	if !h.progress.CompareAndSwap(nil, s) {
		return func(bool) {}
	}
	return func(complete bool) {
		if h.progress.CompareAndSwap(s, nil) && complete {
			s.finish()
		}
	}
}

// countingWriter counts what goes through it to w.
type countingWriter struct {
	w io.Writer
	n atomic.Uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
}

// tcpBytesAcked returns, for a TCP connection, a reader of its bytes acknowledged by the peer (TCP_INFO's
// tcpi_bytes_acked), or nil.
func tcpBytesAcked(w io.Writer) func() uint64 {
	c, ok := w.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	read := func() (n uint64, ok bool) {
		_ = rc.Control(func(fd uintptr) {
			if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				n, ok = info.Bytes_acked, true
			}
		})
		return n, ok
	}
	base, ok := read() // the connection may have carried something before the stream
	if !ok {
		return nil
	}
	return func() uint64 {
		n, _ := read()
		return n - min(n, base)
	}
}
