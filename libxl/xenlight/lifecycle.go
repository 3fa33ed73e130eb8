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
	"os"
	"runtime"
	"time"
	"unsafe"

	"github.com/virtxend/virtxend/libxl"
)

// cConfig is a libxl_domain_config parsed by libxl from our JSON, in C memory.
type cConfig struct {
	c    *C.libxl_domain_config
	name string
}

func (c *cConfig) free() { C.vx_config_free(c.c) }

// parseConfig hands cfg's libxl JSON to libxl_domain_config_from_json: the JSON the Go side prints is the
// contract with libxl, and libxl's parser is the judge of it.
func (h *Hypervisor) parseConfig(cfg *libxl.DomainConfig) (*cConfig, error) {
	if cfg == nil {
		return nil, fmt.Errorf("domain config is nil: %w", libxl.ErrInvalid)
	}
	js, err := cfg.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("domain %q: encode the libxl config: %w", cfg.CInfo.Name, err)
	}
	cjs, free := cstring(string(js))
	defer free()
	var c *C.libxl_domain_config
	if rc := C.vx_config_parse(h.ctx, cjs, &c); rc != 0 {
		return nil, fmt.Errorf("domain %q: %w", cfg.CInfo.Name, newError("libxl_domain_config_from_json", int(rc)))
	}
	return &cConfig{c: c, name: cfg.CInfo.Name}, nil
}

// Canonical has libxl parse cfg (libxl_domain_config_from_json) and print it again
// (libxl_domain_config_to_json): the configuration exactly as libxl understands it. It fails with
// libxl.ErrInvalid when libxl rejects the JSON.
func (h *Hypervisor) Canonical(cfg *libxl.DomainConfig) ([]byte, error) {
	if err := h.begin(context.Background()); err != nil {
		return nil, err
	}
	defer h.end()
	c, err := h.parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	defer c.free()
	s := C.libxl_domain_config_to_json(h.ctx, c.c)
	if s == nil {
		return nil, newError("libxl_domain_config_to_json", errFail)
	}
	defer C.free(unsafe.Pointer(s))
	return []byte(C.GoString(s)), nil
}

// CreateDomain builds a domain from cfg with libxl_domain_create_new. libxl leaves it paused: the userdata of
// opts is stored, the death watch armed, and only then is it unpaused (unless opts.Paused), so that the domain
// never runs unmarked. Any failure after the build destroys the domain. With autoballoon, Domain-0 is ballooned
// down first when the guest does not fit in free memory.
func (h *Hypervisor) CreateDomain(ctx context.Context, cfg *libxl.DomainConfig, opts libxl.CreateOptions) (libxl.DomID, error) {
	id, err := h.build(ctx, "create", cfg, nil, opts)
	if err != nil {
		return 0, fmt.Errorf("create domain: %w", err)
	}
	return id, nil
}

// RestoreDomain creates a domain from a libxl save stream read from f's current offset (what SaveDomain wrote),
// with cfg as its configuration: the stream holds no configuration, so cfg is required.
func (h *Hypervisor) RestoreDomain(ctx context.Context, cfg *libxl.DomainConfig, f *os.File, opts libxl.CreateOptions) (libxl.DomID, error) {
	if cfg == nil {
		return 0, fmt.Errorf("restore domain: a libxl save stream holds no configuration, one must be given: %w", libxl.ErrInvalid)
	}
	id, err := h.build(ctx, "restore", cfg, f, opts)
	if err != nil {
		return 0, fmt.Errorf("restore domain: %w", err)
	}
	return id, nil
}

func (h *Hypervisor) build(ctx context.Context, op string, cfg *libxl.DomainConfig, f *os.File, opts libxl.CreateOptions) (libxl.DomID, error) {
	for k := range opts.Userdata {
		if err := checkUserdataKey(k); err != nil {
			return 0, err
		}
	}
	if err := h.begin(ctx); err != nil {
		return 0, err
	}
	defer h.end()
	c, err := h.parseConfig(cfg)
	if err != nil {
		return 0, err
	}
	defer c.free()
	h.creating.Add(1)
	defer h.creating.Add(-1)

	need, free, merr := h.makeRoom(c)
	if merr != nil {
		return 0, fmt.Errorf("domain %q: %w", c.name, merr)
	}
	fd := C.int(-1)
	if f != nil {
		fd = C.int(f.Fd())
	}
	var domid C.uint32_t
	start := time.Now()
	rc := C.vx_create(h.ctx, c.c, &domid, fd)
	runtime.KeepAlive(f)
	id := libxl.DomID(domid)
	if rc != 0 {
		fn := "libxl_domain_create_new"
		if f != nil {
			fn = "libxl_domain_create_restore"
		}
		e := newError(fn, int(rc))
		if e.Err == nil && need > free {
			e.Err = libxl.ErrNoMemory
		}
		if validGuest(id) {
			h.destroyQuietly(id)
		}
		if errors.Is(e, libxl.ErrNoMemory) {
			return 0, fmt.Errorf("domain %q needs %d KiB, host has %d KiB free: %w", c.name, need, free, e)
		}
		return 0, fmt.Errorf("domain %q: %w", c.name, e)
	}
	h.log().V(1).Info("domain built", "domain", c.name, "domid", id, "op", op, "took", time.Since(start).Round(time.Millisecond))
	if err := h.finishBuild(id, opts); err != nil {
		h.destroyQuietly(id)
		return 0, fmt.Errorf("domain %q (domid %d): %w", c.name, id, err)
	}
	return id, nil
}

// finishBuild marks, watches and starts a domain libxl has just built (paused).
func (h *Hypervisor) finishBuild(id libxl.DomID, opts libxl.CreateOptions) error {
	for k, v := range opts.Userdata {
		if err := h.storeUserdata(id, k, v); err != nil {
			return err
		}
	}
	d, err := h.info(id)
	if err != nil {
		return err
	}
	name := h.readName(id)
	h.watch(id, d.uuid, name, true)
	if !opts.Paused {
		if rc := C.libxl_domain_unpause(h.ctx, C.uint32_t(id), nil); rc != 0 {
			return h.fail("libxl_domain_unpause", rc, id)
		}
		h.setPaused(id, false)
	}
	st := libxl.StateRunning
	if opts.Paused {
		st = libxl.StatePaused
	}
	h.events.Publish(libxl.Event{Type: libxl.EventCreated, DomID: id, UUID: d.uuid, Name: name, State: st,
		Reason: libxl.ShutdownUnknown, Time: time.Now()})
	return nil
}

// validGuest reports whether a domid returned by a failed create names a domain that may need cleaning up.
func validGuest(id libxl.DomID) bool { return id != libxl.Dom0 && id < 0x7ff0 }

// destroyQuietly destroys a half-built domain, logging a failure.
func (h *Hypervisor) destroyQuietly(id libxl.DomID) {
	if rc := C.libxl_domain_destroy(h.ctx, C.uint32_t(id), nil); rc != 0 && h.exists(id) {
		h.log().Error(newError("libxl_domain_destroy", int(rc)), "cannot destroy a domain whose start failed", "domid", id)
	}
}

// makeRoom returns the memory the guest needs and the host has free (KiB) and, with autoballoon, balloons
// Domain-0 down until the guest fits, as libvirt's libxlDomainFreeMem does: up to three rounds of lowering
// Domain-0's target by the shortfall and waiting for the memory.
func (h *Hypervisor) makeRoom(c *cConfig) (need, free uint64, err error) {
	var cneed, cfree C.uint64_t
	if rc := C.libxl_domain_need_memory(h.ctx, c.c, ^C.uint32_t(0), &cneed); rc != 0 {
		return 0, 0, newError("libxl_domain_need_memory", int(rc))
	}
	need = uint64(cneed)
	if !h.autoballoon {
		if rc := C.libxl_get_free_memory(h.ctx, &cfree); rc == 0 {
			free = uint64(cfree)
		} else {
			free = need // unknown: do not call a later failure a lack of memory
		}
		return need, free, nil
	}
	h.balloon.Lock()
	defer h.balloon.Unlock()
	for range 3 {
		if rc := C.libxl_get_free_memory(h.ctx, &cfree); rc != 0 {
			return need, 0, newError("libxl_get_free_memory", int(rc))
		}
		if free = uint64(cfree); free >= need {
			return need, free, nil
		}
		h.log().Info("ballooning Domain-0 down", "needKiB", need, "freeKiB", free)
		if rc := C.libxl_set_memory_target(h.ctx, 0, C.int64_t(free)-C.int64_t(need), 1, 0); rc != 0 {
			return need, free, fmt.Errorf("balloon Domain-0 down: %w", newError("libxl_set_memory_target", int(rc)))
		}
		if C.libxl_wait_for_free_memory(h.ctx, 0, cneed, 10) == 0 {
			return need, need, nil
		}
		if rc := C.libxl_wait_for_memory_target(h.ctx, 0, 10); rc < 0 {
			return need, free, fmt.Errorf("balloon Domain-0 down: %w", newError("libxl_wait_for_memory_target", int(rc)))
		}
	}
	return need, free, fmt.Errorf("failed to balloon domain0 memory: %d KiB needed, %d KiB free: %w", need, free, libxl.ErrNoMemory)
}

// DestroyDomain kills a domain at once (libxl_domain_destroy); EventDeath follows from the death watch.
func (h *Hypervisor) DestroyDomain(ctx context.Context, domid libxl.DomID) error {
	if err := guest("destroy", domid); err != nil {
		return err
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	if rc := C.libxl_domain_destroy(h.ctx, C.uint32_t(domid), nil); rc != 0 {
		return fmt.Errorf("destroy: domain %d: %w", domid, h.fail("libxl_domain_destroy", rc, domid))
	}
	return nil
}

// ShutdownDomain asks the guest to power off through its PV drivers, or with the ACPI power button when it has
// none (as libvirt does); it returns once the request is delivered.
func (h *Hypervisor) ShutdownDomain(ctx context.Context, domid libxl.DomID) error {
	if err := guest("shutdown", domid); err != nil {
		return err
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	if _, err := h.live("shutdown", domid); err != nil {
		return err
	}
	rc := C.libxl_domain_shutdown(h.ctx, C.uint32_t(domid), nil)
	if rc == C.ERROR_NOPARAVIRT {
		rc = C.libxl_send_trigger(h.ctx, C.uint32_t(domid), C.LIBXL_TRIGGER_POWER, 0, nil)
		if rc != 0 {
			return fmt.Errorf("shutdown: domain %d: %w", domid, h.fail("libxl_send_trigger", rc, domid))
		}
		return nil
	}
	if rc != 0 {
		return fmt.Errorf("shutdown: domain %d: %w", domid, h.fail("libxl_domain_shutdown", rc, domid))
	}
	return nil
}

// RebootDomain asks the guest to reboot through its PV drivers (libxl_domain_reboot); a guest without them
// fails with libxl.ErrBadState.
func (h *Hypervisor) RebootDomain(ctx context.Context, domid libxl.DomID) error {
	if err := guest("reboot", domid); err != nil {
		return err
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	if _, err := h.live("reboot", domid); err != nil {
		return err
	}
	if rc := C.libxl_domain_reboot(h.ctx, C.uint32_t(domid), nil); rc != 0 {
		return fmt.Errorf("reboot: domain %d: %w", domid, h.fail("libxl_domain_reboot", rc, domid))
	}
	return nil
}

// PauseDomain pauses a running domain; libxl.ErrBadState unless it runs (Xen counts pauses, so pausing twice
// would need two unpauses).
func (h *Hypervisor) PauseDomain(ctx context.Context, domid libxl.DomID) error {
	return h.setPause(ctx, domid, true)
}

// UnpauseDomain resumes a paused domain; libxl.ErrBadState unless it is paused.
func (h *Hypervisor) UnpauseDomain(ctx context.Context, domid libxl.DomID) error {
	return h.setPause(ctx, domid, false)
}

func (h *Hypervisor) setPause(ctx context.Context, domid libxl.DomID, pause bool) error {
	op, fn := "unpause", "libxl_domain_unpause"
	want := libxl.StatePaused
	if pause {
		op, fn, want = "pause", "libxl_domain_pause", libxl.StateRunning
	}
	if err := guest(op, domid); err != nil {
		return err
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	d, err := h.info(domid)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if st, _ := d.flags.state(); st != want {
		return fmt.Errorf("%s: domain %d is %s: %w", op, domid, st, libxl.ErrBadState)
	}
	var rc C.int
	if pause {
		rc = C.libxl_domain_pause(h.ctx, C.uint32_t(domid), nil)
	} else {
		rc = C.libxl_domain_unpause(h.ctx, C.uint32_t(domid), nil)
	}
	if rc != 0 {
		return fmt.Errorf("%s: domain %d: %w", op, domid, h.fail(fn, rc, domid))
	}
	h.setPaused(domid, pause)
	st := libxl.StateRunning
	if pause {
		st = libxl.StatePaused
	}
	h.events.Publish(libxl.Event{Type: libxl.EventStateChanged, DomID: domid, UUID: d.uuid, Name: h.nameOf(domid),
		State: st, Reason: libxl.ShutdownUnknown, Time: time.Now()})
	return nil
}

// SaveDomain suspends a running domain into f from its current offset (libxl_domain_suspend, a v2 stream) and
// destroys it, as xl and libvirt do. A paused domain cannot be saved (libxl.ErrBadState): the guest must suspend
// itself. When the suspend fails the guest is resumed.
func (h *Hypervisor) SaveDomain(ctx context.Context, domid libxl.DomID, f *os.File) error {
	if err := guest("save", domid); err != nil {
		return err
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	d, err := h.info(domid)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if st, _ := d.flags.state(); st != libxl.StateRunning {
		return fmt.Errorf("save: domain %d is %s, it has to be running because the guest must suspend itself: %w",
			domid, st, libxl.ErrBadState)
	}
	rc := C.libxl_domain_suspend(h.ctx, C.uint32_t(domid), C.int(f.Fd()), 0, nil)
	runtime.KeepAlive(f)
	if rc != 0 {
		err := h.fail("libxl_domain_suspend", rc, domid)
		if h.exists(domid) {
			if rrc := C.libxl_domain_resume(h.ctx, C.uint32_t(domid), 1, nil); rrc != 0 {
				h.log().Error(newError("libxl_domain_resume", int(rrc)), "cannot resume a domain whose save failed", "domid", domid)
			}
		}
		return fmt.Errorf("save: domain %d: %w", domid, err)
	}
	if rc := C.libxl_domain_destroy(h.ctx, C.uint32_t(domid), nil); rc != 0 {
		return fmt.Errorf("save: domain %d saved but not destroyed: %w", domid, h.fail("libxl_domain_destroy", rc, domid))
	}
	return nil
}

// CoreDump writes the domain's memory to path (libxl_domain_core_dump); the domain keeps its state.
func (h *Hypervisor) CoreDump(ctx context.Context, domid libxl.DomID, path string) error {
	if err := guest("core dump", domid); err != nil {
		return err
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	cpath, free := cstring(path)
	defer free()
	if rc := C.libxl_domain_core_dump(h.ctx, C.uint32_t(domid), cpath, nil); rc != 0 {
		return fmt.Errorf("core dump: domain %d to %s: %w", domid, path, h.fail("libxl_domain_core_dump", rc, domid))
	}
	return nil
}
