package sim

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// Limits Xen and libxl apply to a domain's build info.
const (
	// defaultMemKiB is libxl's LIBXL_MEMKB_DEFAULT resolution for max_memkb (32 MiB).
	defaultMemKiB = 32 * 1024
	// maxVcpusHVM is HVM_MAX_VCPUS in Xen 4.17 (also the limit for PVH guests).
	maxVcpusHVM = 128
	// maxVcpusPV is MAX_VIRT_CPUS for PV guests.
	maxVcpusPV = 512
	// domidFirstReserved is DOMID_FIRST_RESERVED: domids wrap below it.
	domidFirstReserved = 0x7ff0
)

// dom0UUID is Domain-0's UUID as Xen reports it.
const dom0UUID = "00000000-0000-0000-0000-000000000000"

// dom0Name is Domain-0's name.
const dom0Name = "Domain-0"

// domain is one simulated guest. All fields are guarded by Host.mu.
type domain struct {
	id     libxl.DomID
	uuid   string
	name   string
	typ    libxl.DomainType
	config json.RawMessage // the libxl JSON the domain was built from, devices aside

	state  libxl.State
	reason libxl.ShutdownReason
	// saving is set while SaveDomain writes the image (the guest is suspended).
	saving bool

	maxKiB, targetKiB, curKiB uint64

	online   []bool  // per vcpu, len = max vcpus
	affinity [][]int // per vcpu; nil means every host cpu
	sched    libxl.SchedParams
	vcpuTime []time.Duration
	// runSince is when the domain last started running; zero unless StateRunning. CPU time accrued since then
	// is not yet folded into vcpuTime.
	runSince time.Time
	created  time.Time

	userdata userdata
	devices  []device

	pending  *pendingShutdown
	timer    *time.Timer
	timerGen uint64

	console *console
	// outbuf holds what the guest printed before its console was opened.
	outbuf []byte
	// bootedHere is true when this Host booted the guest (its banner is news to a console reader).
	bootedHere bool
}

// pendingShutdown is a shutdown or reboot request the guest has not acted on yet.
type pendingShutdown struct {
	Reason libxl.ShutdownReason `json:"reason"`
	// Remaining is the guest time the guest still needs; authoritative while the domain is paused.
	Remaining time.Duration `json:"remaining"`
	// Deadline is when the guest will be down; authoritative while the domain runs.
	Deadline time.Time `json:"deadline,omitzero"`
}

func (d *domain) isDom0() bool { return d.id == libxl.Dom0 }

// live reports whether the guest is built and not shut down (running or paused).
func (d *domain) live() bool {
	return (d.state == libxl.StateRunning || d.state == libxl.StatePaused) && !d.saving
}

// fold moves the CPU time accrued since runSince into vcpuTime, so that the online set or state may change.
func (d *domain) fold(now time.Time) {
	if d.runSince.IsZero() {
		return
	}
	if el := now.Sub(d.runSince); el > 0 {
		for i, on := range d.online {
			if on {
				d.vcpuTime[i] += el
			}
		}
	}
	d.runSince = now
}

// setState moves the domain to s, keeping CPU accounting right.
func (d *domain) setState(s libxl.State, now time.Time) {
	d.fold(now)
	d.state = s
	if s == libxl.StateRunning {
		d.runSince = now
	} else {
		d.runSince = time.Time{}
	}
}

// vcpuCPUTime is the CPU time of vcpu i at now.
func (d *domain) vcpuCPUTime(i int, now time.Time) time.Duration {
	t := d.vcpuTime[i]
	if !d.runSince.IsZero() && d.online[i] {
		if el := now.Sub(d.runSince); el > 0 {
			t += el
		}
	}
	return t
}

func (d *domain) onlineCount() int {
	n := 0
	for _, on := range d.online {
		if on {
			n++
		}
	}
	return n
}

func (d *domain) info(now time.Time) libxl.DomainInfo {
	var cpu time.Duration
	for i := range d.online {
		cpu += d.vcpuCPUTime(i, now)
	}
	return libxl.DomainInfo{
		DomID:          d.id,
		UUID:           d.uuid,
		Name:           d.name,
		Type:           d.typ,
		State:          d.state,
		ShutdownReason: d.reason,
		MaxMemKiB:      d.maxKiB,
		CurrentKiB:     d.curKiB,
		TargetKiB:      d.targetKiB,
		MaxVcpus:       len(d.online),
		OnlineVcpus:    d.onlineCount(),
		CPUTime:        cpu,
		Created:        d.created,
	}
}

func (d *domain) event(t libxl.EventType, now time.Time) libxl.Event {
	return libxl.Event{Type: t, DomID: d.id, UUID: d.uuid, Name: d.name, State: d.state, Reason: d.reason, Time: now}
}

func (d *domain) stopTimer() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.timerGen++
}

// buildSpec is what a DomainConfig resolves to once libxl's defaults are applied.
type buildSpec struct {
	name, uuid        string
	typ               libxl.DomainType
	maxKiB, targetKiB uint64
	online            []bool
	sched             libxl.SchedParams
	config            json.RawMessage
	devices           []device
}

// resolveConfig validates cfg and applies libxl's defaults, as libxl__domain_config_setdefault does.
func resolveConfig(cfg *libxl.DomainConfig) (buildSpec, error) {
	if cfg == nil {
		return buildSpec{}, fmt.Errorf("domain config is nil: %w", libxl.ErrInvalid)
	}
	c, b := cfg.CInfo, cfg.BInfo
	s := buildSpec{name: c.Name, uuid: c.UUID, typ: c.Type}
	if s.name == "" {
		return s, fmt.Errorf("domain name unspecified: %w", libxl.ErrInvalid)
	}
	if s.name == dom0Name {
		return s, fmt.Errorf("domain with name %q already exists: %w", s.name, libxl.ErrInvalid)
	}
	limit := maxVcpusHVM
	switch s.typ {
	case libxl.DomainTypeHVM, libxl.DomainTypePVH:
	case libxl.DomainTypePV:
		limit = maxVcpusPV
	case "":
		return s, fmt.Errorf("domain %q: domain type unspecified: %w", s.name, libxl.ErrInvalid)
	default:
		return s, fmt.Errorf("domain %q: unknown domain type %q: %w", s.name, s.typ, libxl.ErrInvalid)
	}
	if s.uuid == "" || s.uuid == dom0UUID {
		s.uuid = newUUID()
	} else if !validUUID(s.uuid) {
		return s, fmt.Errorf("domain %q: malformed uuid %q: %w", s.name, s.uuid, libxl.ErrInvalid)
	}

	s.maxKiB, s.targetKiB = memKB(b.MaxMemkb), memKB(b.TargetMemkb)
	switch {
	case s.maxKiB == 0 && s.targetKiB == 0:
		s.maxKiB, s.targetKiB = defaultMemKiB, defaultMemKiB
	case s.maxKiB == 0:
		s.maxKiB = s.targetKiB
	case s.targetKiB == 0:
		s.targetKiB = s.maxKiB
	}
	if s.targetKiB > s.maxKiB {
		return s, fmt.Errorf("domain %q: target_memkb %d exceeds max_memkb %d: %w",
			s.name, s.targetKiB, s.maxKiB, libxl.ErrInvalid)
	}

	maxV := b.MaxVcpus
	if maxV == 0 {
		maxV = 1
	}
	if maxV < 0 || maxV > limit {
		return s, fmt.Errorf("domain %q: max_vcpus %d out of range 1..%d for a %s guest: %w",
			s.name, maxV, limit, s.typ, libxl.ErrInvalid)
	}
	s.sched = libxl.SchedParams{Weight: libxl.DefaultSchedWeight, Cap: max(b.SchedParams.Cap, 0)}
	switch w := b.SchedParams.Weight; {
	case w > libxl.MaxSchedWeight:
		return s, fmt.Errorf("domain %q: scheduler weight %d out of range 1..%d: %w", s.name, w, libxl.MaxSchedWeight, libxl.ErrInvalid)
	case w > 0:
		s.sched.Weight = w
	}
	s.online = make([]bool, maxV)
	if len(b.AvailVcpus) == 0 {
		for i := range s.online {
			s.online[i] = true
		}
	}
	for _, v := range b.AvailVcpus {
		if v < 0 || v >= maxV {
			return s, fmt.Errorf("domain %q: avail_vcpus has vcpu %d, max_vcpus is %d: %w",
				s.name, v, maxV, libxl.ErrInvalid)
		}
		s.online[v] = true
	}
	stored := *cfg // the generated UUID belongs in the config the domain keeps (and a save image carries)
	stored.CInfo.UUID = s.uuid
	raw, err := json.Marshal(&stored)
	if err != nil {
		return s, fmt.Errorf("domain %q: encode config: %w", s.name, err)
	}
	s.config = raw
	if s.devices, err = devicesFromConfig(raw); err != nil {
		return s, fmt.Errorf("domain %q: %w", s.name, err)
	}
	return s, nil
}

// memKB maps LIBXL_MEMKB_DEFAULT (all ones) to 0, the other spelling of "libxl's default".
func memKB(v uint64) uint64 {
	if v == ^uint64(0) {
		return 0
	}
	return v
}

// newDomain builds the in-memory domain for spec.
func newDomain(id libxl.DomID, s buildSpec, now time.Time, paused bool) *domain {
	d := &domain{
		id:         id,
		uuid:       s.uuid,
		name:       s.name,
		typ:        s.typ,
		config:     s.config,
		reason:     libxl.ShutdownUnknown,
		maxKiB:     s.maxKiB,
		targetKiB:  s.targetKiB,
		curKiB:     s.targetKiB,
		online:     s.online,
		affinity:   make([][]int, len(s.online)),
		sched:      s.sched,
		vcpuTime:   make([]time.Duration, len(s.online)),
		created:    now,
		devices:    s.devices,
		bootedHere: true,
	}
	st := libxl.StateRunning
	if paused {
		st = libxl.StatePaused
	}
	d.setState(st, now)
	return d
}

// newDom0 builds Domain-0 as a freshly booted host has it.
func newDom0(opts Options, booted time.Time) *domain {
	d := &domain{
		id:        libxl.Dom0,
		uuid:      dom0UUID,
		name:      dom0Name,
		typ:       libxl.DomainTypePV,
		config:    json.RawMessage(`{"c_info":{"type":"pv","name":"Domain-0"}}`),
		reason:    libxl.ShutdownUnknown,
		maxKiB:    opts.Dom0MemKiB,
		targetKiB: opts.Dom0MemKiB,
		curKiB:    opts.Dom0MemKiB,
		online:    make([]bool, opts.CPUs),
		affinity:  make([][]int, opts.CPUs),
		sched:     libxl.SchedParams{Weight: libxl.DefaultSchedWeight},
		vcpuTime:  make([]time.Duration, opts.CPUs),
		created:   booted,
	}
	for i := range d.online {
		d.online[i] = true
	}
	d.setState(libxl.StateRunning, booted)
	return d
}

// normalizeCPUs validates a cpu list against the host and returns it sorted without duplicates.
func normalizeCPUs(cpus []int, hostCPUs int) ([]int, error) {
	if len(cpus) == 0 {
		return nil, fmt.Errorf("empty cpu map: %w", libxl.ErrInvalid)
	}
	out := slices.Clone(cpus)
	for _, c := range out {
		if c < 0 || c >= hostCPUs {
			return nil, fmt.Errorf("cpu %d out of range 0..%d: %w", c, hostCPUs-1, libxl.ErrInvalid)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// newUUID returns a random (version 4) UUID, as libxl_uuid_generate does for a domain created without one.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// validUUID reports whether s is a UUID in canonical form.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}
