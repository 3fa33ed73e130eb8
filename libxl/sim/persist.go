package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/virtxend/virtxend/libxl"
)

// The state directory's layout.
const (
	hostFile   = "host.json"
	lockFile   = "lock"
	domainsDir = "domains"
	tmpSuffix  = ".tmp"
)

// hostRecord is StateDir/host.json: the boot the guests under StateDir/domains belong to. A different boot
// means the host rebooted and they are gone. It is written once per boot.
type hostRecord struct {
	BootID   string    `json:"boot_id"`
	BootedAt time.Time `json:"booted_at"`
}

// floorPrefix names the marker file StateDir/domains/next-domid.N: no domid below N that is not in use may be
// handed out again. It is replaced (a new empty file, then removing the old) only when destroying a domain
// would otherwise let a restarted daemon reuse its domid: creating a file is much cheaper than replacing one.
const floorPrefix = "next-domid."

// domainRecord is StateDir/domains/<domid>.json: one simulated guest.
type domainRecord struct {
	DomID  libxl.DomID      `json:"domid"`
	UUID   string           `json:"uuid"`
	Name   string           `json:"name"`
	Type   libxl.DomainType `json:"type"`
	Config json.RawMessage  `json:"config"`
	// State and Reason hold libxl.State and libxl.ShutdownReason values.
	State      libxl.State          `json:"state"`
	Reason     libxl.ShutdownReason `json:"shutdown_reason"`
	MaxKiB     uint64               `json:"max_kib"`
	TargetKiB  uint64               `json:"target_kib"`
	CurrentKiB uint64               `json:"current_kib"`
	Online     []bool               `json:"vcpu_online"`
	// Affinity holds the pinned vcpus only; the others may run anywhere.
	Affinity     map[int][]int     `json:"vcpu_affinity,omitempty"`
	SchedWeight  int               `json:"sched_weight,omitempty"` // 0 in older files: the default
	SchedCap     int               `json:"sched_cap,omitempty"`
	VcpuTime     []time.Duration   `json:"vcpu_time_ns"`
	RunningSince time.Time         `json:"running_since,omitzero"`
	Created      time.Time         `json:"created"`
	Userdata     map[string][]byte `json:"userdata,omitempty"`
	Devices      []device          `json:"devices,omitempty"`
	Pending      *pendingShutdown  `json:"pending_shutdown,omitempty"`
}

func (d *domain) record() domainRecord {
	r := domainRecord{
		DomID:        d.id,
		UUID:         d.uuid,
		Name:         d.name,
		Type:         d.typ,
		Config:       d.config,
		State:        d.state,
		Reason:       d.reason,
		MaxKiB:       d.maxKiB,
		TargetKiB:    d.targetKiB,
		CurrentKiB:   d.curKiB,
		Online:       d.online,
		SchedWeight:  d.sched.Weight,
		SchedCap:     d.sched.Cap,
		VcpuTime:     d.vcpuTime,
		RunningSince: d.runSince,
		Created:      d.created,
		Userdata:     d.userdata.asMap(),
		Devices:      d.devices,
		Pending:      d.pending,
	}
	for i, a := range d.affinity {
		if a != nil {
			if r.Affinity == nil {
				r.Affinity = map[int][]int{}
			}
			r.Affinity[i] = a
		}
	}
	return r
}

func (r *domainRecord) domain() (*domain, error) {
	n := len(r.Online)
	if n == 0 || len(r.VcpuTime) != n {
		return nil, errors.New("inconsistent vcpu state")
	}
	if r.State == libxl.StateRunning && r.RunningSince.IsZero() {
		return nil, errors.New("running domain without a start time")
	}
	d := &domain{
		id:        r.DomID,
		uuid:      r.UUID,
		name:      r.Name,
		typ:       r.Type,
		config:    r.Config,
		state:     r.State,
		reason:    r.Reason,
		maxKiB:    r.MaxKiB,
		targetKiB: r.TargetKiB,
		curKiB:    r.CurrentKiB,
		online:    r.Online,
		affinity:  make([][]int, n),
		sched:     libxl.SchedParams{Weight: r.SchedWeight, Cap: r.SchedCap},
		vcpuTime:  r.VcpuTime,
		runSince:  r.RunningSince,
		created:   r.Created,
		userdata:  userdataOf(r.Userdata),
		devices:   r.Devices,
		pending:   r.Pending,
	}
	if d.sched.Weight == 0 {
		d.sched.Weight = libxl.DefaultSchedWeight
	}
	for i, a := range r.Affinity {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("affinity for vcpu %d of %d", i, n)
		}
		d.affinity[i] = a
	}
	return d, nil
}

func (h *Host) domainPath(id libxl.DomID) string {
	return filepath.Join(h.opts.StateDir, domainsDir, strconv.FormatUint(uint64(id), 10)+".json")
}

// persist writes d's file. Called with h.mu held: it touches d's file only, and costs one small write and a
// rename (plus an fsync with Options.Sync).
func (h *Host) persist(d *domain) error {
	data, err := json.Marshal(d.record())
	if err != nil {
		return fmt.Errorf("domain %d: encode state: %w", d.id, err)
	}
	if err := writeFileAtomic(h.domainPath(d.id), data, h.opts.Sync); err != nil {
		return fmt.Errorf("domain %d: persist state: %w", d.id, err)
	}
	return nil
}

// unpersist removes d's file, and moves the domid floor past d when a restarted daemon could otherwise reuse
// d's domid.
func (h *Host) unpersist(d *domain) error {
	if err := os.Remove(h.domainPath(d.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("domain %d: remove state: %w", d.id, err)
	}
	if d.id >= h.persistedNext || h.nextID < h.persistedNext {
		return h.persistFloor()
	}
	return nil
}

// persistFloor records h.nextID as the domid floor.
func (h *Host) persistFloor() error {
	dir := filepath.Join(h.opts.StateDir, domainsDir)
	f, err := os.OpenFile(filepath.Join(dir, floorPrefix+strconv.FormatUint(uint64(h.nextID), 10)),
		os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("persist domid counter: %w", err)
	}
	f.Close()
	if h.persistedNext != h.nextID {
		os.Remove(filepath.Join(dir, floorPrefix+strconv.FormatUint(uint64(h.persistedNext), 10)))
	}
	h.persistedNext = h.nextID
	return nil
}

func (h *Host) persistHost() error {
	data, err := json.Marshal(hostRecord{BootID: h.bootID, BootedAt: h.bootedAt})
	if err != nil {
		return fmt.Errorf("encode host state: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(h.opts.StateDir, hostFile), data, h.opts.Sync); err != nil {
		return fmt.Errorf("persist host state: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that a reader (or a daemon restarted after a crash) sees either
// the old or the new content. Without sync the data may be lost by a power failure, which also kills every
// guest the file describes; with sync it is durable.
func writeFileAtomic(path string, data []byte, sync bool) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if sync {
		if dir, err := os.Open(filepath.Dir(path)); err == nil {
			err = dir.Sync()
			dir.Close()
			return err
		}
	}
	return nil
}

// load reads the state directory into h. It is called by New with the directory locked.
func (h *Host) load() error {
	dir := filepath.Join(h.opts.StateDir, domainsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	now := h.now()

	var rec hostRecord
	data, err := os.ReadFile(filepath.Join(h.opts.StateDir, hostFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read host state: %w", err)
	default:
		if err := json.Unmarshal(data, &rec); err != nil {
			return fmt.Errorf("read host state %s: %w", filepath.Join(h.opts.StateDir, hostFile), err)
		}
	}
	if rec.BootID != h.bootID {
		// The host rebooted (or was never booted): its guests died with it.
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("read state directory: %w", err)
		}
		for _, e := range entries {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("clear state of the previous boot: %w", err)
			}
		}
		h.bootedAt = now
		h.nextID = 1
		h.doms[libxl.Dom0] = newDom0(h.opts, now)
		return h.persistHost()
	}
	h.bootedAt = rec.BootedAt

	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read state directory: %w", err)
	}
	var highest libxl.DomID
	var records []string
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if n, ok := strings.CutPrefix(name, floorPrefix); ok {
			// After a crash between creating a floor and removing the old one, the highest wins.
			v, err := strconv.ParseUint(n, 10, 32)
			if err != nil {
				continue
			}
			stale := libxl.DomID(v)
			if stale > h.persistedNext {
				stale, h.persistedNext = h.persistedNext, stale
			}
			if stale != 0 {
				os.Remove(filepath.Join(dir, floorPrefix+strconv.FormatUint(uint64(stale), 10)))
			}
			continue
		}
		if strings.HasSuffix(name, tmpSuffix) {
			os.Remove(path) // a write the previous daemon did not finish; the old file is intact
			continue
		}
		if strings.HasSuffix(name, ".json") {
			records = append(records, name)
		}
	}
	// A host of ten thousand domains keeps as many records (0.23 s of CPU to decode one after the other, most
	// of a restart's reading after the live definitions): decoded on every processor, kept in directory order.
	doms, errs := make([]*domain, len(records)), make([]error, len(records))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, name := range records {
		g.Go(func() error {
			doms[i], errs[i] = readDomainRecord(dir, name)
			return nil
		})
	}
	_ = g.Wait()
	for i, d := range doms {
		if errs[i] != nil {
			return errs[i]
		}
		h.doms[d.id] = d
		if d.id != libxl.Dom0 {
			h.names[d.name] = d.id
		}
		highest = max(highest, d.id)
	}
	if _, ok := h.doms[libxl.Dom0]; !ok {
		h.doms[libxl.Dom0] = newDom0(h.opts, h.bootedAt)
	}
	h.nextID = h.persistedNext
	if h.nextID <= highest && highest+1 < domidFirstReserved {
		h.nextID = highest + 1
	}
	if h.nextID == 0 || h.nextID >= domidFirstReserved {
		h.nextID = 1
	}

	// Shutdown requests that came due while no daemon was running have been acted on by their guests.
	for _, d := range h.doms {
		if d.pending == nil {
			continue
		}
		if d.state == libxl.StateRunning && !d.pending.Deadline.After(now) {
			h.completeShutdown(d, d.pending.Deadline)
			continue
		}
		h.armShutdown(d, now)
	}
	return nil
}

// readDomainRecord reads and checks the record of one domain, the file name in dir.
func readDomainRecord(dir, name string) (*domain, error) {
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read domain state: %w", err)
	}
	var r domainRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read domain state %s: %w", path, err)
	}
	if strconv.FormatUint(uint64(r.DomID), 10)+".json" != name {
		return nil, fmt.Errorf("read domain state %s: holds domid %d", path, r.DomID)
	}
	d, err := r.domain()
	if err != nil {
		return nil, fmt.Errorf("read domain state %s: %w", path, err)
	}
	return d, nil
}
