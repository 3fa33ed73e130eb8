package controllers

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// LiveDefinition is the definition of a running domain, libvirt's live def (vm->def while a newDef waits): made
// from the spec when the domain starts, changed by live calls (--live), hot-plug and, for declarative sources,
// by spec changes Xen can apply to a running domain. It holds what only the running domain has (console ptys,
// interface names, graphics ports). It lives exactly as long as the domain, in the daemon's state directory, so
// that a restarted daemon re-derives it instead of applying the spec to running guests again.
type LiveDefinition struct {
	// UUID is the domain's UUID, lower case: the identity the definition is stored under.
	UUID string `json:"uuid"`
	// UID is the UID of the object the domain belongs to (the ownership marker's UID).
	UID types.UID `json:"uid"`
	// Object is the name of that object.
	Object string `json:"object"`
	// Source is the kind of source the object came from when the domain started or was adopted
	// (v1alpha1.SourceKind*).
	Source string `json:"source,omitempty"`
	// DomID is the Xen domid of the running domain.
	DomID libxl.DomID `json:"domid"`
	// Domain is the live definition.
	Domain v1alpha1.DomainSpec `json:"domain"`
	// Boot is the spec the domain was last started from, with the spec changes applied live since: the spec
	// differs from it in exactly what waits for the next start. Nil stands for WithoutRuntime(Domain), what it
	// usually is: a store may keep it so (the definitions of LiveList), and BootSpec gives it either way.
	Boot *v1alpha1.DomainSpec `json:"boot"`
}

// DeepCopy returns a copy of d that shares nothing with it.
func (d *LiveDefinition) DeepCopy() *LiveDefinition {
	if d == nil {
		return nil
	}
	c := *d
	d.Domain.DeepCopyInto(&c.Domain)
	c.Boot = d.Boot.DeepCopy()
	return &c
}

// WithBoot returns a copy of d that shares nothing with it, with its Boot.
func (d *LiveDefinition) WithBoot() *LiveDefinition {
	c := d.DeepCopy()
	if c != nil && c.Boot == nil {
		c.Boot = WithoutRuntime(&c.Domain, c.DomID).DeepCopy() // its own: WithoutRuntime shares with Domain
	}
	return c
}

// BootSpec returns Boot, or what a nil Boot stands for (sharing with Domain then).
func (d *LiveDefinition) BootSpec() *v1alpha1.DomainSpec {
	if d.Boot != nil {
		return d.Boot
	}
	return WithoutRuntime(&d.Domain, d.DomID)
}

// WithoutRuntime returns the live definition of the domain id without what fillRuntime gave it when it started
// (the interface names it made, the pty paths): the spec it started from, when nothing else was changed live.
// The result shares everything else with live.
func WithoutRuntime(live *v1alpha1.DomainSpec, id libxl.DomID) *v1alpha1.DomainSpec {
	b := *live
	if ifs := live.Devices.Interfaces; len(ifs) > 0 {
		b.Devices.Interfaces = slices.Clone(ifs)
		for i := range b.Devices.Interfaces {
			if b.Devices.Interfaces[i].Target == fmt.Sprintf("vif%d.%d", id, i) {
				b.Devices.Interfaces[i].Target = ""
			}
		}
	}
	noPty := func(cs []v1alpha1.Chardev) []v1alpha1.Chardev {
		if len(cs) == 0 {
			return cs
		}
		cs = slices.Clone(cs)
		for i := range cs {
			if c := &cs[i]; c.Type == "pty" && len(c.Sources) == 1 && c.Sources[0] == (v1alpha1.ChardevSource{Path: c.Sources[0].Path}) {
				c.Sources = nil
			}
		}
		return cs
	}
	b.Devices.Serials = noPty(live.Devices.Serials)
	b.Devices.Consoles = noPty(live.Devices.Consoles)
	return &b
}

// LiveReader reads the live definitions: what the facade may do with them.
type LiveReader interface {
	// Live returns the live definition of the running domain with this UUID, or nil when there is none.
	Live(uuid string) *LiveDefinition
	// LiveList returns every live definition, shared with the store: the caller must not modify them.
	LiveList() []*LiveDefinition
}

// LiveStore keeps the live definitions durably. The reconciler is its only writer.
type LiveStore interface {
	LiveReader
	// PutLive stores d (atomically: after a crash the old or the new version is found, never a mix).
	PutLive(d *LiveDefinition) error
	// DeleteLive removes the live definition of the domain with this UUID; a missing one is no error.
	DeleteLive(uuid string) error
}

// liveApplicable are the top-level definition fields the reconciler changes on a running domain: memory, online
// vcpus (with their pins and the scheduler weight), and the disks and network interfaces it hot-plugs.
var liveApplicable = []string{"memory", "currentMemory", "vcpu", "cputune"}

// liveDevices are the device lists the reconciler hot-plugs.
var liveDevices = []string{"disks", "interfaces"}

// restartFields names the fields of spec that differ from boot and that the running domain cannot take: the
// top-level definition fields by their JSON names, devices as "devices.KIND". Sorted.
func restartFields(boot, spec *v1alpha1.DomainSpec) []string {
	if v1alpha1.SemanticEqual(boot, spec) {
		return nil // the usual case (a reconcile that changed nothing, a restart), without four JSON round trips
	}
	var out []string
	bf, sf := jsonFields(boot), jsonFields(spec)
	for k := range union(bf, sf) {
		if k == "devices" || slices.Contains(liveApplicable, k) {
			continue
		}
		if !equality.Semantic.DeepEqual(bf[k], sf[k]) {
			out = append(out, k)
		}
	}
	bd, sd := jsonFields(&boot.Devices), jsonFields(&spec.Devices)
	for k := range union(bd, sd) {
		if slices.Contains(liveDevices, k) {
			continue
		}
		if !equality.Semantic.DeepEqual(bd[k], sd[k]) {
			out = append(out, "devices."+k)
		}
	}
	slices.Sort(out)
	return out
}

// applyLiveFields returns live with the fields the reconciler can change on the running domain taken from spec,
// as Build made it (built): the rest of live, runtime data included, stays.
func applyLiveFields(live, built *v1alpha1.DomainSpec) *v1alpha1.DomainSpec {
	out := live.DeepCopy()
	c := built.DeepCopy()
	out.Memory, out.CurrentMemory, out.VCPU, out.CPUTune = c.Memory, c.CurrentMemory, c.VCPU, c.CPUTune
	out.Devices.Disks, out.Devices.Interfaces = c.Devices.Disks, c.Devices.Interfaces
	for i := range out.Devices.Interfaces {
		// An interface the domain already has keeps its runtime name.
		for _, old := range live.Devices.Interfaces {
			if old.MAC != "" && strings.EqualFold(old.MAC, out.Devices.Interfaces[i].MAC) {
				out.Devices.Interfaces[i].Target = old.Target
			}
		}
	}
	return out
}

// bootWithLive returns boot with the live-applicable fields taken from spec: what the running domain now has of
// spec once those were applied.
func bootWithLive(boot, spec *v1alpha1.DomainSpec) *v1alpha1.DomainSpec {
	return applyLiveFields(boot, spec)
}

// jsonFields splits a struct into its fields by JSON name, leaving out empty ones.
func jsonFields(v any) map[string]json.RawMessage {
	b, _ := json.Marshal(v)
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(b, &m)
	return m
}

func union(a, b map[string]json.RawMessage) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// declarative reports whether the source of obj is declarative (a drop-in file, a fleet object): a spec change
// is applied to the running domain where Xen allows it. libvirt's own sources (defines, transient domains) keep
// libvirt's rule: the spec is the persistent definition, and a change waits for the next start.
func declarative(obj *v1alpha1.XenDomain) bool {
	switch obj.Labels[v1alpha1.LabelSource] {
	case v1alpha1.SourceKindDefine, v1alpha1.SourceKindTransient:
		return false
	}
	return true
}

// LibxlBuilder is the ConfigBuilder of libxl.Build with the host's facts. Without reserve, autoport graphics keep
// the ports the definition already names and take none.
func LibxlBuilder(facts libxl.HostFacts) ConfigBuilder {
	return func(spec *v1alpha1.DomainSpec, reserve bool) (Built, error) {
		f := facts
		if !reserve {
			f.GraphicsPorts = noPorts{}
		}
		res, err := libxl.Build(spec, f)
		if err != nil {
			return Built{}, err
		}
		b := Built{Config: res.Config, Spec: res.Spec}
		if len(res.Ports) > 0 {
			b.Release = func() {
				for _, p := range res.Ports {
					f.GraphicsPorts.Release(p)
				}
			}
		}
		return b, nil
	}
}

// networkBridges gives the network interfaces of live the bridges their networks gave them in built (a hot-plugged
// interface's, resolved by the rebuild), as libvirt's live XML shows them.
func networkBridges(live, built *v1alpha1.DomainSpec) {
	for i := range live.Devices.Interfaces {
		n := &live.Devices.Interfaces[i]
		if n.Type != "network" || i >= len(built.Devices.Interfaces) || built.Devices.Interfaces[i].Source == nil {
			continue
		}
		if br := built.Devices.Interfaces[i].Source.Bridge; br != "" {
			if n.Source == nil {
				n.Source = &v1alpha1.InterfaceSource{}
			}
			n.Source.Network, n.Source.Bridge = built.Devices.Interfaces[i].Source.Network, br
		}
	}
}

// noPorts stands in for the graphics port allocator when a running domain's definition is rebuilt: it holds its
// ports already, and rebuilding must not take others.
type noPorts struct{}

// Acquire hands out -1, the port of an autoport graphics device that has none yet.
func (noPorts) Acquire() (int, error) { return -1, nil }

// Release does nothing: Acquire took nothing.
func (noPorts) Release(int) {}

// memLive is a LiveStore in memory: what a reconciler without one keeps (tests, tools); it does not outlive the
// process.
type memLive struct {
	mu   sync.RWMutex
	defs map[string]*LiveDefinition
}

// NewMemLiveStore returns an empty LiveStore held in memory.
func NewMemLiveStore() LiveStore { return &memLive{defs: map[string]*LiveDefinition{}} }

func (m *memLive) Live(uuid string) *LiveDefinition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.defs[strings.ToLower(uuid)].WithBoot()
}

func (m *memLive) LiveList() []*LiveDefinition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*LiveDefinition, 0, len(m.defs))
	for _, d := range m.defs {
		out = append(out, d) // PutLive stores a copy it never modifies: shared, read-only
	}
	return out
}

func (m *memLive) PutLive(d *LiveDefinition) error {
	c := d.DeepCopy()
	c.UUID = strings.ToLower(c.UUID)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.defs[c.UUID] = c
	return nil
}

func (m *memLive) DeleteLive(uuid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.defs, strings.ToLower(uuid))
	return nil
}
