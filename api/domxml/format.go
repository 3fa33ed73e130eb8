package domxml

import (
	"strconv"
	"strings"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// xenNamespace is the namespace of libvirt's Xen extensions (<xen:commandline>).
const xenNamespace = "http://libvirt.org/schemas/domain/xen/1.0"

// FormatOptions says how to print a domain.
type FormatOptions struct {
	// DomID is the running domain's Xen domain ID, printed as <domain id='N'>; a negative DomID prints the
	// inactive definition (no id attribute). Domain-0 has DomID 0.
	DomID int
	// Name is printed when the spec has no name (a spec's name defaults to its object's name).
	Name string
}

// Inactive formats the persistent definition of a domain, as `virsh dumpxml --inactive` prints it.
var Inactive = FormatOptions{DomID: -1}

// Format prints spec as libvirt domain XML, in libvirt's element order and style (what virDomainDefFormat
// prints). It prints what the spec holds: apply ApplyDefaults first to get the XML libvirt shows after define.
func Format(spec *v1alpha1.DomainSpec, opts FormatOptions) ([]byte, error) {
	name := spec.Name
	if name == "" {
		name = opts.Name
	}
	if name == "" {
		return nil, invalidf("missing domain name")
	}
	w := &writer{}
	root := []attr{ak("type", "xen")}
	if opts.DomID >= 0 {
		root = append(root, a("id", strconv.Itoa(opts.DomID)))
	}
	if len(spec.DeviceModelArgs) > 0 {
		root = append(root, a("xmlns:xen", xenNamespace))
	}
	w.startTag("domain", root)
	w.buf.WriteString(">\n")
	w.indent++
	formatDomain(w, spec, name)
	w.indent--
	w.buf.WriteString("</domain>\n")
	return w.buf.Bytes(), nil
}

func formatDomain(w *writer, s *v1alpha1.DomainSpec, name string) {
	w.text("name", name)
	w.text("uuid", s.UUID)
	w.text("title", s.Title)
	w.text("description", s.Description)
	if s.Metadata != "" {
		w.pad()
		w.buf.WriteString("<metadata>\n")
		w.indent++
		w.pad()
		w.buf.WriteString(strings.TrimSpace(s.Metadata))
		w.buf.WriteByte('\n')
		w.indent--
		w.pad()
		w.buf.WriteString("</metadata>\n")
	}
	if !s.Memory.IsZero() {
		w.text("memory", strconv.FormatUint(quantityKiB(s.Memory), 10), a("unit", "KiB"))
	}
	if s.CurrentMemory != nil {
		w.text("currentMemory", strconv.FormatUint(quantityKiB(*s.CurrentMemory), 10), a("unit", "KiB"))
	}
	if v := s.VCPU; v != nil {
		w.text("vcpu", strconv.FormatUint(uint64(v.Count), 10),
			a("placement", v.Placement), a("cpuset", v.CPUSet), au("current", v.Current))
	}
	if t := s.CPUTune; t != nil {
		w.container("cputune", nil, func(w *writer) {
			if t.Shares != nil {
				w.text("shares", strconv.FormatUint(uint64(*t.Shares), 10))
			}
			for _, p := range t.VCPUPins {
				w.empty("vcpupin", ak("vcpu", strconv.FormatUint(uint64(p.VCPU), 10)), ak("cpuset", p.CPUSet))
			}
		})
	}
	w.text("bootloader", s.OS.Bootloader)
	w.text("bootloader_args", s.OS.BootloaderArgs)
	formatOS(w, &s.OS)
	if f := s.Features; f != nil {
		formatFeatures(w, f)
	}
	if c := s.CPU; c != nil {
		formatCPU(w, c)
	}
	if c := s.Clock; c != nil {
		w.elem("clock", []attr{a("offset", c.Offset), a("adjustment", c.Adjustment), a("basis", c.Basis)}, func(w *writer) {
			for _, t := range c.Timers {
				w.empty("timer", ak("name", t.Name), a("present", t.Present), a("tickpolicy", t.TickPolicy), a("mode", t.Mode))
			}
		})
	}
	w.text("on_poweroff", string(s.OnPoweroff))
	w.text("on_reboot", string(s.OnReboot))
	w.text("on_crash", string(s.OnCrash))
	formatDevices(w, &s.Devices)
	for _, l := range s.SecLabels {
		w.elem("seclabel", []attr{a("type", l.Type), a("model", l.Model), a("relabel", l.Relabel)}, func(w *writer) {
			w.text("label", l.Label)
			w.text("imagelabel", l.ImageLabel)
			w.text("baselabel", l.BaseLabel)
		})
	}
	if len(s.DeviceModelArgs) > 0 {
		w.container("xen:commandline", nil, func(w *writer) {
			for _, arg := range s.DeviceModelArgs {
				w.empty("xen:arg", ak("value", arg))
			}
		})
	}
}

func formatOS(w *writer, o *v1alpha1.OS) {
	w.elem("os", []attr{a("firmware", o.Firmware)}, func(w *writer) {
		typ := o.Type
		if typ == "xen" {
			// libvirt prints Xen PV as the historical "linux".
			typ = "linux"
		}
		w.text("type", typ, a("arch", o.Arch), a("machine", o.Machine))
		if l := o.Loader; l != nil {
			attrs := []attr{a("readonly", l.Readonly), a("secure", l.Secure), a("type", l.Type), a("format", l.Format)}
			if l.Path == "" {
				w.empty("loader", attrs...)
			} else {
				w.text("loader", l.Path, attrs...)
			}
		}
		w.text("kernel", o.Kernel)
		w.text("initrd", o.Initrd)
		w.text("cmdline", o.Cmdline)
		if len(o.ACPITables) > 0 {
			w.container("acpi", nil, func(w *writer) {
				for _, t := range o.ACPITables {
					w.text("table", t.Path, ak("type", t.Type))
				}
			})
		}
		for _, b := range o.Boot {
			w.empty("boot", ak("dev", b))
		}
		if m := o.BootMenu; m != nil {
			w.empty("bootmenu", a("enable", m.Enable), a("timeout", m.Timeout))
		}
	})
}

func formatFeatures(w *writer, f *v1alpha1.Features) {
	w.container("features", nil, func(w *writer) {
		if f.ACPI {
			w.empty("acpi")
		}
		if f.APIC {
			w.empty("apic")
		}
		if f.PAE {
			w.empty("pae")
		}
		if f.HAP != nil {
			w.empty("hap", a("state", f.HAP.State))
		}
		if f.Viridian {
			w.empty("viridian")
		}
		if f.PrivNet {
			w.empty("privnet")
		}
		if h := f.HyperV; h != nil {
			w.elem("hyperv", []attr{a("mode", h.Mode)}, func(w *writer) {
				st := func(name string, s *v1alpha1.FeatureState) {
					if s != nil {
						w.empty(name, a("state", s.State))
					}
				}
				st("relaxed", h.Relaxed)
				st("vapic", h.VAPIC)
				if s := h.Spinlocks; s != nil {
					w.empty("spinlocks", a("state", s.State), au("retries", s.Retries))
				}
				st("vpindex", h.VPIndex)
				st("synic", h.Synic)
				st("stimer", h.STimer)
				if v := h.VendorID; v != nil {
					w.empty("vendor_id", a("state", v.State), a("value", v.Value))
				}
				st("frequencies", h.Frequencies)
				st("tlbflush", h.TLBFlush)
				st("ipi", h.IPI)
			})
		}
		if x := f.Xen; x != nil {
			w.elem("xen", nil, func(w *writer) {
				if e := x.E820Host; e != nil {
					w.empty("e820_host", a("state", e.State))
				}
				if p := x.Passthrough; p != nil {
					w.empty("passthrough", a("state", p.State), a("mode", p.Mode))
				}
			})
		}
	})
}

func formatCPU(w *writer, c *v1alpha1.CPU) {
	attrs := []attr{a("mode", c.Mode), a("match", c.Match), a("check", c.Check), a("migratable", c.Migratable)}
	w.elem("cpu", attrs, func(w *writer) {
		if m := c.Model; m != nil {
			w.text("model", m.Name, a("fallback", m.Fallback))
		}
		w.text("vendor", c.Vendor)
		if t := c.Topology; t != nil {
			nz := func(v uint32) *uint32 {
				if v == 0 {
					return nil
				}
				return &v
			}
			w.empty("topology", au("sockets", &t.Sockets), au("dies", nz(t.Dies)), au("clusters", nz(t.Clusters)),
				au("cores", &t.Cores), au("threads", &t.Threads))
		}
		for _, f := range c.Features {
			w.empty("feature", a("policy", f.Policy), ak("name", f.Name))
		}
		if n := c.NUMA; n != nil {
			w.elem("numa", nil, func(w *writer) {
				for _, cell := range n.Cells {
					attrs := []attr{au("id", cell.ID), a("cpus", cell.CPUs),
						ak("memory", strconv.FormatUint(quantityKiB(cell.Memory), 10)), a("unit", "KiB"),
						a("memAccess", cell.MemAccess)}
					w.elem("cell", attrs, func(w *writer) {
						if len(cell.Distances) == 0 {
							return
						}
						w.elem("distances", nil, func(w *writer) {
							for _, d := range cell.Distances {
								w.empty("sibling", au("id", &d.ID), au("value", &d.Value))
							}
						})
					})
				}
			})
		}
	})
}
