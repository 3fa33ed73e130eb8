package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/virtxend/virtxend/libxl"
)

// liveDomain returns domain domid (Domain-0 included) if it is running or paused; called with h.mu held.
func (h *Host) liveDomain(domid libxl.DomID, op string) (*domain, error) {
	d, err := h.get(domid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if !d.live() {
		return nil, fmt.Errorf("%s: domain %d is %s: %w", op, domid, d.state, libxl.ErrBadState)
	}
	return d, nil
}

// SetMemoryTarget sets the balloon target. Above max_memkb it fails with libxl.ErrInvalid. The balloon driver
// of a running guest gives memory back at once; growing, it takes what it can find, so with too little free
// memory the domain's current allocation stays below the target, as on Xen. A paused guest's allocation follows
// its target once it is unpaused.
func (h *Host) SetMemoryTarget(ctx context.Context, domid libxl.DomID, kib uint64) error {
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.liveDomain(domid, "set memory target")
	if err != nil {
		return err
	}
	if kib == 0 || kib > d.maxKiB {
		return fmt.Errorf("set memory target: domain %d: target %d KiB outside 1..%d (max_memkb): %w",
			domid, kib, d.maxKiB, libxl.ErrInvalid)
	}
	d.targetKiB = kib
	h.balloon(d)
	return h.persist(d)
}

// balloon moves a running guest's allocation towards its target: down at once, up as far as free memory
// allows. A paused guest's balloon driver does not run; it catches up when unpaused. Called with h.mu held.
func (h *Host) balloon(d *domain) {
	switch {
	case d.state != libxl.StateRunning:
	case d.targetKiB <= d.curKiB:
		h.setCurKiB(d, d.targetKiB)
	default:
		h.setCurKiB(d, min(d.targetKiB, d.curKiB+h.freeKiB()))
	}
}

// SetMaxMemory sets the memory ceiling. Like libxl_domain_setmaxmem it refuses (libxl.ErrInvalid) a ceiling
// below the current balloon target: lower the target first.
func (h *Host) SetMaxMemory(ctx context.Context, domid libxl.DomID, kib uint64) error {
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.liveDomain(domid, "set max memory")
	if err != nil {
		return err
	}
	if kib < d.targetKiB {
		return fmt.Errorf("set max memory: domain %d: memory_static_max %d KiB must be greater than or equal "+
			"to memory_dynamic_max %d KiB: %w", domid, kib, d.targetKiB, libxl.ErrInvalid)
	}
	d.maxKiB = kib
	return h.persist(d)
}

// SetVcpusOnline brings vcpus 0..n-1 online and the others offline; n must be in 1..max vcpus.
func (h *Host) SetVcpusOnline(ctx context.Context, domid libxl.DomID, n int) error {
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.liveDomain(domid, "set vcpus")
	if err != nil {
		return err
	}
	if n < 1 || n > len(d.online) {
		return fmt.Errorf("set vcpus: domain %d: %d vcpus outside 1..%d (max_vcpus): %w",
			domid, n, len(d.online), libxl.ErrInvalid)
	}
	d.fold(h.now())
	for i := range d.online {
		d.online[i] = i < n
	}
	return h.persist(d)
}

// PinVcpu sets the hard affinity of one vcpu (online or not) to the given host cpus.
func (h *Host) PinVcpu(ctx context.Context, domid libxl.DomID, vcpu int, cpus []int) error {
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.liveDomain(domid, "pin vcpu")
	if err != nil {
		return err
	}
	if vcpu < 0 || vcpu >= len(d.online) {
		return fmt.Errorf("pin vcpu: domain %d has no vcpu %d: %w", domid, vcpu, libxl.ErrInvalid)
	}
	set, err := normalizeCPUs(cpus, h.opts.CPUs)
	if err != nil {
		return fmt.Errorf("pin vcpu: domain %d vcpu %d: %w", domid, vcpu, err)
	}
	if len(set) == h.opts.CPUs {
		set = nil // every cpu: the default affinity
	}
	d.affinity[vcpu] = set
	return h.persist(d)
}

// SchedParams reports a domain's credit-scheduler weight and cap.
func (h *Host) SchedParams(ctx context.Context, domid libxl.DomID) (libxl.SchedParams, error) {
	if err := h.lockCtx(ctx); err != nil {
		return libxl.SchedParams{}, err
	}
	defer h.mu.Unlock()
	d, err := h.get(domid)
	if err != nil {
		return libxl.SchedParams{}, err
	}
	return d.sched, nil
}

// SetSchedParams sets a running domain's credit-scheduler weight (1..65535) and cap (percent of a cpu, 0 for
// none, at most 100 per vcpu), as libxl checks them; a KeepSchedParam field keeps its value.
func (h *Host) SetSchedParams(ctx context.Context, domid libxl.DomID, p libxl.SchedParams) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("set scheduler parameters: domain %d: %w", domid, err)
	}
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.liveDomain(domid, "set scheduler parameters")
	if err != nil {
		return err
	}
	if limit := 100 * len(d.online); p.Cap > limit {
		return fmt.Errorf("set scheduler parameters: domain %d: cap %d out of range 0..%d for %d vcpus: %w",
			domid, p.Cap, limit, len(d.online), libxl.ErrInvalid)
	}
	if p.Weight != libxl.KeepSchedParam {
		d.sched.Weight = p.Weight
	}
	if p.Cap != libxl.KeepSchedParam {
		d.sched.Cap = p.Cap
	}
	return h.persist(d)
}

// VcpuInfo reports each vcpu: online or not, its affinity (every host cpu unless pinned), the cpu it last ran
// on, and its CPU time, which grows with wall time while the domain runs and the vcpu is online.
func (h *Host) VcpuInfo(ctx context.Context, domid libxl.DomID) ([]libxl.VcpuInfo, error) {
	if err := h.lockCtx(ctx); err != nil {
		return nil, err
	}
	defer h.mu.Unlock()
	d, err := h.get(domid)
	if err != nil {
		return nil, fmt.Errorf("vcpu info: %w", err)
	}
	now := h.now()
	out := make([]libxl.VcpuInfo, len(d.online))
	for i, on := range d.online {
		aff := d.affinity[i]
		if aff == nil {
			aff = make([]int, h.opts.CPUs)
			for c := range aff {
				aff[c] = c
			}
		} else {
			aff = slices.Clone(aff)
		}
		out[i] = libxl.VcpuInfo{
			ID:       i,
			Online:   on,
			Running:  on && d.state == libxl.StateRunning,
			CPU:      aff[(int(d.id)+i)%len(aff)],
			CPUTime:  d.vcpuCPUTime(i, now),
			Affinity: aff,
		}
	}
	return out, nil
}

// userdata are a domain's userdata blobs: a domain has one or two (the ownership marker), which a slice keeps
// in less than half of a map's memory.
type userdata []userdatum

type userdatum struct {
	key  string
	data []byte
}

func (u userdata) index(key string) int {
	return slices.IndexFunc(u, func(e userdatum) bool { return e.key == key })
}

func (u userdata) get(key string) ([]byte, bool) {
	if i := u.index(key); i >= 0 {
		return u[i].data, true
	}
	return nil, false
}

// set stores a copy of data under key; empty data deletes the key. It reports false for a delete of a key that
// was not there (nothing to persist).
func (u *userdata) set(key string, data []byte) bool {
	i := u.index(key)
	switch {
	case len(data) == 0 && i < 0:
		return false
	case len(data) == 0:
		*u = slices.Delete(*u, i, i+1)
	case i < 0:
		*u = append(*u, userdatum{key, slices.Clone(data)})
	default:
		(*u)[i].data = slices.Clone(data)
	}
	return true
}

// asMap is the persisted form; nil when there is none.
func (u userdata) asMap() map[string][]byte {
	if len(u) == 0 {
		return nil
	}
	m := make(map[string][]byte, len(u))
	for _, e := range u {
		m[e.key] = e.data
	}
	return m
}

func userdataOf(m map[string][]byte) userdata {
	var u userdata
	for k, v := range m {
		u.set(k, v)
	}
	return u
}

// checkUserdataKey applies libxl's rule: the key becomes part of a file name.
func checkUserdataKey(key string) error {
	if key == "" || strings.ContainsAny(key, "/\x00") {
		return fmt.Errorf("userdata key %q: %w", key, libxl.ErrInvalid)
	}
	return nil
}

// SetUserdata stores data under key for the domain's lifetime (daemon restarts included). Empty data deletes
// the key, as libxl_userdata_store with datalen 0 does.
func (h *Host) SetUserdata(ctx context.Context, domid libxl.DomID, key string, data []byte) error {
	if err := checkUserdataKey(key); err != nil {
		return fmt.Errorf("set userdata: domain %d: %w", domid, err)
	}
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.get(domid)
	if err != nil {
		return fmt.Errorf("set userdata: %w", err)
	}
	if !d.userdata.set(key, data) {
		return nil
	}
	return h.persist(d)
}

// Userdata returns the blob stored under key; libxl.ErrNoUserdata when there is none.
func (h *Host) Userdata(ctx context.Context, domid libxl.DomID, key string) ([]byte, error) {
	if err := h.lockCtx(ctx); err != nil {
		return nil, err
	}
	defer h.mu.Unlock()
	d, err := h.get(domid)
	if err != nil {
		return nil, fmt.Errorf("userdata: %w", err)
	}
	v, ok := d.userdata.get(key)
	if !ok {
		return nil, fmt.Errorf("userdata: domain %d key %q: %w", domid, key, libxl.ErrNoUserdata)
	}
	return append([]byte(nil), v...), nil
}
