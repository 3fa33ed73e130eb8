package libvirtsrc

// The runs of libvirt's Xen test programs, written from libvirt 11.3.0's tests/libxlxml2domconfigtest.c,
// tests/xlconfigtest.c, tests/xmconfigtest.c and tests/domaincapstest.c: one row per virTestRun, in the
// programs' order. TestRunsMatchLibvirtPrograms reads the programs from the release and checks this table.

// Program names one of libvirt's test programs.
type Program string

// The programs whose data virtxend is compared against.
const (
	LibxlXML2DomConfig Program = "libxlxml2domconfigtest"
	XLConfig           Program = "xlconfigtest"
	XMConfig           Program = "xmconfigtest"
	DomainCaps         Program = "domaincapstest"
)

// Run is one virTestRun of a libvirt test program.
type Run struct {
	Program Program
	// Case is the test's name, such as "basic-pv".
	Case string
	// ToNative is the direction of an xl/xm run: domain XML formatted as a native config (the run libvirt labels
	// "Parse", testCompareParseXML). False: the native config parsed into domain XML ("Format").
	ToNative bool
	// ReplaceVars: the expected XML holds /LIBXL_FIRMWARE_DIR, replaced by the build's firmware directory.
	ReplaceVars bool
	// Condition is the preprocessor condition libvirt runs the case under; empty for always.
	Condition string
	// Input and Expected are paths relative to the top of libvirt's source tree.
	Input, Expected string
}

// Label is libvirt's own way of naming the direction of an xl/xm run ("Parse" or "Format").
func (r Run) Label() string {
	if r.ToNative {
		return "Parse"
	}
	return "Format"
}

// Runs returns the runs of one program.
func Runs(p Program) []Run {
	var out []Run
	for _, r := range runs {
		if r.Program == p {
			out = append(out, r)
		}
	}
	return out
}

// Applies reports whether libvirt runs r against libxl 4.17 (the libxl virtxend is built for): every condition
// of the table holds there except the #else branch of LIBXL_HAVE_BUILDINFO_NESTED_HVM.
func (r Run) Applies() bool {
	return r.Condition != "!LIBXL_HAVE_BUILDINFO_NESTED_HVM"
}

func xml2json(name, cond string) Run {
	d := "tests/libxlxml2domconfigdata/" + name
	return Run{Program: LibxlXML2DomConfig, Case: name, Condition: cond, Input: d + ".xml", Expected: d + ".json"}
}

func native(p Program, dir, name string, toNative, replace bool, cond string) Run {
	base := "tests/" + dir + "/test-" + name
	r := Run{Program: p, Case: name, ToNative: toNative, ReplaceVars: replace, Condition: cond}
	if toNative {
		r.Input, r.Expected = base+".xml", base+".cfg"
	} else {
		r.Input, r.Expected = base+".cfg", base+".xml"
	}
	return r
}

func xl(name string, toNative, replace bool, cond string) Run {
	return native(XLConfig, "xlconfigdata", name, toNative, replace, cond)
}

func xm(name string, toNative bool) Run {
	return native(XMConfig, "xmconfigdata", name, toNative, false, "")
}

func caps(name string) Run {
	return Run{Program: DomainCaps, Case: name, Condition: "WITH_LIBXL", Expected: "tests/domaincapsdata/" + name + ".xml"}
}

var runs = []Run{
	xml2json("basic-pv", ""),
	xml2json("basic-hvm", ""),
	xml2json("efi-hvm", ""),
	xml2json("basic-pvh", "WITH_XEN_PVH"),
	xml2json("cpu-shares-hvm", ""),
	xml2json("variable-clock-hvm", ""),
	xml2json("moredevs-hvm", ""),
	xml2json("multiple-ip", ""),
	xml2json("vnuma-hvm", "LIBXL_HAVE_BUILDINFO_NESTED_HVM"),
	xml2json("fullvirt-cpuid", "LIBXL_HAVE_BUILDINFO_NESTED_HVM"),
	xml2json("vnuma-hvm-legacy-nest", "!LIBXL_HAVE_BUILDINFO_NESTED_HVM"),
	xml2json("fullvirt-cpuid-legacy-nest", "!LIBXL_HAVE_BUILDINFO_NESTED_HVM"),
	xml2json("fullvirt-acpi-slic", ""),
	xml2json("max-gntframes-hvm", "LIBXL_HAVE_BUILDINFO_GRANT_LIMITS"),
	xml2json("max-eventchannels-hvm", ""),
	xml2json("single-serial", ""),
	xml2json("multiple-serial", ""),
	xml2json("viridian-hvm", "LIBXL_HAVE_BUILDINFO_HVM_VIRIDIAN_ENABLE_DISABLE"),
	xml2json("viridian-hvm-full", "LIBXL_HAVE_BUILDINFO_HVM_VIRIDIAN_ENABLE_DISABLE"),
	xml2json("viridian-passthrough", "LIBXL_HAVE_BUILDINFO_HVM_VIRIDIAN_ENABLE_DISABLE && LIBXL_BUILDINFO_HVM_VIRIDIAN_ENABLE_DISABLE_WIDTH == 64"),
	xl("fullvirt-ovswitch-tagged", true, false, ""), xl("fullvirt-ovswitch-tagged", false, false, ""),
	xl("fullvirt-ovswitch-trunked", true, false, ""), xl("fullvirt-ovswitch-trunked", false, false, ""),
	xl("fullvirt-ovmf", true, true, ""), xl("fullvirt-ovmf", false, true, ""),
	xl("paravirt-maxvcpus", true, false, ""), xl("paravirt-maxvcpus", false, false, ""),
	xl("new-disk", true, false, ""), xl("new-disk", false, false, ""),
	xl("disk-positional-parms-full", false, false, ""),
	xl("disk-positional-parms-partial", false, false, ""),
	xl("disk-qed", false, false, ""),
	xl("net-fakemodel", true, false, ""), xl("net-fakemodel", false, false, ""),
	xl("spice", true, false, ""), xl("spice", false, false, ""),
	xl("spice-features", true, false, ""), xl("spice-features", false, false, ""),
	xl("vif-rate", true, false, ""), xl("vif-rate", false, false, ""),
	xl("fullvirt-nohap", true, false, ""), xl("fullvirt-nohap", false, false, ""),
	xl("fullvirt-hpet-timer", true, false, ""), xl("fullvirt-hpet-timer", false, false, ""),
	xl("fullvirt-tsc-timer", true, false, ""), xl("fullvirt-tsc-timer", false, false, ""),
	xl("fullvirt-multi-timer", true, false, ""), xl("fullvirt-multi-timer", false, false, ""),
	xl("fullvirt-nestedhvm", true, false, ""), xl("fullvirt-nestedhvm", false, false, ""),
	xl("fullvirt-nestedhvm-disabled", true, false, ""), xl("fullvirt-nestedhvm-disabled", false, false, ""),
	xl("fullvirt-cpuid", true, false, ""), xl("fullvirt-cpuid", false, false, ""),
	xl("fullvirt-acpi-slic", true, false, ""), xl("fullvirt-acpi-slic", false, false, ""),
	xl("fullvirt-pci", true, false, ""), xl("fullvirt-pci", false, false, ""),
	xl("fullvirt-vnuma", true, false, ""), xl("fullvirt-vnuma", false, false, ""),
	xl("fullvirt-vnuma-autocomplete", true, false, ""),
	xl("fullvirt-vnuma-nodistances", true, false, ""),
	xl("fullvirt-vnuma-partialdist", true, false, ""),
	xl("paravirt-cmdline", true, false, ""), xl("paravirt-cmdline", false, false, ""),
	xl("paravirt-cmdline-extra-root", false, false, ""),
	xl("paravirt-cmdline-bogus-extra-root", false, false, ""),
	xl("rbd-multihost-noauth", true, false, ""), xl("rbd-multihost-noauth", false, false, ""),
	xl("paravirt-type", false, false, ""),
	xl("fullvirt-type", false, false, ""),
	xl("pvh-type", true, false, ""), xl("pvh-type", false, false, ""),
	xl("channel-pty", true, false, ""), xl("channel-pty", false, false, ""),
	xl("channel-unix", true, false, ""), xl("channel-unix", false, false, ""),
	xl("fullvirt-multiserial", true, false, ""), xl("fullvirt-multiserial", false, false, ""),
	xl("fullvirt-multiusb", true, false, ""), xl("fullvirt-multiusb", false, false, ""),
	xl("fullvirt-direct-kernel-boot", true, false, ""), xl("fullvirt-direct-kernel-boot", false, false, ""),
	xl("fullvirt-direct-kernel-boot-extra", false, false, ""),
	xl("fullvirt-direct-kernel-boot-bogus-extra", false, false, ""),
	xl("max-gntframes", true, false, "LIBXL_HAVE_BUILDINFO_GRANT_LIMITS"), xl("max-gntframes", false, false, "LIBXL_HAVE_BUILDINFO_GRANT_LIMITS"),
	xl("max-eventchannels", true, false, ""), xl("max-eventchannels", false, false, ""),
	xl("vif-typename", true, false, ""), xl("vif-typename", false, false, ""),
	xl("vif-multi-ip", true, false, ""), xl("vif-multi-ip", false, false, ""),
	xl("usb", true, false, ""), xl("usb", false, false, ""),
	xl("usbctrl", true, false, ""), xl("usbctrl", false, false, ""),
	xl("paravirt-e820_host", true, false, ""), xl("paravirt-e820_host", false, false, ""),
	xl("fullvirt-hypervisor-features", true, false, "LIBXL_HAVE_CREATEINFO_PASSTHROUGH"), xl("fullvirt-hypervisor-features", false, false, "LIBXL_HAVE_CREATEINFO_PASSTHROUGH"),
	xl("qemu-passthrough", true, false, ""), xl("qemu-passthrough", false, false, ""),
	xm("paravirt-new-pvfb", true), xm("paravirt-new-pvfb", false),
	xm("paravirt-new-pvfb-vncdisplay", true), xm("paravirt-new-pvfb-vncdisplay", false),
	xm("paravirt-net-e1000", true), xm("paravirt-net-e1000", false),
	xm("paravirt-net-fakemodel", true), xm("paravirt-net-fakemodel", false),
	xm("paravirt-net-vifname", true), xm("paravirt-net-vifname", false),
	xm("paravirt-vcpu", true), xm("paravirt-vcpu", false),
	xm("paravirt-maxvcpus", true), xm("paravirt-maxvcpus", false),
	xm("paravirt-root", false),
	xm("paravirt-extra-root", false),
	xm("fullvirt-new-cdrom", true), xm("fullvirt-new-cdrom", false),
	xm("fullvirt-utc", true), xm("fullvirt-utc", false),
	xm("fullvirt-localtime", true), xm("fullvirt-localtime", false),
	xm("fullvirt-usbtablet", true), xm("fullvirt-usbtablet", false),
	xm("fullvirt-usbmouse", true), xm("fullvirt-usbmouse", false),
	xm("fullvirt-serial-file", true), xm("fullvirt-serial-file", false),
	xm("fullvirt-serial-null", true), xm("fullvirt-serial-null", false),
	xm("fullvirt-serial-pipe", true), xm("fullvirt-serial-pipe", false),
	xm("fullvirt-serial-pty", true), xm("fullvirt-serial-pty", false),
	xm("fullvirt-serial-stdio", true), xm("fullvirt-serial-stdio", false),
	xm("fullvirt-serial-tcp", true), xm("fullvirt-serial-tcp", false),
	xm("fullvirt-serial-tcp-telnet", true), xm("fullvirt-serial-tcp-telnet", false),
	xm("fullvirt-serial-udp", true), xm("fullvirt-serial-udp", false),
	xm("fullvirt-serial-unix", true), xm("fullvirt-serial-unix", false),
	xm("fullvirt-force-hpet", true), xm("fullvirt-force-hpet", false),
	xm("fullvirt-force-nohpet", true), xm("fullvirt-force-nohpet", false),
	xm("fullvirt-nohap", true), xm("fullvirt-nohap", false),
	xm("fullvirt-parallel-tcp", true), xm("fullvirt-parallel-tcp", false),
	xm("fullvirt-sound", true), xm("fullvirt-sound", false),
	xm("fullvirt-net-netfront", true), xm("fullvirt-net-netfront", false),
	xm("fullvirt-default-feature", false),
	xm("escape-paths", true), xm("escape-paths", false),
	xm("no-source-cdrom", true), xm("no-source-cdrom", false),
	xm("pci-devs", true), xm("pci-devs", false),
	xm("pci-dev-syntax", false),
	xm("disk-drv-blktap-raw", true), xm("disk-drv-blktap-raw", false),
	xm("disk-drv-blktap2-raw", true), xm("disk-drv-blktap2-raw", false),
	caps("libxl-xenpv"),
	caps("libxl-xenfv"),
}
