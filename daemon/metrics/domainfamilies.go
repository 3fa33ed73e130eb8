package metrics

import (
	"strconv"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// domFamily is one libvirt_domain_* family and how a domain's row gives its samples.
type domFamily struct {
	name, help, typ string
	emit            func(t *TextWriter, r *domRow)
}

// domRow is what one scrape read of one domain.
type domRow struct {
	l      *domLabels
	info   libxl.DomainInfo
	maxMem uint64
	vcpus  []libxl.VcpuInfo
	disks  []diskRow
	nics   []nicRow
}

type diskRow struct {
	labels string
	s      libxl.DiskStats
}

type nicRow struct {
	labels string
	s      libxl.NicStats
}

// domainFamilies are the libvirt_domain_* families in the order a scrape writes them. Names, help texts and
// labels of the info, state, block and interface families are those of Debian's prometheus-libvirt-exporter
// 0.2.0; the rest (vcpus, balloon, block times, flushes, errors) extend them in the same scheme with what that
// exporter cannot read through libvirt's libxl driver.
func domainFamilies() []domFamily {
	dom := func(name, help, typ string, v func(r *domRow) float64) domFamily {
		return domFamily{name, help, typ, func(t *TextWriter, r *domRow) { t.Sample(r.l.base, v(r)) }}
	}
	vcpu := func(name, help, typ string, v func(i *libxl.VcpuInfo) float64) domFamily {
		return domFamily{name, help, typ, func(t *TextWriter, r *domRow) {
			for i := range r.vcpus {
				t.Sample(r.l.vcpuLabels(r.vcpus[i].ID), v(&r.vcpus[i]))
			}
		}}
	}
	blk := func(name, help string, v func(s *libxl.DiskStats) float64, timed bool) domFamily {
		return domFamily{"libvirt_domain_block_stats_" + name, help, "counter", func(t *TextWriter, r *domRow) {
			for i := range r.disks {
				if d := &r.disks[i]; !timed || d.s.HasTimes {
					t.Sample(d.labels, v(&d.s))
				}
			}
		}}
	}
	nic := func(name, help string, v func(s *libxl.NicStats) int64) domFamily {
		return domFamily{"libvirt_domain_interface_stats_" + name, help, "counter", func(t *TextWriter, r *domRow) {
			for i := range r.nics {
				t.Sample(r.nics[i].labels, float64(v(&r.nics[i].s)))
			}
		}}
	}
	kib := func(k uint64) float64 { return float64(k) * 1024 }
	return []domFamily{
		dom("libvirt_domain_state_code", "State of the domain.", "gauge",
			func(r *domRow) float64 { return float64(stateCode(r.info)) }),
		dom("libvirt_domain_info_maximum_memory_bytes", "Maximum allowed memory of the domain, in bytes.", "gauge",
			func(r *domRow) float64 { return kib(r.maxMem) }),
		dom("libvirt_domain_info_memory_usage_bytes", "Memory usage of the domain, in bytes.", "gauge",
			func(r *domRow) float64 { return kib(r.info.CurrentKiB) }),
		dom("libvirt_domain_info_virtual_cpus", "Number of virtual CPUs for the domain.", "gauge",
			func(r *domRow) float64 { return float64(r.info.OnlineVcpus) }),
		dom("libvirt_domain_info_maximum_virtual_cpus", "Maximum number of virtual CPUs of the domain.", "gauge",
			func(r *domRow) float64 { return float64(r.info.MaxVcpus) }),
		dom("libvirt_domain_info_cpu_time_seconds_total", "Amount of CPU time used by the domain, in seconds.", "counter",
			func(r *domRow) float64 { return seconds(r.info.CPUTime) }),
		dom("libvirt_domain_memory_stats_actual_balloon_bytes", "Current balloon size of the domain, in bytes.", "gauge",
			func(r *domRow) float64 { return kib(r.info.CurrentKiB) }),
		dom("libvirt_domain_memory_stats_available_bytes", "Memory available to the domain (its ceiling), in bytes.", "gauge",
			func(r *domRow) float64 { return kib(r.info.MaxMemKiB) }),
		vcpu("libvirt_domain_vcpu_time_seconds_total", "Amount of CPU time used by a virtual CPU, in seconds.", "counter",
			func(v *libxl.VcpuInfo) float64 { return seconds(v.CPUTime) }),
		vcpu("libvirt_domain_vcpu_state", "State of a virtual CPU: 0 offline, 1 running, 2 blocked.", "gauge",
			func(v *libxl.VcpuInfo) float64 { return float64(vcpuState(*v)) }),

		blk("read_bytes_total", "Number of bytes read from a block device, in bytes.",
			func(s *libxl.DiskStats) float64 { return float64(s.RdBytes) }, false),
		blk("read_requests_total", "Number of read requests from a block device.",
			func(s *libxl.DiskStats) float64 { return float64(s.RdReqs) }, false),
		blk("write_bytes_total", "Number of bytes written from a block device, in bytes.",
			func(s *libxl.DiskStats) float64 { return float64(s.WrBytes) }, false),
		blk("write_requests_total", "Number of write requests from a block device.",
			func(s *libxl.DiskStats) float64 { return float64(s.WrReqs) }, false),
		blk("flush_requests_total", "Number of flush requests to a block device.",
			func(s *libxl.DiskStats) float64 { return float64(s.FlReqs) }, false),
		blk("errors_total", "Number of failed requests to a block device.",
			func(s *libxl.DiskStats) float64 { return float64(s.Errs) }, false),
		blk("read_time_seconds_total", "Total time spent on reads from a block device, in seconds.",
			func(s *libxl.DiskStats) float64 { return seconds(s.RdTime) }, true),
		blk("write_time_seconds_total", "Total time spent on writes to a block device, in seconds.",
			func(s *libxl.DiskStats) float64 { return seconds(s.WrTime) }, true),
		blk("flush_time_seconds_total", "Total time spent on flushes of a block device, in seconds.",
			func(s *libxl.DiskStats) float64 { return seconds(s.FlTime) }, true),

		nic("receive_bytes_total", "Number of bytes received on a network interface, in bytes.",
			func(s *libxl.NicStats) int64 { return s.RxBytes }),
		nic("receive_packets_total", "Number of packets received on a network interface.",
			func(s *libxl.NicStats) int64 { return s.RxPackets }),
		nic("receive_errors_total", "Number of packet receive errors on a network interface.",
			func(s *libxl.NicStats) int64 { return s.RxErrs }),
		nic("receive_drops_total", "Number of packet receive drops on a network interface.",
			func(s *libxl.NicStats) int64 { return s.RxDrop }),
		nic("transmit_bytes_total", "Number of bytes transmitted on a network interface, in bytes.",
			func(s *libxl.NicStats) int64 { return s.TxBytes }),
		nic("transmit_packets_total", "Number of packets transmitted on a network interface.",
			func(s *libxl.NicStats) int64 { return s.TxPackets }),
		nic("transmit_errors_total", "Number of packet transmit errors on a network interface.",
			func(s *libxl.NicStats) int64 { return s.TxErrs }),
		nic("transmit_drops_total", "Number of packet transmit drops on a network interface.",
			func(s *libxl.NicStats) int64 { return s.TxDrop }),
	}
}

// seconds converts nanoseconds as Debian's exporter does (ns / 1e9, one rounding), not as Duration.Seconds
// (whole seconds plus the fraction, which may differ in the last bit), so that both report the same value.
func seconds(d time.Duration) float64 { return float64(d) / 1e9 }

// domLabels are a domain's rendered label sets, kept from scrape to scrape while the domain (its domid, name
// and uuid) lives, so that a scrape renders no label set it rendered before.
type domLabels struct {
	name, uuid string
	// base is `domain="NAME",uuid="UUID"`.
	base string
	vcpu []string
	devs []devLabels
	// seen is the number of the last scrape that reported the domain; the others' are dropped.
	seen uint64
}

// devLabels is a device's label set: its source (file or bridge) and target under the family's label names.
type devLabels struct {
	nic            bool
	source, target string
	text           string
}

func newDomLabels(name, uuid string) *domLabels {
	return &domLabels{name: name, uuid: uuid, base: labelSet("domain", name, "uuid", uuid)}
}

// vcpuLabels is the label set of vcpu id.
func (l *domLabels) vcpuLabels(id int) string {
	for len(l.vcpu) <= id {
		l.vcpu = append(l.vcpu, labelSet("domain", l.name, "uuid", l.uuid, "vcpu", strconv.Itoa(len(l.vcpu))))
	}
	return l.vcpu[id]
}

// devLabels is the label set of a disk (source_file, target_device) or an interface (source_bridge,
// target_device).
func (l *domLabels) devLabels(nic bool, source, target string) string {
	for _, d := range l.devs {
		if d.nic == nic && d.source == source && d.target == target {
			return d.text
		}
	}
	key := "source_file"
	if nic {
		key = "source_bridge"
	}
	d := devLabels{nic: nic, source: source, target: target,
		text: labelSet("domain", l.name, key, source, "target_device", target, "uuid", l.uuid)}
	l.devs = append(l.devs, d)
	return d.text
}
