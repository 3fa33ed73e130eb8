//go:build xenlight

package xenlight

/*
#include "vx.h"
*/
import "C"

import (
	"context"
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/virtxend/virtxend/libxl"
)

// rawDom is a libxl_dominfo in Go.
type rawDom struct {
	id                 libxl.DomID
	uuid               string
	flags              domFlags
	currentKiB, maxKiB uint64
	cpuTime            time.Duration
	maxVcpus, online   int
	typ                libxl.DomainType
}

func fromDominfo(d *C.libxl_dominfo) rawDom {
	var u [16]byte
	for i := range u {
		u[i] = byte(d.uuid.uuid[i])
	}
	return rawDom{
		id:   libxl.DomID(d.domid),
		uuid: formatUUID(u),
		flags: domFlags{Running: bool(d.running), Blocked: bool(d.blocked), Paused: bool(d.paused),
			Shutdown: bool(d.shutdown), Dying: bool(d.dying), Reason: int(d.shutdown_reason)},
		currentKiB: uint64(d.current_memkb),
		maxKiB:     uint64(d.max_memkb),
		cpuTime:    time.Duration(d.cpu_time),
		maxVcpus:   int(d.vcpu_max_id) + 1,
		online:     int(d.vcpu_online),
		typ:        domainType(int(d.domain_type)),
	}
}

// list returns every domain, ordered by domid.
func (h *Hypervisor) list() ([]rawDom, error) {
	var n C.int
	l := C.libxl_list_domain(h.ctx, &n)
	if l == nil {
		return nil, newError("libxl_list_domain", errFail)
	}
	defer C.libxl_dominfo_list_free(l, n)
	infos := unsafe.Slice(l, int(n))
	out := make([]rawDom, len(infos))
	for i := range infos {
		out[i] = fromDominfo(&infos[i])
	}
	slices.SortFunc(out, func(a, b rawDom) int { return int(a.id) - int(b.id) })
	return out, nil
}

// info returns one domain; the error wraps libxl.ErrNoDomain when there is none.
func (h *Hypervisor) info(id libxl.DomID) (rawDom, error) {
	var d C.libxl_dominfo
	C.libxl_dominfo_init(&d)
	defer C.libxl_dominfo_dispose(&d)
	if rc := C.libxl_domain_info(h.ctx, &d, C.uint32_t(id)); rc != 0 {
		return rawDom{}, fmt.Errorf("domain %d: %w", id, newError("libxl_domain_info", int(rc)))
	}
	return fromDominfo(&d), nil
}

// exists reports whether domain id exists; a failure to tell counts as existing.
func (h *Hypervisor) exists(id libxl.DomID) bool {
	return C.libxl_domain_info(h.ctx, nil, C.uint32_t(id)) != C.ERROR_DOMAIN_NOTFOUND
}

// fail describes a failed per-domain call: libxl often reports a vanished domain as a plain failure, so a code
// that maps to no sentinel is checked against the domain's existence.
func (h *Hypervisor) fail(op string, rc C.int, id libxl.DomID) *Error {
	e := newError(op, int(rc))
	if e.Err == nil && !h.exists(id) {
		e.Err = libxl.ErrNoDomain
	}
	return e
}

// live returns domain id if it is running or paused: ErrNoDomain, or ErrBadState when it is shut down or dying.
func (h *Hypervisor) live(op string, id libxl.DomID) (rawDom, error) {
	d, err := h.info(id)
	if err != nil {
		return d, fmt.Errorf("%s: %w", op, err)
	}
	if st, _ := d.flags.state(); st != libxl.StateRunning && st != libxl.StatePaused {
		return d, fmt.Errorf("%s: domain %d is %s: %w", op, id, st, libxl.ErrBadState)
	}
	return d, nil
}

// guest refuses Domain-0 for the operations it does not support.
func guest(op string, id libxl.DomID) error {
	if id == libxl.Dom0 {
		return fmt.Errorf("%s: domain 0: %w", op, libxl.ErrDom0)
	}
	return nil
}

// xsRead reads a xenstore key; ok is false when it does not exist (or cannot be read).
func (h *Hypervisor) xsRead(path string) (string, bool) {
	cp, free := cstring(path)
	defer free()
	var n C.uint
	p := C.xs_read(h.xsh, C.XBT_NULL, cp, &n)
	if p == nil {
		return "", false
	}
	defer C.free(p)
	return C.GoStringN((*C.char)(p), C.int(n)), true
}

// readName returns a domain's name from xenstore.
func (h *Hypervisor) readName(id libxl.DomID) string {
	name, _ := h.xsRead(fmt.Sprintf("/local/domain/%d/name", id))
	if name == "" && id == libxl.Dom0 {
		name = "Domain-0"
	}
	return name
}

// toInfo completes a rawDom with what libxl keeps in xenstore: the name, the balloon target and the static
// maximum (see memoryKiB), the creation time.
func (h *Hypervisor) toInfo(d rawDom) libxl.DomainInfo {
	base := fmt.Sprintf("/local/domain/%d", d.id)
	target, _ := h.xsRead(base + "/memory/target")
	video, _ := h.xsRead(base + "/memory/videoram")
	staticMax, _ := h.xsRead(base + "/memory/static-max")
	targetKiB, maxKiB := memoryKiB(target, video, staticMax, d.currentKiB, d.maxKiB)
	st, reason := d.flags.state()
	return libxl.DomainInfo{
		DomID:          d.id,
		UUID:           d.uuid,
		Name:           h.readName(d.id),
		Type:           d.typ,
		State:          st,
		ShutdownReason: reason,
		MaxMemKiB:      maxKiB,
		CurrentKiB:     d.currentKiB,
		TargetKiB:      targetKiB,
		MaxVcpus:       d.maxVcpus,
		OnlineVcpus:    d.online,
		CPUTime:        d.cpuTime,
		Created:        h.createdAt(d),
	}
}

// createdAt is when libxl built the domain (/vm/<uuid>/start_time), read once per watched domain; Domain-0 was
// built when the host booted.
func (h *Hypervisor) createdAt(d rawDom) time.Time {
	if d.id == libxl.Dom0 {
		return h.bootTime
	}
	h.reg.mu.Lock()
	if w := h.reg.doms[d.id]; w != nil && w.uuid == d.uuid && !w.created.IsZero() {
		t := w.created
		h.reg.mu.Unlock()
		return t
	}
	h.reg.mu.Unlock()
	vm, ok := h.xsRead(fmt.Sprintf("/local/domain/%d/vm", d.id))
	if !ok {
		return time.Time{}
	}
	s, _ := h.xsRead(vm + "/start_time")
	t := startTime(s)
	if !t.IsZero() {
		h.reg.mu.Lock()
		if w := h.reg.doms[d.id]; w != nil && w.uuid == d.uuid {
			w.created = t
		}
		h.reg.mu.Unlock()
	}
	return t
}

// ListDomains returns every domain on the host, Domain-0 included, ordered by domid.
func (h *Hypervisor) ListDomains(ctx context.Context) ([]libxl.DomainInfo, error) {
	if err := h.begin(ctx); err != nil {
		return nil, err
	}
	defer h.end()
	doms, err := h.list()
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	out := make([]libxl.DomainInfo, 0, len(doms))
	for _, d := range doms {
		out = append(out, h.toInfo(d))
	}
	return out, nil
}

// DomainInfo returns one domain.
func (h *Hypervisor) DomainInfo(ctx context.Context, domid libxl.DomID) (libxl.DomainInfo, error) {
	if err := h.begin(ctx); err != nil {
		return libxl.DomainInfo{}, err
	}
	defer h.end()
	d, err := h.info(domid)
	if err != nil {
		return libxl.DomainInfo{}, err
	}
	return h.toInfo(d), nil
}
