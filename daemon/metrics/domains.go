package metrics

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/libxl"
)

// Sources are what the collectors read: the daemon's own records, and the hypervisor for counters only.
type Sources struct {
	Observer *controllers.Observer
	// Objects are the XenDomain objects, read for the definitions of domains that have no live one.
	Objects Objects
	// Live are the live definitions of running domains: the disks and interfaces a scrape reports, with the
	// target names dumpxml shows.
	Live controllers.LiveReader
	// HV is read for counters: one listing per scrape (cpu time, balloon) and each domain's vcpus.
	HV libxl.Hypervisor
	// Counters reads disk and interface counters; without it those families are empty.
	Counters libxl.DeviceStats
}

// scrapeTimeout bounds the hypervisor reads of one scrape.
const scrapeTimeout = 10 * time.Second

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// DomainCollector writes the libvirt_domain_* families for every running domain (Domain-0 and foreign domains
// included), as Debian's exporter does through virConnectListDomains: the values are those virsh dominfo,
// domblkstat and domifstat report. It is a Section of the endpoint rather than a client_golang Collector:
// written straight in the text format, a thousand domains' 45,000 series cost a fraction of what building,
// gathering and encoding them as client_golang metrics did; each domain's label sets are rendered once and
// kept while it lives.
type DomainCollector struct {
	src  Sources
	fams []domFamily

	// mu serialises scrapes, which share the label cache and the rows.
	mu      sync.Mutex
	scrapes uint64
	labels  map[libxl.DomID]*domLabels
	rows    []domRow
}

// NewDomainCollector returns a collector over src.
func NewDomainCollector(src Sources) *DomainCollector {
	return &DomainCollector{src: src, fams: domainFamilies(), labels: map[libxl.DomID]*domLabels{}}
}

// WriteText reads one scrape and writes it.
func (c *DomainCollector) WriteText(ctx context.Context, t *TextWriter) error {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scrapes++
	observed := c.src.Observer.List()
	slices.SortFunc(observed, func(a, b controllers.Observed) int { return int(a.Info.DomID) - int(b.Info.DomID) })
	up := 1.0
	fresh, err := c.src.HV.ListDomains(ctx)
	if err != nil {
		up = 0 // the counters below are the last observation's
	}
	byID := func(a, b libxl.DomainInfo) int { return int(a.DomID) - int(b.DomID) }
	if !slices.IsSortedFunc(fresh, byID) {
		slices.SortFunc(fresh, byID)
	}
	var objs map[string]*v1alpha1.XenDomain // by domain UUID; read only when a domain has no live definition
	object := func(uuid string) *v1alpha1.XenDomain {
		if objs == nil {
			objs = map[string]*v1alpha1.XenDomain{}
			if list, err := c.src.Objects(ctx); err == nil {
				for _, o := range list {
					objs[o.DomainUUID()] = o
				}
			}
		}
		return objs[uuid]
	}
	rows := c.rows[:0]
	j := 0
	for i := range observed {
		ob := &observed[i]
		info := ob.Info
		for j < len(fresh) && fresh[j].DomID < info.DomID {
			j++
		}
		if j < len(fresh) && fresh[j].DomID == info.DomID && fresh[j].UUID == info.UUID {
			info = fresh[j]
		}
		rows = append(rows, domRow{})
		r := &rows[len(rows)-1]
		r.info, r.l = info, c.labelsOf(info)
		r.maxMem = info.MaxMemKiB
		if info.DomID == libxl.Dom0 && r.maxMem == 0 {
			r.maxMem = info.CurrentKiB
		}
		if vcpus, err := c.src.HV.VcpuInfo(ctx, info.DomID); err == nil {
			r.vcpus = vcpus
		}
		if c.src.Counters == nil || info.DomID == libxl.Dom0 {
			continue
		}
		if def := c.definition(r.l.uuid, info.DomID, ob, object); def != nil {
			c.readDevices(ctx, r, def)
		}
	}
	for id, l := range c.labels {
		if l.seen != c.scrapes {
			delete(c.labels, id)
		}
	}
	t.Family("libvirt_up", "Whether scraping libvirt's metrics was successful.", "gauge")
	t.Sample("", up)
	t.Family("libvirt_domains_number", "Number of domains.", "gauge")
	t.Sample("", float64(len(observed)))
	for _, f := range c.fams {
		t.Family(f.name, f.help, f.typ)
		for i := range rows {
			f.emit(t, &rows[i])
		}
	}
	clear(rows) // the next scrape reuses the slice, not what it held
	c.rows = rows[:0]
	return ctx.Err()
}

// labelsOf returns the label sets of the domain info describes, rendering them when the domain is new.
func (c *DomainCollector) labelsOf(info libxl.DomainInfo) *domLabels {
	uuid := strings.ToLower(info.UUID)
	l := c.labels[info.DomID]
	if l == nil || l.name != info.Name || l.uuid != uuid {
		l = newDomLabels(info.Name, uuid)
		c.labels[info.DomID] = l
	}
	l.seen = c.scrapes
	return l
}

// definition is the live definition of the running domain, or the object's spec before the reconciler wrote
// one (a domain adopted from an older virtxend); nil for a foreign domain.
func (c *DomainCollector) definition(uuid string, id libxl.DomID, ob *controllers.Observed, object func(string) *v1alpha1.XenDomain) *v1alpha1.DomainSpec {
	if c.src.Live != nil {
		if l := c.src.Live.Live(uuid); l != nil && l.DomID == id {
			return &l.Domain
		}
	}
	if ob.Marker == nil {
		return nil
	}
	if obj := object(ob.Marker.UUID); obj != nil {
		return &obj.Spec.Domain
	}
	return nil
}

// readDevices reads the counters of the disks (but cdroms, as the exporter skips them) and interfaces of def.
func (c *DomainCollector) readDevices(ctx context.Context, r *domRow, def *v1alpha1.DomainSpec) {
	for _, disk := range def.Devices.Disks {
		if disk.Device == "cdrom" {
			continue
		}
		s, err := c.src.Counters.DiskStats(ctx, r.info.DomID, disk.Target.Dev)
		if err != nil {
			continue
		}
		file := ""
		if disk.Source != nil {
			file = disk.Source.File
		}
		r.disks = append(r.disks, diskRow{labels: r.l.devLabels(false, file, disk.Target.Dev), s: s})
	}
	for i, nic := range def.Devices.Interfaces {
		target := nic.Target
		if target == "" {
			continue // the exporter reports only interfaces with a target name, which a running domain's have
		}
		ifname := target
		if strings.HasPrefix(ifname, "vif") {
			ifname = ""
		}
		s, err := c.src.Counters.NicStats(ctx, r.info.DomID, i, ifname)
		if err != nil {
			continue
		}
		if nic.Type != "ethernet" {
			s = s.Swapped()
		}
		bridge := ""
		if nic.Source != nil {
			bridge = nic.Source.Bridge
		}
		r.nics = append(r.nics, nicRow{labels: r.l.devLabels(true, bridge, target), s: s})
	}
}

// libvirt's virDomainState values, as virDomainGetInfo reports them for a running domain.
const (
	stateRunning  = 1
	statePaused   = 3
	stateShutdown = 4
	stateCrashed  = 6
)

// stateCode is the libvirt state of a domain the hypervisor holds, as the facade maps it.
func stateCode(i libxl.DomainInfo) int {
	switch i.State {
	case libxl.StatePaused:
		return statePaused
	case libxl.StateShutdown:
		if i.ShutdownReason == libxl.ShutdownCrash {
			return stateCrashed
		}
		return stateShutdown
	case libxl.StateCrashed:
		return stateCrashed
	case libxl.StateDying:
		return stateShutdown
	}
	return stateRunning
}

// vcpuState is virVcpuState: 0 offline, 1 running, 2 blocked.
func vcpuState(v libxl.VcpuInfo) int {
	switch {
	case v.Running:
		return 1
	case v.Blocked:
		return 2
	}
	return 0
}
