package metrics

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/store"
	"github.com/virtxend/virtxend/libxl"
)

// Sources are what the collectors read: the daemon's own records, and the hypervisor for counters only.
type Sources struct {
	Observer *controllers.Observer
	Store    *store.Store
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

var (
	domLabels   = []string{"domain", "uuid"}
	blockLabels = []string{"domain", "uuid", "source_file", "target_device"}
	nicLabels   = []string{"domain", "uuid", "source_bridge", "target_device"}
	vcpuLabels  = []string{"domain", "uuid", "vcpu"}
)

// domainDescs are the libvirt_* families. Names, help texts and labels of the first group are those of Debian's
// prometheus-libvirt-exporter 0.2.0; the rest (vcpus, balloon, block times, flushes, errors) extend them in the
// same scheme with what that exporter cannot read through libvirt's libxl driver.
type domainDescs struct {
	up, count, state, maxMem, mem, vcpus, cpuTime                  *prometheus.Desc
	rdBytes, rdReqs, wrBytes, wrReqs                               *prometheus.Desc
	rxBytes, rxPkts, rxErrs, rxDrop, txBytes, txPkts, txErrs, txDr *prometheus.Desc

	maxVcpus, vcpuTime, vcpuState, balloon, available *prometheus.Desc
	flReqs, blkErrs, rdTime, wrTime, flTime           *prometheus.Desc
}

func newDomainDescs() domainDescs {
	bs := func(n, h string) *prometheus.Desc { return desc("libvirt_domain_block_stats_"+n, h, blockLabels...) }
	is := func(n, h string) *prometheus.Desc { return desc("libvirt_domain_interface_stats_"+n, h, nicLabels...) }
	return domainDescs{
		up:      desc("libvirt_up", "Whether scraping libvirt's metrics was successful."),
		count:   desc("libvirt_domains_number", "Number of domains."),
		state:   desc("libvirt_domain_state_code", "State of the domain.", domLabels...),
		maxMem:  desc("libvirt_domain_info_maximum_memory_bytes", "Maximum allowed memory of the domain, in bytes.", domLabels...),
		mem:     desc("libvirt_domain_info_memory_usage_bytes", "Memory usage of the domain, in bytes.", domLabels...),
		vcpus:   desc("libvirt_domain_info_virtual_cpus", "Number of virtual CPUs for the domain.", domLabels...),
		cpuTime: desc("libvirt_domain_info_cpu_time_seconds_total", "Amount of CPU time used by the domain, in seconds.", domLabels...),
		rdBytes: bs("read_bytes_total", "Number of bytes read from a block device, in bytes."),
		rdReqs:  bs("read_requests_total", "Number of read requests from a block device."),
		wrBytes: bs("write_bytes_total", "Number of bytes written from a block device, in bytes."),
		wrReqs:  bs("write_requests_total", "Number of write requests from a block device."),
		rxBytes: is("receive_bytes_total", "Number of bytes received on a network interface, in bytes."),
		rxPkts:  is("receive_packets_total", "Number of packets received on a network interface."),
		rxErrs:  is("receive_errors_total", "Number of packet receive errors on a network interface."),
		rxDrop:  is("receive_drops_total", "Number of packet receive drops on a network interface."),
		txBytes: is("transmit_bytes_total", "Number of bytes transmitted on a network interface, in bytes."),
		txPkts:  is("transmit_packets_total", "Number of packets transmitted on a network interface."),
		txErrs:  is("transmit_errors_total", "Number of packet transmit errors on a network interface."),
		txDr:    is("transmit_drops_total", "Number of packet transmit drops on a network interface."),

		maxVcpus:  desc("libvirt_domain_info_maximum_virtual_cpus", "Maximum number of virtual CPUs of the domain.", domLabels...),
		vcpuTime:  desc("libvirt_domain_vcpu_time_seconds_total", "Amount of CPU time used by a virtual CPU, in seconds.", vcpuLabels...),
		vcpuState: desc("libvirt_domain_vcpu_state", "State of a virtual CPU: 0 offline, 1 running, 2 blocked.", vcpuLabels...),
		balloon:   desc("libvirt_domain_memory_stats_actual_balloon_bytes", "Current balloon size of the domain, in bytes.", domLabels...),
		available: desc("libvirt_domain_memory_stats_available_bytes", "Memory available to the domain (its ceiling), in bytes.", domLabels...),
		flReqs:    bs("flush_requests_total", "Number of flush requests to a block device."),
		blkErrs:   bs("errors_total", "Number of failed requests to a block device."),
		rdTime:    bs("read_time_seconds_total", "Total time spent on reads from a block device, in seconds."),
		wrTime:    bs("write_time_seconds_total", "Total time spent on writes to a block device, in seconds."),
		flTime:    bs("flush_time_seconds_total", "Total time spent on flushes of a block device, in seconds."),
	}
}

// DomainCollector exports the libvirt_domain_* families for every running domain (Domain-0 and foreign domains
// included), as Debian's exporter does through virConnectListDomains: the values are those virsh dominfo,
// domblkstat and domifstat report.
type DomainCollector struct {
	src Sources
	d   domainDescs
}

// NewDomainCollector returns a collector over src.
func NewDomainCollector(src Sources) *DomainCollector {
	return &DomainCollector{src: src, d: newDomainDescs()}
}

// Describe sends every family's description.
func (c *DomainCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

// Collect reads one scrape.
func (c *DomainCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	observed := c.src.Observer.List()
	slices.SortFunc(observed, func(a, b controllers.Observed) int { return int(a.Info.DomID) - int(b.Info.DomID) })
	fresh := map[libxl.DomID]libxl.DomainInfo{}
	up := 1.0
	if infos, err := c.src.HV.ListDomains(ctx); err == nil {
		for _, i := range infos {
			fresh[i.DomID] = i
		}
	} else {
		up = 0 // the counters below are the last observation's
	}
	objs := map[types.UID]*v1alpha1.XenDomain{}
	if list, err := store.SharedList[*v1alpha1.XenDomain](c.src.Store, v1alpha1.LocalNamespace); err == nil {
		for _, o := range list {
			objs[o.UID] = o
		}
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	gauge(c.d.up, up)
	gauge(c.d.count, float64(len(observed)))
	for i := range observed {
		ob := &observed[i]
		info := ob.Info
		if f, ok := fresh[info.DomID]; ok && f.UUID == info.UUID {
			info = f
		}
		var obj *v1alpha1.XenDomain
		if ob.Marker != nil {
			obj = objs[ob.Marker.UID]
		}
		name, uuid := info.Name, strings.ToLower(info.UUID)
		maxMem := info.MaxMemKiB
		if info.DomID == libxl.Dom0 && maxMem == 0 {
			maxMem = info.CurrentKiB
		}
		gauge(c.d.state, float64(stateCode(info)), name, uuid)
		gauge(c.d.maxMem, float64(maxMem)*1024, name, uuid)
		gauge(c.d.mem, float64(info.CurrentKiB)*1024, name, uuid)
		gauge(c.d.vcpus, float64(info.OnlineVcpus), name, uuid)
		gauge(c.d.maxVcpus, float64(info.MaxVcpus), name, uuid)
		counter(c.d.cpuTime, info.CPUTime.Seconds(), name, uuid)
		gauge(c.d.balloon, float64(info.CurrentKiB)*1024, name, uuid)
		gauge(c.d.available, float64(info.MaxMemKiB)*1024, name, uuid)
		if vcpus, err := c.src.HV.VcpuInfo(ctx, info.DomID); err == nil {
			for _, v := range vcpus {
				id := fmt.Sprint(v.ID)
				counter(c.d.vcpuTime, v.CPUTime.Seconds(), name, uuid, id)
				gauge(c.d.vcpuState, float64(vcpuState(v)), name, uuid, id)
			}
		}
		if c.src.Counters == nil || info.DomID == libxl.Dom0 {
			continue
		}
		def := c.definition(uuid, info.DomID, obj)
		if def == nil {
			continue
		}
		c.collectDevices(ctx, ch, info.DomID, name, uuid, def)
	}
}

// definition is the live definition of the running domain, or the object's spec before the reconciler wrote
// one (a domain adopted from an older virtxend); nil for a foreign domain.
func (c *DomainCollector) definition(uuid string, id libxl.DomID, obj *v1alpha1.XenDomain) *v1alpha1.DomainSpec {
	if c.src.Live != nil {
		if l := c.src.Live.Live(uuid); l != nil && l.DomID == id {
			return &l.Domain
		}
	}
	if obj != nil {
		return &obj.Spec.Domain
	}
	return nil
}

// collectDevices exports the disks (but cdroms, as the exporter skips them) and interfaces of def.
func (c *DomainCollector) collectDevices(ctx context.Context, ch chan<- prometheus.Metric, id libxl.DomID, name, uuid string, def *v1alpha1.DomainSpec) {
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	for _, disk := range def.Devices.Disks {
		if disk.Device == "cdrom" {
			continue
		}
		s, err := c.src.Counters.DiskStats(ctx, id, disk.Target.Dev)
		if err != nil {
			continue
		}
		file := ""
		if disk.Source != nil {
			file = disk.Source.File
		}
		l := []string{name, uuid, file, disk.Target.Dev}
		counter(c.d.rdBytes, float64(s.RdBytes), l...)
		counter(c.d.rdReqs, float64(s.RdReqs), l...)
		counter(c.d.wrBytes, float64(s.WrBytes), l...)
		counter(c.d.wrReqs, float64(s.WrReqs), l...)
		counter(c.d.flReqs, float64(s.FlReqs), l...)
		counter(c.d.blkErrs, float64(s.Errs), l...)
		if s.HasTimes {
			counter(c.d.rdTime, s.RdTime.Seconds(), l...)
			counter(c.d.wrTime, s.WrTime.Seconds(), l...)
			counter(c.d.flTime, s.FlTime.Seconds(), l...)
		}
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
		s, err := c.src.Counters.NicStats(ctx, id, i, ifname)
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
		l := []string{name, uuid, bridge, target}
		counter(c.d.rxBytes, float64(s.RxBytes), l...)
		counter(c.d.rxPkts, float64(s.RxPackets), l...)
		counter(c.d.rxErrs, float64(s.RxErrs), l...)
		counter(c.d.rxDrop, float64(s.RxDrop), l...)
		counter(c.d.txBytes, float64(s.TxBytes), l...)
		counter(c.d.txPkts, float64(s.TxPackets), l...)
		counter(c.d.txErrs, float64(s.TxErrs), l...)
		counter(c.d.txDr, float64(s.TxDrop), l...)
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
