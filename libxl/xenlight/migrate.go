//go:build xenlight

package xenlight

/*
#include "vx.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"

	"github.com/virtxend/virtxend/libxl"
)

var _ libxl.Migrator = (*Hypervisor)(nil)

// streamFile returns a file descriptor libxl can use for s: the file itself, a duplicate of a socket's, or the
// near end of a pipe whose far end is copied to or from s (a libvirt tunnel, as libvirt's own pipe thread does).
// wait reports the copy's outcome and closes what streamFile opened.
func streamFile(s any, write bool) (f *os.File, wait func() error, err error) {
	switch v := s.(type) {
	case *os.File:
		return v, func() error { return nil }, nil
	case interface{ File() (*os.File, error) }:
		if _, ok := s.(syscall.Conn); ok {
			f, err := v.File()
			if err != nil {
				return nil, nil, err
			}
			return f, f.Close, nil
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	done := make(chan error, 1)
	if write {
		go func() {
			_, err := io.Copy(s.(io.Writer), r)
			r.Close()
			done <- err
		}()
		return w, func() error { w.Close(); return <-done }, nil
	}
	go func() {
		_, err := io.Copy(w, s.(io.Reader))
		w.Close()
		done <- err
	}()
	return r, func() error { r.Close(); return nil }, nil
}

// SendDomain sends a running domain to w with libxl_domain_suspend (LIBXL_SUSPEND_LIVE with opts.Live), as
// libvirt's libxlDoMigrateSrcSend does; the domain is left suspended. On failure it is resumed.
func (h *Hypervisor) SendDomain(ctx context.Context, domid libxl.DomID, w io.Writer, opts libxl.SendOptions) (err error) {
	if err := guest("migrate", domid); err != nil {
		return err
	}
	var sent func() uint64
	if opts.Progress != nil {
		// The job's data processed is what went through the stream: a TCP connection's acknowledged bytes
		// (libxl writes to the socket itself: a relay in between made a live migration under TCG 1.8x slower),
		// else what the copy to the stream (a pipe's far end) counts.
		sent = tcpBytesAcked(w)
		if sent == nil {
			cw := &countingWriter{w: w}
			w, sent = cw, cw.n.Load
		}
	}
	f, wait, err := streamFile(w, true)
	if err != nil {
		return fmt.Errorf("migrate: domain %d: %w", domid, err)
	}
	if err := h.begin(ctx); err != nil {
		wait()
		return err
	}
	if opts.Progress != nil {
		var totalKiB uint64
		if d, err := h.info(domid); err == nil {
			totalKiB = d.currentKiB
		}
		defer func(end func(bool)) { end(err == nil) }(h.progressFor(opts.Progress, totalKiB, sent))
	}
	flags := C.int(0)
	if opts.Live {
		flags = C.LIBXL_SUSPEND_LIVE
	}
	rc := C.libxl_domain_suspend(h.ctx, C.uint32_t(domid), C.int(f.Fd()), flags, nil)
	runtime.KeepAlive(f)
	h.end()
	werr := wait()
	if rc != 0 || werr != nil {
		err := errors.Join(werr)
		if rc != 0 {
			err = errors.Join(h.fail("libxl_domain_suspend", rc, domid), werr)
		}
		if h.exists(domid) {
			if rrc := C.libxl_domain_resume(h.ctx, C.uint32_t(domid), 1, nil); rrc != 0 {
				h.log().Error(newError("libxl_domain_resume", int(rrc)), "cannot resume a domain whose migration failed", "domid", domid)
			}
		}
		return fmt.Errorf("migrate: domain %d: %w", domid, err)
	}
	return nil
}

// ReceiveDomain creates a paused domain from a migration stream (libxl_domain_create_restore, stream version 2,
// what libxl_domain_suspend writes since Xen 4.6).
func (h *Hypervisor) ReceiveDomain(ctx context.Context, cfg *libxl.DomainConfig, r io.Reader, opts libxl.ReceiveOptions) (libxl.DomID, error) {
	if cfg == nil {
		return 0, fmt.Errorf("receive domain: a libxl migration stream holds no configuration, one must be given: %w", libxl.ErrInvalid)
	}
	if v := opts.StreamVersion; v != 0 && v != libxl.MigrationStreamVersion {
		return 0, fmt.Errorf("receive domain: migration stream version %d is not supported: %w", v, libxl.ErrInvalid)
	}
	f, wait, err := streamFile(r, false)
	if err != nil {
		return 0, fmt.Errorf("receive domain: %w", err)
	}
	defer wait()
	copts := opts.CreateOptions
	copts.Paused = true
	id, err := h.build(ctx, "migrate", cfg, f, copts)
	if err != nil {
		return 0, fmt.Errorf("receive domain: %w", err)
	}
	return id, nil
}

// ResumeDomain resumes a domain SendDomain left suspended (libxl_domain_resume, cooperative).
func (h *Hypervisor) ResumeDomain(ctx context.Context, domid libxl.DomID) error {
	if err := guest("resume", domid); err != nil {
		return err
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	if rc := C.libxl_domain_resume(h.ctx, C.uint32_t(domid), 1, nil); rc != 0 {
		return fmt.Errorf("resume: domain %d: %w", domid, h.fail("libxl_domain_resume", rc, domid))
	}
	return nil
}
