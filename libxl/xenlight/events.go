//go:build xenlight

package xenlight

/*
#include "vx.h"
*/
import "C"

import (
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/virtxend/virtxend/libxl"
)

// registry holds the guests (Domain-0 aside) the adapter watches: one libxl domain death generator each, and
// what the events need that libxl's event does not carry (the name) or that the scanner compares (paused).
type registry struct {
	mu   sync.Mutex
	doms map[libxl.DomID]*watched
	// token numbers the generators: a libxl event carries the token of the generator that reported it, so an
	// event of a replaced generator is told from one of the current.
	token uint64
	// epoch counts scans: a scan forgets only domains watched before it listed the host.
	epoch uint64
}

type watched struct {
	name, uuid string
	paused     bool
	token      uint64
	epoch      uint64
	evg        *C.libxl_evgen_domain_death // nil until armed
	created    time.Time                   // zero until read from xenstore
}

// watch registers domain id and arms libxl's death watch on it (libxl_evenable_domain_death): DOMAIN_SHUTDOWN
// once the guest shuts down (at once if it already has), then DOMAIN_DEATH. It must not be called with
// h.reg.mu held: libxl may deliver events from inside the call.
func (h *Hypervisor) watch(id libxl.DomID, uuid, name string, paused bool) {
	h.reg.mu.Lock()
	h.reg.token++
	w := &watched{name: name, uuid: uuid, paused: paused, token: h.reg.token, epoch: h.reg.epoch}
	var stale *C.libxl_evgen_domain_death
	if old := h.reg.doms[id]; old != nil {
		stale = old.evg
	}
	h.reg.doms[id] = w
	h.reg.mu.Unlock()
	if stale != nil {
		C.libxl_evdisable_domain_death(h.ctx, stale)
	}
	var evg *C.libxl_evgen_domain_death
	if rc := C.libxl_evenable_domain_death(h.ctx, C.uint32_t(id), C.libxl_ev_user(w.token), &evg); rc != 0 {
		h.log().Error(newError("libxl_evenable_domain_death", int(rc)), "cannot watch domain: its shutdown and death "+
			"will only be noticed by listing", "domid", id, "domain", name)
		return
	}
	h.reg.mu.Lock()
	if h.reg.doms[id] == w {
		w.evg, evg = evg, nil
	}
	h.reg.mu.Unlock()
	if evg != nil {
		// The domain died while the watch was being armed, and its death has been reported.
		C.libxl_evdisable_domain_death(h.ctx, evg)
	}
}

// onEvent handles a libxl domain event (from vxGoEvent, inside libxl: it publishes and returns).
func (h *Hypervisor) onEvent(r rawEvent) {
	id := libxl.DomID(r.DomID)
	var done *C.libxl_evgen_domain_death
	h.reg.mu.Lock()
	w := h.reg.doms[id]
	if w == nil || w.token != r.Token {
		// A generator already replaced, or a domain the scanner has already reported gone.
		h.reg.mu.Unlock()
		return
	}
	name := w.name
	if r.Type == eventDomainDeath {
		delete(h.reg.doms, id)
		done = w.evg
	}
	h.reg.mu.Unlock()
	if ev, ok := r.translate(name, time.Now()); ok {
		h.log().V(1).Info("domain event", "event", ev.Type, "domid", id, "domain", name, "reason", ev.Reason)
		h.events.Publish(ev)
	}
	if done != nil {
		go h.disarm(done)
	}
}

// deliver passes r through the C event hook as if libxl had produced it (for tests).
func (h *Hypervisor) deliver(r rawEvent) {
	C.vx_deliver(C.uintptr_t(h.handle), C.int(r.Type), C.uint32_t(r.DomID), C.int(r.Reason),
		(*C.uint8_t)(unsafe.Pointer(&r.UUID[0])), C.uint64_t(r.Token))
}

// disarm releases the generator of a dead domain (outside the callback that reported the death).
func (h *Hypervisor) disarm(evg *C.libxl_evgen_domain_death) {
	h.life.RLock()
	defer h.life.RUnlock()
	if !h.closed.Load() { // libxl_ctx_free releases it otherwise
		C.libxl_evdisable_domain_death(h.ctx, evg)
	}
}

// setPaused records a pause or unpause this adapter made, so that the scanner does not report it again.
func (h *Hypervisor) setPaused(id libxl.DomID, paused bool) {
	h.reg.mu.Lock()
	defer h.reg.mu.Unlock()
	if w := h.reg.doms[id]; w != nil {
		w.paused = paused
	}
}

// nameOf returns the name the registry knows for id.
func (h *Hypervisor) nameOf(id libxl.DomID) string {
	h.reg.mu.Lock()
	defer h.reg.mu.Unlock()
	if w := h.reg.doms[id]; w != nil {
		return w.name
	}
	return ""
}

// scan compares the host's domains with the registry: it watches guests it did not know (created by another
// toolstack, or present at start), reports pauses and unpauses made behind its back, and reports the death of
// watched guests that vanished without libxl telling (a failed watch). With publish false (at start) it only
// arms the watches.
func (h *Hypervisor) scan(publish bool) {
	h.reg.mu.Lock()
	h.reg.epoch++
	epoch := h.reg.epoch
	h.reg.mu.Unlock()
	doms, err := h.list()
	if err != nil {
		h.log().Error(err, "list domains")
		return
	}
	creating := h.creating.Load() > 0
	now := time.Now()
	var evs []libxl.Event
	var fresh []rawDom
	var gone []*C.libxl_evgen_domain_death
	seen := make(map[libxl.DomID]bool, len(doms))
	h.reg.mu.Lock()
	for _, d := range doms {
		if d.id == libxl.Dom0 {
			continue
		}
		seen[d.id] = true
		w := h.reg.doms[d.id]
		switch {
		case w != nil && w.uuid == d.uuid:
			if live := !d.flags.Shutdown && !d.flags.Dying; live && w.paused != d.flags.Paused {
				w.paused = d.flags.Paused
				st, _ := d.flags.state()
				evs = append(evs, libxl.Event{Type: libxl.EventStateChanged, DomID: d.id, UUID: d.uuid, Name: w.name,
					State: st, Reason: libxl.ShutdownUnknown, Time: now})
			}
		case w != nil: // the domid now belongs to another domain: the old one died unreported
			evs = append(evs, deathOf(d.id, w, now))
			gone = append(gone, w.evg)
			delete(h.reg.doms, d.id)
			fresh = append(fresh, d)
		case d.flags.Dying:
			// Not worth watching: it is going, and libxl would report its death at once, over and over.
		case creating && publish:
			// Perhaps the domain a CreateDomain in progress is building: it registers it itself.
		default:
			fresh = append(fresh, d)
		}
	}
	for id, w := range h.reg.doms {
		if !seen[id] && w.epoch < epoch {
			evs = append(evs, deathOf(id, w, now))
			gone = append(gone, w.evg)
			delete(h.reg.doms, id)
		}
	}
	h.reg.mu.Unlock()
	for _, evg := range gone {
		if evg != nil {
			C.libxl_evdisable_domain_death(h.ctx, evg)
		}
	}
	for _, ev := range evs {
		h.events.Publish(ev)
	}
	for _, d := range fresh {
		name := h.readName(d.id)
		h.watch(d.id, d.uuid, name, d.flags.Paused)
		if publish {
			st, reason := d.flags.state()
			h.log().V(1).Info("found a domain", "domid", d.id, "domain", name)
			h.events.Publish(libxl.Event{Type: libxl.EventCreated, DomID: d.id, UUID: d.uuid, Name: name,
				State: st, Reason: reason, Time: now})
		}
	}
}

func deathOf(id libxl.DomID, w *watched, at time.Time) libxl.Event {
	return libxl.Event{Type: libxl.EventDeath, DomID: id, UUID: w.uuid, Name: w.name, State: libxl.StateDying,
		Reason: libxl.ShutdownUnknown, Time: at}
}

// pumpLoop drives libxl's event machinery (the xenstore watch behind the death generators) through
// libxl_osevent_beforepoll/afterpoll, with a wake pipe for Close, and scans the domain list every ScanInterval.
// Events reach Go through the callback hook, whichever thread produces them.
func (h *Hypervisor) pumpLoop() {
	defer close(h.pumpDone)
	p := C.vx_poll_new()
	if p == nil {
		h.log().Error(nil, "cannot allocate the libxl event loop: domain events will only be noticed by listing")
	}
	defer C.vx_poll_free(p)
	next := time.Now().Add(h.opts.ScanInterval)
	for !h.closed.Load() {
		timeout := max(time.Until(next), 0)
		if p == nil {
			if h.sleep(timeout) {
				return
			}
		} else {
			switch rc := C.vx_pump(h.ctx, p, C.int(h.wakeR), C.int(timeout.Milliseconds())); {
			case rc == 1:
				h.drainWake()
			case rc < 0:
				h.log().Error(newError("libxl_osevent_beforepoll/poll", int(rc)), "libxl event loop")
				if h.sleep(time.Second) {
					return
				}
			}
		}
		if h.closed.Load() {
			return
		}
		h.syncLogLevel()
		if !time.Now().Before(next) {
			h.scan(true)
			next = time.Now().Add(h.opts.ScanInterval)
		}
	}
}

// sleep waits d or until Close; it reports whether Close has begun.
func (h *Hypervisor) sleep(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !h.closed.Load() && time.Now().Before(deadline) {
		time.Sleep(min(time.Until(deadline), 100*time.Millisecond))
	}
	return h.closed.Load()
}

// wake interrupts the pump's poll.
func (h *Hypervisor) wake() {
	if h.wakeW >= 0 {
		_, _ = syscall.Write(h.wakeW, []byte{0})
	}
}

func (h *Hypervisor) drainWake() {
	var buf [64]byte
	for {
		if n, err := syscall.Read(h.wakeR, buf[:]); n <= 0 || err != nil {
			return
		}
	}
}
