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

// SetMemoryTarget sets the balloon target in KiB (libxl_set_memory_target, absolute, enforced as libvirt does).
// A target above the static maximum fails with libxl.ErrInvalid.
func (h *Hypervisor) SetMemoryTarget(ctx context.Context, domid libxl.DomID, kib uint64) error {
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	if _, err := h.live("set memory target", domid); err != nil {
		return err
	}
	if kib == 0 || kib > 1<<62 {
		return fmt.Errorf("set memory target: domain %d: target %d KiB: %w", domid, kib, libxl.ErrInvalid)
	}
	if rc := C.libxl_set_memory_target(h.ctx, C.uint32_t(domid), C.int64_t(kib), 0, 1); rc != 0 {
		return fmt.Errorf("set memory target: domain %d to %d KiB: %w", domid, kib, h.fail("libxl_set_memory_target", rc, domid))
	}
	return nil
}

// SetMaxMemory sets the static maximum in KiB (libxl_domain_setmaxmem); below the balloon target it fails with
// libxl.ErrInvalid.
func (h *Hypervisor) SetMaxMemory(ctx context.Context, domid libxl.DomID, kib uint64) error {
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	if _, err := h.live("set max memory", domid); err != nil {
		return err
	}
	if rc := C.libxl_domain_setmaxmem(h.ctx, C.uint32_t(domid), C.uint64_t(kib)); rc != 0 {
		return fmt.Errorf("set max memory: domain %d to %d KiB: %w", domid, kib, h.fail("libxl_domain_setmaxmem", rc, domid))
	}
	return nil
}

// SetVcpusOnline brings vcpus 0..n-1 online and the others offline (libxl_set_vcpuonline); n must be in
// 1..max vcpus.
func (h *Hypervisor) SetVcpusOnline(ctx context.Context, domid libxl.DomID, n int) error {
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	d, err := h.live("set vcpus", domid)
	if err != nil {
		return err
	}
	if n < 1 || n > d.maxVcpus {
		return fmt.Errorf("set vcpus: domain %d: %d vcpus outside 1..%d (max_vcpus): %w", domid, n, d.maxVcpus, libxl.ErrInvalid)
	}
	if rc := C.vx_set_vcpus(h.ctx, C.uint32_t(domid), C.int(d.maxVcpus), C.int(n)); rc != 0 {
		return fmt.Errorf("set vcpus: domain %d to %d: %w", domid, n, h.fail("libxl_set_vcpuonline", rc, domid))
	}
	return nil
}

// PinVcpu sets the hard affinity of one vcpu (libxl_set_vcpuaffinity).
func (h *Hypervisor) PinVcpu(ctx context.Context, domid libxl.DomID, vcpu int, cpus []int) error {
	if len(cpus) == 0 {
		return fmt.Errorf("pin vcpu: domain %d vcpu %d: empty cpu map: %w", domid, vcpu, libxl.ErrInvalid)
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	d, err := h.live("pin vcpu", domid)
	if err != nil {
		return err
	}
	if vcpu < 0 || vcpu >= d.maxVcpus {
		return fmt.Errorf("pin vcpu: domain %d has no vcpu %d: %w", domid, vcpu, libxl.ErrInvalid)
	}
	ccpus := make([]C.int, len(cpus))
	for i, c := range cpus {
		ccpus[i] = C.int(c)
	}
	if rc := C.vx_pin_vcpu(h.ctx, C.uint32_t(domid), C.uint32_t(vcpu), &ccpus[0], C.int(len(ccpus))); rc != 0 {
		return fmt.Errorf("pin vcpu: domain %d vcpu %d to %v: %w", domid, vcpu, cpus, h.fail("libxl_set_vcpuaffinity", rc, domid))
	}
	return nil
}

// SchedParams reports a domain's credit-scheduler weight and cap (libxl_domain_sched_params_get).
func (h *Hypervisor) SchedParams(ctx context.Context, domid libxl.DomID) (libxl.SchedParams, error) {
	if err := h.begin(ctx); err != nil {
		return libxl.SchedParams{}, err
	}
	defer h.end()
	if _, err := h.info(domid); err != nil {
		return libxl.SchedParams{}, err
	}
	var weight, capPct C.int
	if rc := C.vx_sched_get(h.ctx, C.uint32_t(domid), &weight, &capPct); rc != 0 {
		return libxl.SchedParams{}, fmt.Errorf("scheduler parameters of domain %d: %w", domid, h.fail("libxl_domain_sched_params_get", rc, domid))
	}
	return libxl.SchedParams{Weight: int(weight), Cap: int(capPct)}, nil
}

// SetSchedParams sets a running domain's credit-scheduler weight and cap (libxl_domain_sched_params_set, after
// a get: a KeepSchedParam field keeps its value). libxl checks the cap against the domain's vcpus.
func (h *Hypervisor) SetSchedParams(ctx context.Context, domid libxl.DomID, p libxl.SchedParams) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("set scheduler parameters: domain %d: %w", domid, err)
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	if _, err := h.live("set scheduler parameters", domid); err != nil {
		return err
	}
	if rc := C.vx_sched_set(h.ctx, C.uint32_t(domid), C.int(p.Weight), C.int(p.Cap)); rc != 0 {
		return fmt.Errorf("set scheduler parameters of domain %d: %w", domid, h.fail("libxl_domain_sched_params_set", rc, domid))
	}
	return nil
}

// VcpuInfo reports each vcpu of a domain (libxl_list_vcpu).
func (h *Hypervisor) VcpuInfo(ctx context.Context, domid libxl.DomID) ([]libxl.VcpuInfo, error) {
	if err := h.begin(ctx); err != nil {
		return nil, err
	}
	defer h.end()
	var n, nrCPUs C.int
	l := C.libxl_list_vcpu(h.ctx, C.uint32_t(domid), &n, &nrCPUs)
	if l == nil {
		return nil, fmt.Errorf("vcpu info: domain %d: %w", domid, h.fail("libxl_list_vcpu", errFail, domid))
	}
	defer C.libxl_vcpuinfo_list_free(l, n)
	vcpus := unsafe.Slice(l, int(n))
	out := make([]libxl.VcpuInfo, len(vcpus))
	for i := range vcpus {
		v := &vcpus[i]
		var aff []int
		for c := range int(nrCPUs) {
			if C.libxl_bitmap_test(&v.cpumap, C.int(c)) != 0 {
				aff = append(aff, c)
			}
		}
		out[i] = libxl.VcpuInfo{
			ID:       int(v.vcpuid),
			Online:   bool(v.online),
			Running:  bool(v.running),
			Blocked:  bool(v.blocked),
			CPU:      int(v.cpu),
			CPUTime:  time.Duration(v.vcpu_time),
			Affinity: aff,
		}
	}
	slices.SortFunc(out, func(a, b libxl.VcpuInfo) int { return a.ID - b.ID })
	return out, nil
}

// SetUserdata stores data under key (libxl_userdata_store, a file under /var/lib/xen that lives as long as the
// domain); empty data deletes the key. Domain-0 has userdata too.
func (h *Hypervisor) SetUserdata(ctx context.Context, domid libxl.DomID, key string, data []byte) error {
	if err := checkUserdataKey(key); err != nil {
		return fmt.Errorf("set userdata: domain %d: %w", domid, err)
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	return h.storeUserdata(domid, key, data)
}

func (h *Hypervisor) storeUserdata(domid libxl.DomID, key string, data []byte) error {
	ckey, free := cstring(key)
	defer free()
	var p *C.uint8_t
	if len(data) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	if rc := C.libxl_userdata_store(h.ctx, C.uint32_t(domid), ckey, p, C.int(len(data))); rc != 0 {
		return fmt.Errorf("set userdata: domain %d key %q: %w", domid, key, h.fail("libxl_userdata_store", rc, domid))
	}
	return nil
}

// Userdata reads a blob stored by SetUserdata (libxl_userdata_retrieve); libxl.ErrNoUserdata when there is none.
func (h *Hypervisor) Userdata(ctx context.Context, domid libxl.DomID, key string) ([]byte, error) {
	if err := checkUserdataKey(key); err != nil {
		return nil, fmt.Errorf("userdata: domain %d: %w", domid, err)
	}
	if err := h.begin(ctx); err != nil {
		return nil, err
	}
	defer h.end()
	ckey, free := cstring(key)
	defer free()
	var data *C.uint8_t
	var n C.int
	if rc := C.libxl_userdata_retrieve(h.ctx, C.uint32_t(domid), ckey, &data, &n); rc != 0 {
		return nil, fmt.Errorf("userdata: domain %d key %q: %w", domid, key, h.fail("libxl_userdata_retrieve", rc, domid))
	}
	if data == nil || n <= 0 {
		if data != nil {
			C.free(unsafe.Pointer(data))
		}
		if !h.exists(domid) {
			return nil, fmt.Errorf("userdata: domain %d: %w", domid, libxl.ErrNoDomain)
		}
		return nil, fmt.Errorf("userdata: domain %d key %q: %w", domid, key, libxl.ErrNoUserdata)
	}
	defer C.free(unsafe.Pointer(data))
	return C.GoBytes(unsafe.Pointer(data), n), nil
}

// ConsolePath returns the pty of a domain's console as xenconsoled published it (libxl_console_get_tty). A
// console the domain lacks, or whose pty is not there yet, is libxl.ErrNoDevice.
func (h *Hypervisor) ConsolePath(ctx context.Context, domid libxl.DomID, kind libxl.ConsoleKind, n int) (string, error) {
	if err := guest("console", domid); err != nil {
		return "", err
	}
	if kind != libxl.ConsolePV && kind != libxl.ConsoleSerial {
		return "", fmt.Errorf("console: domain %d: unknown console kind %d: %w", domid, kind, libxl.ErrInvalid)
	}
	if n < 0 {
		return "", fmt.Errorf("console: domain %d: console %d: %w", domid, n, libxl.ErrInvalid)
	}
	if err := h.begin(ctx); err != nil {
		return "", err
	}
	defer h.end()
	var path *C.char
	if rc := C.libxl_console_get_tty(h.ctx, C.uint32_t(domid), C.int(n), C.libxl_console_type(kind), &path); rc != 0 {
		e := h.fail("libxl_console_get_tty", rc, domid)
		if e.Err == nil {
			e.Err = libxl.ErrNoDevice
		}
		return "", fmt.Errorf("console: domain %d has no console %d of kind %d: %w", domid, n, kind, e)
	}
	defer C.free(unsafe.Pointer(path))
	return C.GoString(path), nil
}
