package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// allocID hands out the next free domid, as Xen's rover does: monotonically, wrapping below
// DOMID_FIRST_RESERVED, skipping domids in use. Called with h.mu held.
func (h *Host) allocID() (libxl.DomID, error) {
	for range domidFirstReserved {
		id := h.nextID
		h.nextID++
		if h.nextID >= domidFirstReserved {
			h.nextID = 1
		}
		if _, used := h.doms[id]; !used && id != libxl.Dom0 {
			return id, nil
		}
	}
	return 0, fmt.Errorf("no free domid: %w", libxl.ErrNoMemory)
}

// build creates a domain from spec: the common part of CreateDomain and RestoreDomain. Called with h.mu held.
func (h *Host) build(s buildSpec, opts libxl.CreateOptions) (*domain, error) {
	if h.closed {
		return nil, ErrClosed
	}
	if id, dup := h.names[s.name]; dup {
		return nil, fmt.Errorf("domain with name %q already exists (domid %d): %w", s.name, id, libxl.ErrInvalid)
	}
	if free := h.freeKiB(); s.targetKiB > free {
		return nil, fmt.Errorf("domain %q needs %d KiB, host has %d KiB free: "+
			"xc_dom_boot_mem_init: can't allocate low memory for domain: %w", s.name, s.targetKiB, free, libxl.ErrNoMemory)
	}
	for k := range opts.Userdata {
		if err := checkUserdataKey(k); err != nil {
			return nil, fmt.Errorf("domain %q: %w", s.name, err)
		}
	}
	id, err := h.allocID()
	if err != nil {
		return nil, err
	}
	now := h.now()
	d := newDomain(id, s, now, opts.Paused)
	for k, v := range opts.Userdata {
		d.userdata.set(k, v)
	}
	if err := h.persist(d); err != nil {
		return nil, err
	}
	h.doms[id] = d
	if h.usedKnown {
		h.used += d.curKiB
	}
	h.names[d.name] = id
	h.events.Publish(d.event(libxl.EventCreated, now))
	return d, nil
}

// CreateDomain builds and starts a domain from cfg after applying libxl's defaults (max_memkb 32 MiB when no
// memory is given, target = max, one vcpu, every vcpu online). It fails with libxl.ErrNoMemory when the target
// does not fit in the free memory and with libxl.ErrInvalid for a bad config or a name already in use.
func (h *Host) CreateDomain(ctx context.Context, cfg *libxl.DomainConfig, opts libxl.CreateOptions) (libxl.DomID, error) {
	s, err := resolveConfig(cfg)
	if err != nil {
		return 0, fmt.Errorf("create domain: %w", err)
	}
	if err := h.lockCtx(ctx); err != nil {
		return 0, err
	}
	defer h.mu.Unlock()
	d, err := h.build(s, opts)
	if err != nil {
		return 0, fmt.Errorf("create domain: %w", err)
	}
	return d.id, nil
}

// DestroyDomain kills a domain in any state and frees its memory; EventDeath follows.
func (h *Host) DestroyDomain(ctx context.Context, domid libxl.DomID) error {
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.guest(domid)
	if err != nil {
		return fmt.Errorf("destroy: %w", err)
	}
	return h.destroy(d)
}

// destroy removes d; called with h.mu held.
func (h *Host) destroy(d *domain) error {
	now := h.now()
	d.stopTimer()
	d.setState(libxl.StateDying, now)
	if d.console != nil {
		d.console.close()
		d.console = nil
	}
	delete(h.doms, d.id)
	if h.usedKnown {
		h.used -= d.curKiB
	}
	delete(h.names, d.name)
	h.events.Publish(d.event(libxl.EventDeath, now))
	return h.unpersist(d)
}

// ShutdownDomain asks the guest to power off. The guest acts on it after the shutdown delay of its own time,
// then the domain is shut down (not destroyed) and EventShutdown is emitted. A paused guest acts on it once
// unpaused. A repeated request replaces the reason of a pending one.
func (h *Host) ShutdownDomain(ctx context.Context, domid libxl.DomID) error {
	return h.requestShutdown(ctx, domid, "shutdown", libxl.ShutdownPoweroff)
}

// RebootDomain asks the guest to reboot: like ShutdownDomain, ending in StateShutdown with ShutdownReboot. The
// toolstack (on_reboot) re-creates the domain.
func (h *Host) RebootDomain(ctx context.Context, domid libxl.DomID) error {
	return h.requestShutdown(ctx, domid, "reboot", libxl.ShutdownReboot)
}

func (h *Host) requestShutdown(ctx context.Context, domid libxl.DomID, op string, reason libxl.ShutdownReason) error {
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.guest(domid)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if !d.live() {
		return fmt.Errorf("%s: domain %d is %s: %w", op, domid, d.state, libxl.ErrBadState)
	}
	now := h.now()
	if d.pending != nil {
		d.pending.Reason = reason
		return h.persist(d)
	}
	d.pending = &pendingShutdown{Reason: reason, Remaining: h.shutdownDelay}
	if d.state == libxl.StateRunning && h.shutdownDelay == 0 {
		h.completeShutdown(d, now)
		return nil
	}
	h.armShutdown(d, now)
	return h.persist(d)
}

// armShutdown starts the guest's clock on d's pending request if d runs, and stops it otherwise. Called with
// h.mu held.
func (h *Host) armShutdown(d *domain, now time.Time) {
	d.stopTimer()
	p := d.pending
	if p == nil || d.state != libxl.StateRunning {
		return
	}
	if p.Deadline.IsZero() {
		p.Deadline = now.Add(p.Remaining)
	}
	gen := d.timerGen
	d.timer = time.AfterFunc(p.Deadline.Sub(now), func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed || h.doms[d.id] != d || d.timerGen != gen || d.pending == nil {
			return // superseded: destroyed, paused, crashed, or the host closed
		}
		d.timer = nil
		h.completeShutdown(d, h.now())
	})
}

// pauseShutdown stops the guest's clock on d's pending request (d is being paused). Called with h.mu held.
func (h *Host) pauseShutdown(d *domain, now time.Time) {
	d.stopTimer()
	if p := d.pending; p != nil && !p.Deadline.IsZero() {
		p.Remaining = max(p.Deadline.Sub(now), 0)
		p.Deadline = time.Time{}
	}
}

// completeShutdown: the guest acted on its pending request at time at. Called with h.mu held.
func (h *Host) completeShutdown(d *domain, at time.Time) {
	reason := d.pending.Reason
	d.pending = nil
	d.stopTimer()
	h.shutdown(d, reason, at)
}

// shutdown puts d in StateShutdown for reason and tells the subscribers. Called with h.mu held.
func (h *Host) shutdown(d *domain, reason libxl.ShutdownReason, at time.Time) {
	d.setState(libxl.StateShutdown, at)
	d.reason = reason
	h.events.Publish(d.event(libxl.EventShutdown, at))
	// A failed write leaves the change in memory; the next change of d retries it.
	_ = h.persist(d)
}

// PauseDomain stops scheduling a running domain; libxl.ErrBadState unless it runs.
func (h *Host) PauseDomain(ctx context.Context, domid libxl.DomID) error {
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.guest(domid)
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	if d.state != libxl.StateRunning || d.saving {
		return fmt.Errorf("pause: domain %d is %s: %w", domid, d.state, libxl.ErrBadState)
	}
	now := h.now()
	h.pauseShutdown(d, now)
	d.setState(libxl.StatePaused, now)
	h.events.Publish(d.event(libxl.EventStateChanged, now))
	return h.persist(d)
}

// UnpauseDomain resumes a paused domain; libxl.ErrBadState unless it is paused. A shutdown request that waited
// for the guest resumes its countdown.
func (h *Host) UnpauseDomain(ctx context.Context, domid libxl.DomID) error {
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.guest(domid)
	if err != nil {
		return fmt.Errorf("unpause: %w", err)
	}
	if d.state != libxl.StatePaused || d.saving {
		return fmt.Errorf("unpause: domain %d is %s: %w", domid, d.state, libxl.ErrBadState)
	}
	now := h.now()
	d.setState(libxl.StateRunning, now)
	h.balloon(d)
	h.events.Publish(d.event(libxl.EventStateChanged, now))
	if p := d.pending; p != nil && p.Remaining == 0 {
		h.completeShutdown(d, now)
		return nil
	}
	h.armShutdown(d, now)
	return h.persist(d)
}

// InjectCrash makes the guest of a running or paused domain crash, as a guest kernel panic or a fatal fault
// would: the domain is shut down with reason crash (what libxl_dominfo reports; on_crash is the toolstack's
// business) and EventShutdown is emitted. A pending shutdown request dies with the guest.
func (h *Host) InjectCrash(domid libxl.DomID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.guest(domid)
	if err != nil {
		return fmt.Errorf("crash: %w", err)
	}
	if !d.live() {
		return fmt.Errorf("crash: domain %d is %s: %w", domid, d.state, libxl.ErrBadState)
	}
	d.pending = nil
	d.stopTimer()
	h.shutdown(d, libxl.ShutdownCrash, h.now())
	return nil
}

// SetShutdownDelay sets the guest time later shutdown and reboot requests take (0: at once). Pending requests
// keep the delay they were made with.
func (h *Host) SetShutdownDelay(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shutdownDelay = max(d, 0)
}

// DomainConfig returns the configuration domain domid runs with, hot-plugged devices included, as
// libxl_retrieve_domain_configuration does.
func (h *Host) DomainConfig(domid libxl.DomID) (*libxl.DomainConfig, error) {
	h.mu.Lock()
	raw, err := h.configJSON(domid)
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return decodeConfig(raw)
}
