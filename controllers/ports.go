package controllers

import (
	"strings"
	"sync"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// LivePorts is the graphics port allocator of the builder and, wrapping the live definitions' store, the record
// of the ports they hold: a port a live definition names is never handed out. A daemon that restarts finds its
// running domains' ports in their live definitions, not in its fresh port range (libvirt's libxlReconnectDomain
// marks them used), and a port comes free with the live definition of its domain, whichever process started
// it. Every writer of live definitions must go through it (the reconciler and the adopter). Safe for concurrent
// use.
type LivePorts struct {
	LiveStore
	r *libxl.PortRange

	mu   sync.Mutex
	held map[string][]int // UUID of a live definition → the ports its graphics hold
}

// NewLivePorts returns the allocator over r for the live definitions of live, as they are now.
func NewLivePorts(r *libxl.PortRange, live LiveStore) *LivePorts {
	p := &LivePorts{LiveStore: live, r: r, held: map[string][]int{}}
	for _, d := range live.LiveList() {
		p.note(d.UUID, &d.Domain)
	}
	return p
}

// note records the ports of a live definition; p.mu is held or p is not shared yet.
func (p *LivePorts) note(uuid string, spec *v1alpha1.DomainSpec) {
	uuid = strings.ToLower(uuid)
	if ports := GraphicsPorts(spec); len(ports) > 0 {
		p.held[uuid] = ports
	} else {
		delete(p.held, uuid)
	}
}

// Acquire returns the lowest port of the range that is free and named by no live definition.
func (p *LivePorts) Acquire() (int, error) {
	p.mu.Lock()
	held := make(map[int]bool, len(p.held))
	for _, ports := range p.held {
		for _, port := range ports {
			held[port] = true
		}
	}
	p.mu.Unlock()
	return p.r.AcquireExcept(held)
}

// Release gives a port back to the range.
func (p *LivePorts) Release(port int) { p.r.Release(port) }

// PutLive stores d and records its ports.
func (p *LivePorts) PutLive(d *LiveDefinition) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.LiveStore.PutLive(d); err != nil {
		return err
	}
	p.note(d.UUID, &d.Domain)
	return nil
}

// DeleteLive removes the live definition and frees its ports.
func (p *LivePorts) DeleteLive(uuid string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.LiveStore.DeleteLive(uuid); err != nil {
		return err
	}
	delete(p.held, strings.ToLower(uuid))
	return nil
}

// GraphicsPorts are the ports a definition's VNC and SPICE devices hold (port and tlsPort); -1 and 0 mean none.
func GraphicsPorts(spec *v1alpha1.DomainSpec) []int {
	var out []int
	for _, g := range spec.Devices.Graphics {
		for _, port := range []*int32{g.Port, g.TLSPort} {
			if port != nil && *port > 0 {
				out = append(out, int(*port))
			}
		}
	}
	return out
}
