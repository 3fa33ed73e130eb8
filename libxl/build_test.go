package libxl

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

func u32(v uint32) *uint32 { return &v }

func i32(v int32) *int32 { return &v }

// hvmSpec is a minimal HVM definition as domxml.ApplyDefaults leaves it.
func hvmSpec() *v1alpha1.DomainSpec {
	return &v1alpha1.DomainSpec{
		Name:   "t",
		UUID:   "2147d599-9cc6-c0dc-92ab-4064b5446e9b",
		Memory: resource.MustParse("1Gi"),
		VCPU:   &v1alpha1.VCPU{Count: 2},
		OS:     v1alpha1.OS{Type: "hvm", Arch: "x86_64", Boot: []string{"hd"}},
		Devices: v1alpha1.Devices{
			MemBalloon:  &v1alpha1.MemBalloon{Model: "xen"},
			Controllers: []v1alpha1.Controller{{Type: "xenbus", Index: u32(0)}},
		},
	}
}

// pvSpec is a minimal PV definition.
func pvSpec() *v1alpha1.DomainSpec {
	s := hvmSpec()
	s.OS = v1alpha1.OS{Type: "xen", Arch: "x86_64"}
	return s
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   func() *v1alpha1.DomainSpec
		host   func(*HostFacts)
		kind   error
		substr string
	}{
		{"transient disk", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Disks = []v1alpha1.Disk{{Type: "file", Transient: true, Target: v1alpha1.DiskTarget{Dev: "xvda"},
				Source: &v1alpha1.DiskSource{File: "/a.img"}}}
			return s
		}, nil, ErrInternal, "libxenlight does not support transient disks"},
		{"disk format for driver", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Disks = []v1alpha1.Disk{{Type: "block", Driver: &v1alpha1.DiskDriver{Name: "phy", Type: "qcow2"},
				Target: v1alpha1.DiskTarget{Dev: "xvda"}}}
			return s
		}, nil, ErrInternal, "libxenlight does not support disk format qcow2 with disk driver phy"},
		{"disk driver", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Disks = []v1alpha1.Disk{{Type: "file", Driver: &v1alpha1.DiskDriver{Name: "vbox"},
				Target: v1alpha1.DiskTarget{Dev: "xvda"}}}
			return s
		}, nil, ErrInternal, "libxenlight does not support disk driver vbox"},
		{"network disk driver", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Disks = []v1alpha1.Disk{{Type: "network", Driver: &v1alpha1.DiskDriver{Name: "phy"},
				Source: &v1alpha1.DiskSource{Protocol: "rbd", Name: "p/i"}, Target: v1alpha1.DiskTarget{Dev: "xvda"}}}
			return s
		}, nil, ErrOperationInvalid, "only the 'qemu' driver can be used with network disks"},
		{"network disk protocol", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Disks = []v1alpha1.Disk{{Type: "network", Source: &v1alpha1.DiskSource{Protocol: "nbd", Name: "x"},
				Target: v1alpha1.DiskTarget{Dev: "xvda"}}}
			return s
		}, nil, ErrUnsupportedConfig, "Unsupported network block protocol 'nbd'"},
		{"secure boot", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.OS.Loader = &v1alpha1.Loader{Path: "/ovmf.bin", Type: "pflash", Secure: "yes"}
			return s
		}, nil, ErrUnsupportedConfig, "Secure boot is not supported on Xen"},
		{"loader format", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.OS.Loader = &v1alpha1.Loader{Path: "/x", Format: "qcow2"}
			return s
		}, nil, ErrUnsupportedConfig, "Unsupported loader format 'qcow2'"},
		{"parallel on HVM", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Parallels = []v1alpha1.Chardev{{Type: "pty"}}
			return s
		}, nil, ErrUnsupportedConfig, "Parallel devices are not supported by libxl"},
		{"usb model", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Controllers = append(s.Devices.Controllers, v1alpha1.Controller{Type: "usb", Model: "piix3-uhci"})
			return s
		}, nil, ErrUnsupportedConfig, "unsupported usb model"},
		{"interface type", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Interfaces = []v1alpha1.Interface{{Type: "user", MAC: "00:16:3e:00:00:01"}}
			return s
		}, nil, ErrUnsupportedConfig, "unsupported interface type user"},
		{"script on a network interface", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Interfaces = []v1alpha1.Interface{{Type: "network", Script: "/x",
				Source: &v1alpha1.InterfaceSource{Network: "default"}}}
			return s
		}, nil, ErrUnsupportedConfig, "specifying a script is only supported with interface types bridge and ethernet"},
		{"network interface without a network driver", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Interfaces = []v1alpha1.Interface{{Type: "network", Source: &v1alpha1.InterfaceSource{Network: "default"}}}
			return s
		}, nil, ErrNoNetwork, "no network with matching name 'default'"},
		{"PV nic model", func() *v1alpha1.DomainSpec {
			s := pvSpec()
			s.Devices.Interfaces = []v1alpha1.Interface{{Type: "bridge", Model: "e1000"}}
			return s
		}, nil, ErrUnsupportedConfig, "only model 'netfront' is supported for Xen PV(H) domains"},
		{"balloon none", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.MemBalloon = &v1alpha1.MemBalloon{Model: "none"}
			return s
		}, nil, ErrUnsupportedConfig, "balloon device cannot be disabled"},
		{"hpet on PV", func() *v1alpha1.DomainSpec {
			s := pvSpec()
			s.Clock = &v1alpha1.Clock{Timers: []v1alpha1.Timer{{Name: "hpet", Present: "yes"}}}
			return s
		}, nil, ErrUnsupportedConfig, "unsupported timer type (name) 'hpet'"},
		{"rtc timer", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Clock = &v1alpha1.Clock{Timers: []v1alpha1.Timer{{Name: "rtc"}}}
			return s
		}, nil, ErrUnsupportedConfig, "unsupported timer type (name) 'rtc'"},
		{"clock timezone", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Clock = &v1alpha1.Clock{Offset: "timezone"}
			return s
		}, nil, ErrUnsupportedConfig, "unsupported clock offset 'timezone'"},
		{"vga vram", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Videos = []v1alpha1.Video{{Model: "vga", VRAM: u32(8192)}}
			return s
		}, nil, ErrUnsupportedConfig, "videoram must be at least 16MB for VGA"},
		{"video model", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Videos = []v1alpha1.Video{{Model: "vmvga", VRAM: u32(16384)}}
			return s
		}, nil, ErrUnsupportedConfig, "video type vmvga is not supported by libxl"},
		{"channel target type", func() *v1alpha1.DomainSpec {
			s := pvSpec()
			s.Devices.Channels = []v1alpha1.Chardev{{Type: "pty", Target: &v1alpha1.ChardevTarget{Type: "virtio", Name: "a"}}}
			return s
		}, nil, ErrUnsupportedConfig, "channel target type not supported"},
		{"channel name", func() *v1alpha1.DomainSpec {
			s := pvSpec()
			s.Devices.Channels = []v1alpha1.Chardev{{Type: "pty", Target: &v1alpha1.ChardevTarget{Type: "xen"}}}
			return s
		}, nil, ErrOperationInvalid, "channel target name missing"},
		{"emulator", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Emulator = "/nonexistent/qemu"
			return s
		}, func(h *HostFacts) { h.CheckEmulator = nil }, ErrUnsupportedConfig, "emulator '/nonexistent/qemu' not found"},
		{"cpu feature", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.CPU = &v1alpha1.CPU{Mode: "host-passthrough", Features: []v1alpha1.CPUFeature{{Name: "bogus", Policy: "require"}}}
			return s
		}, nil, ErrUnsupportedConfig, "unsupported cpu feature 'bogus'"},
		{"usb input", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Inputs = []v1alpha1.Input{{Type: "keyboard", Bus: "usb"}}
			return s
		}, nil, ErrUnsupportedConfig, "Unknown input device type"},
		{"usb hostdev lookup", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Hostdevs = []v1alpha1.Hostdev{{Type: "usb", USB: &v1alpha1.USBSource{Vendor: "0x1234", Product: "0xbeef"}}}
			return s
		}, nil, ErrOperationFailed, "failed to find USB device busnum:devnum for 1234:beef"},
		{"no port allocator", func() *v1alpha1.DomainSpec {
			s := hvmSpec()
			s.Devices.Graphics = []v1alpha1.Graphics{{Type: "vnc", AutoPort: "yes"}}
			return s
		}, func(h *HostFacts) { h.GraphicsPorts = nil }, ErrNoFreePort, "no graphics port allocator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := MockHostFacts()
			if tc.host != nil {
				tc.host(&host)
			}
			_, err := Build(tc.spec(), host)
			if err == nil {
				t.Fatal("Build succeeded")
			}
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %q (%T), want %q wrapping %v", err, err, tc.substr, tc.kind)
			}
		})
	}
}

func TestBuildReleasesPortsOnError(t *testing.T) {
	host := MockHostFacts()
	s := hvmSpec()
	s.Devices.Graphics = []v1alpha1.Graphics{{Type: "vnc", AutoPort: "yes"}}
	s.Devices.Videos = []v1alpha1.Video{{Model: "qxl", VRAM: u32(65536)}}
	if _, err := Build(s, host); err == nil {
		t.Fatal("Build succeeded with a too small QXL")
	}
	if p, _ := host.GraphicsPorts.Acquire(); p != VNCPortMin {
		t.Errorf("port %d after a failed build, want %d released", p, VNCPortMin)
	}
}

func TestBuildDoesNotModifySpec(t *testing.T) {
	s := hvmSpec()
	s.Memory = resource.MustParse("1000000Ki")
	s.Devices.Graphics = []v1alpha1.Graphics{{Type: "vnc", AutoPort: "yes"}}
	before := s.DeepCopy()
	res, err := Build(s, MockHostFacts())
	if err != nil {
		t.Fatal(err)
	}
	if s.Memory.Cmp(before.Memory) != 0 || s.Devices.Graphics[0].Port != nil {
		t.Error("Build changed its input")
	}
	// What libvirt writes back: memory in whole MiB, the port, the listen address.
	if got := quantityKiB(res.Spec.Memory); got != 1000448 || quantityKiB(*res.Spec.CurrentMemory) != 1000448 {
		t.Errorf("live memory %d KiB, want 1000448", got)
	}
	if res.Config.BInfo.MaxMemkb != 1000448 || res.Config.BInfo.TargetMemkb != 1000448 {
		t.Errorf("memkb %d/%d", res.Config.BInfo.MaxMemkb, res.Config.BInfo.TargetMemkb)
	}
	g := res.Spec.Devices.Graphics[0]
	if g.Port == nil || *g.Port != VNCPortMin || g.Listen != "127.0.0.1" || len(g.Listens) != 1 {
		t.Errorf("live graphics %+v", g)
	}
	if !slices.Equal(res.Ports, []int{VNCPortMin}) {
		t.Errorf("ports %v", res.Ports)
	}
}

// featuresSpec is an HVM definition using most of what the builder translates, and a host that resolves
// networks, USB devices, ceph secrets and FLASK labels.
func featuresSpec() (*v1alpha1.DomainSpec, HostFacts) {
	host := MockHostFacts()
	host.MaxCPUs = 4
	host.NetworkBridge = func(n string) (string, error) { return "virbr-" + n, nil }
	host.FindUSBDevice = func(v, p uint16) (uint8, uint8, error) { return 3, 7, nil }
	host.CephSecret = func(DiskSecretRef) (string, error) { return "a2V5:x", nil }
	host.FlaskSID = func(label string) (uint32, error) {
		if label == "system_u:system_r:domU_t" {
			return 42, nil
		}
		return 0, fmt.Errorf("no such label")
	}

	s := hvmSpec()
	s.VCPU = &v1alpha1.VCPU{Count: 4, Current: u32(3)}
	s.CPUTune = &v1alpha1.CPUTune{VCPUPins: []v1alpha1.VCPUPin{{VCPU: 2, CPUSet: "0-3,^1"}}}
	s.Features = &v1alpha1.Features{HAP: &v1alpha1.FeatureState{State: "off"},
		Xen: &v1alpha1.XenFeatures{Passthrough: &v1alpha1.XenPassthrough{State: "on", Mode: "sync_pt"}}}
	s.OS.Firmware = "efi"
	s.OS.Boot = []string{"cdrom", "network", "fd", "hd"}
	s.Clock = &v1alpha1.Clock{Offset: "variable", Basis: "localtime", Adjustment: "-10",
		Timers: []v1alpha1.Timer{{Name: "tsc", Mode: "emulate"}}}
	s.OnCrash = v1alpha1.ActionCoredumpRestart
	s.SecLabels = []v1alpha1.SecLabel{{Type: "static", Label: "system_u:system_r:domU_t"}}
	s.DeviceModelArgs = []string{"-debugcon", "stdio"}
	s.Devices.Sounds = []v1alpha1.Sound{{Model: "ich6"}}
	s.Devices.Disks = []v1alpha1.Disk{
		{Type: "network", Device: "disk", Target: v1alpha1.DiskTarget{Dev: "xvda"},
			Source: &v1alpha1.DiskSource{Protocol: "rbd", Name: "pool/image",
				Hosts:      []v1alpha1.DiskHost{{Name: "mon1", Port: "6789"}, {Name: "::1"}},
				Auth:       &v1alpha1.DiskAuth{Username: "admin", SecretUUID: "u"},
				ConfigFile: "/etc/ceph/ceph.conf"}},
		{Type: "file", Device: "cdrom", Target: v1alpha1.DiskTarget{Dev: "hdc"}},
		{Type: "file", Driver: &v1alpha1.DiskDriver{Name: "tap", Type: "vhd", Discard: "unmap"},
			Source: &v1alpha1.DiskSource{File: "/d.vhd"}, Target: v1alpha1.DiskTarget{Dev: "xvdb"}},
	}
	avg := uint64(1000)
	s.Devices.Interfaces = []v1alpha1.Interface{
		{Type: "bridge", MAC: "00:16:3E:00:00:01", Source: &v1alpha1.InterfaceSource{Bridge: "br0"},
			VirtualPort: "openvswitch", VLAN: &v1alpha1.VLAN{Tags: []uint32{42}}, Model: "e1000", Target: "vif-t"},
		{Type: "bridge", Source: &v1alpha1.InterfaceSource{Bridge: "br1"}, VirtualPort: "openvswitch",
			VLAN:      &v1alpha1.VLAN{Trunk: true, Tags: []uint32{1, 2}},
			Bandwidth: &v1alpha1.Bandwidth{Outbound: &v1alpha1.BandwidthParams{Average: &avg}}},
		{Type: "network", Source: &v1alpha1.InterfaceSource{Network: "default"}, IPs: []v1alpha1.IP{{Address: "10.0.0.2"}}},
	}
	s.Devices.Graphics = []v1alpha1.Graphics{
		{Type: "vnc", Port: i32(5905), AutoPort: "no", Listen: "0.0.0.0", Passwd: "pw", Keymap: "de"},
		{Type: "spice", AutoPort: "yes", MouseMode: "server", CopyPaste: "yes"},
	}
	s.Devices.Videos = []v1alpha1.Video{{Model: "vga"}}
	s.Devices.Hostdevs = []v1alpha1.Hostdev{
		{Type: "usb", USB: &v1alpha1.USBSource{Bus: u32(1), Device: u32(4)}},
		{Type: "usb", USB: &v1alpha1.USBSource{Vendor: "0x1234", Product: "0x5678"}},
	}
	s.Devices.Channels = []v1alpha1.Chardev{
		{Type: "unix", Target: &v1alpha1.ChardevTarget{Type: "xen", Name: "org.qemu.guest_agent.0"}},
		{Type: "pty", Target: &v1alpha1.ChardevTarget{Type: "xen", Name: "console2"}},
	}

	return s, host
}

func TestBuildFeatures(t *testing.T) {
	s, host := featuresSpec()
	res, err := Build(s, host)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Config
	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("c_info.hap", c.CInfo.Hap, DefboolFalse)
	check("c_info.passthrough", c.CInfo.Passthrough, PassthroughSyncPT)
	check("c_info.ssidref", c.CInfo.SSIDRef, 42)
	check("avail_vcpus", c.BInfo.AvailVcpus, Bitmap{0, 1, 2})
	check("vcpu_hard_affinity", c.BInfo.VcpuHardAffinity,
		[]Bitmap{BitmapRange(0, 8), BitmapRange(0, 8), {0, 2, 3}})
	check("numa_placement", c.BInfo.NUMAPlacement, DefboolFalse)
	check("localtime", c.BInfo.Localtime, DefboolTrue)
	check("rtc_timeoffset", c.BInfo.RTCTimeoffset, uint32(0xfffffff6))
	check("tsc_mode", c.BInfo.TSCMode, TSCModeAlwaysEmulate)
	check("extra", c.BInfo.Extra, []string{"-debugcon", "stdio"})
	check("bios", c.BInfo.HVM.BIOS, BIOSOVMF)
	check("system_firmware", c.BInfo.HVM.SystemFirmware, DefaultFirmwareDir+"/ovmf.bin")
	check("live loader", *res.Spec.OS.Loader, v1alpha1.Loader{Path: DefaultFirmwareDir + "/ovmf.bin",
		Readonly: "yes", Type: "pflash", Format: "raw"})
	check("boot", c.BInfo.HVM.Boot, "dnac")
	check("soundhw", c.BInfo.HVM.SoundHW, "hda")
	check("on_crash", c.OnCrash, ActionCoredumpRestart)
	check("rbd", c.Disks[0].PdevPath, `rbd:pool/image:id=admin:key=a2V5\:x:auth_supported=cephx\;none`+
		`:mon_host=mon1\:6789\;[\:\:1]:conf=/etc/ceph/ceph.conf`)
	check("rbd backend", c.Disks[0].Backend, DiskBackendQdisk)
	check("empty cdrom", []any{c.Disks[1].Format, c.Disks[1].IsCdrom, c.Disks[1].Readwrite}, []any{DiskFormatEmpty, 1, 0})
	check("tap vhd", []any{c.Disks[2].Backend, c.Disks[2].Format, c.Disks[2].DiscardEnable},
		[]any{DiskBackendTap, DiskFormatVHD, DefboolTrue})
	check("ovs vlan", []any{c.Nics[0].Bridge, c.Nics[0].Script, c.Nics[0].Nictype, c.Nics[0].Mac, c.Nics[0].Ifname},
		[]any{"br0.42", "vif-openvswitch", NicTypeVifIOEmu, "00:16:3e:00:00:01", "vif-t"})
	check("ovs trunk", c.Nics[1].Bridge, "br1:1:2")
	check("rate", []any{c.Nics[1].RateBytesPerInterval, c.Nics[1].RateIntervalUsecs}, []any{51200, 50000})
	check("network", []any{c.Nics[2].Bridge, c.Nics[2].IP, c.Nics[2].Devid}, []any{"virbr-default", "10.0.0.2", 2})
	check("vfb vnc", []any{c.Vfbs[0].VNC.Display, c.Vfbs[0].VNC.Listen, c.Vfbs[0].VNC.Passwd, c.Vfbs[0].Keymap},
		[]any{5, "0.0.0.0", "pw", "de"})
	check("spice wins", []any{c.BInfo.HVM.Spice.Enable, c.BInfo.HVM.Spice.Port, c.BInfo.HVM.Spice.Host,
		c.BInfo.HVM.Spice.DisableTicketing, c.BInfo.HVM.Spice.AgentMouse, c.BInfo.HVM.Spice.ClipboardSharing},
		[]any{DefboolTrue, VNCPortMin, "127.0.0.1", DefboolTrue, DefboolFalse, DefboolTrue})
	check("hvm vnc stays off", c.BInfo.HVM.VNC.Enable, DefboolFalse)
	check("video", []any{c.BInfo.HVM.VGA.Kind, c.BInfo.VideoMemkb}, []any{VGAStd, 16384})
	check("usbctrls", c.USBCtrls, []DeviceUsbctrl{{Type: UsbctrlQusb, Devid: 0, Version: 2, Ports: 8}})
	check("usbdevs", []any{*c.USBDevs[0].Hostdev, *c.USBDevs[1].Hostdev}, []any{UsbdevHostdev{1, 4}, UsbdevHostdev{3, 7}})
	check("channel socket", []any{c.Channels[0].Connection, c.Channels[0].Socket.Path},
		[]any{ChannelConnSocket, DefaultChannelDir + "/t-org.qemu.guest_agent.0"})
	check("channel pty", c.Channels[1].Connection, ChannelConnPty)
	check("live channel", res.Spec.Devices.Channels[0].Sources, []v1alpha1.ChardevSource{
		{Mode: "bind", Path: DefaultChannelDir + "/t-org.qemu.guest_agent.0"}})
	check("live usb controller", res.Spec.Devices.Controllers[len(res.Spec.Devices.Controllers)-1].Model, "qusb2")
	if _, err := c.LibxlJSON(); err != nil {
		t.Fatal(err)
	}

	// A FLASK label that does not resolve is only reported, as in libvirt.
	s.SecLabels[0].Label = "bad"
	res, err = Build(s, host)
	if err != nil || res.Config.CInfo.SSIDRef != 0 || len(res.Warnings) == 0 {
		t.Errorf("bad label: err %v, ssidref %d, warnings %v", err, res.Config.CInfo.SSIDRef, res.Warnings)
	}
}

func TestBuildPVAndPVH(t *testing.T) {
	s := pvSpec()
	s.OS.Kernel, s.OS.Initrd, s.OS.Cmdline = "/vmlinuz", "/initrd", "root=/dev/xvda"
	s.Features = &v1alpha1.Features{Xen: &v1alpha1.XenFeatures{E820Host: &v1alpha1.FeatureState{State: "on"}}}
	s.Devices.Parallels = []v1alpha1.Chardev{{Type: "pty"}} // ignored for PV, as in libvirt
	s.Devices.Interfaces = []v1alpha1.Interface{{Type: "ethernet", Script: "/s", Model: "netfront"}}
	res, err := Build(s, MockHostFacts())
	if err != nil {
		t.Fatal(err)
	}
	pv := res.Config.BInfo.PV
	if pv.Bootloader != "" || pv.Kernel != "/vmlinuz" || pv.Ramdisk != "/initrd" || pv.Cmdline != "root=/dev/xvda" ||
		pv.E820Host != DefboolTrue {
		t.Errorf("pv member %+v", pv)
	}
	if n := res.Config.Nics[0]; n.Nictype != NicTypeVif || n.Model != "netfront" || n.Script != "/s" {
		t.Errorf("pv nic %+v", n)
	}

	s = pvSpec()
	s.OS.Type, s.OS.Bootloader, s.OS.BootloaderArgs = "xenpvh", "/usr/lib/xen/bin/pygrub", "--entry=1"
	s.Features = &v1alpha1.Features{HAP: &v1alpha1.FeatureState{}}
	s.CPU = &v1alpha1.CPU{Mode: "host-passthrough", Features: []v1alpha1.CPUFeature{{Name: "vmx", Policy: "forbid"}}}
	res, err = Build(s, MockHostFacts())
	if err != nil {
		t.Fatal(err)
	}
	bi := res.Config.BInfo
	if res.Config.CInfo.Type != DomainTypePVH || bi.Type != DomainTypePVH || bi.PVH == nil ||
		bi.Bootloader != "/usr/lib/xen/bin/pygrub" || !slices.Equal(bi.BootloaderArgs, []string{"--entry=1"}) ||
		res.Config.CInfo.Hap != DefboolTrue || bi.NestedHVM != DefboolFalse || len(bi.CPUID.CPUID) != 0 {
		t.Errorf("pvh build info %+v", bi)
	}
}

func TestParseCPUSet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Bitmap
		err  bool
	}{
		{"0", Bitmap{0}, false}, {"0-3,^2", Bitmap{0, 1, 3}, false}, {"5,1-2", Bitmap{1, 2, 5}, false},
		{" 1 , 3 ", Bitmap{1, 3}, false}, {"", nil, true}, {"3-1", nil, true}, {"a", nil, true}, {"1,,2", nil, true},
	} {
		got, err := parseCPUSet(tc.in)
		if (err != nil) != tc.err || (!tc.err && !slices.Equal(got, tc.want)) {
			t.Errorf("parseCPUSet(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	spec := hvmSpec()
	spec.Devices.Disks = []v1alpha1.Disk{{Type: "file", Driver: &v1alpha1.DiskDriver{Name: "qemu"},
		Source: &v1alpha1.DiskSource{File: "/a.img"}, Target: v1alpha1.DiskTarget{Dev: "hda"}}}
	spec.Devices.Interfaces = []v1alpha1.Interface{{Type: "bridge", MAC: "00:16:3e:00:00:01",
		Source: &v1alpha1.InterfaceSource{Bridge: "br0"}}}
	spec.Devices.Graphics = []v1alpha1.Graphics{{Type: "vnc", AutoPort: "yes", Listen: "0.0.0.0"}}
	spec.Devices.Videos = []v1alpha1.Video{{Model: "cirrus"}}
	host := MockHostFacts()
	b.ReportAllocs()
	for b.Loop() {
		res, err := Build(spec, host)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := res.Config.LibxlJSON(); err != nil {
			b.Fatal(err)
		}
		host.GraphicsPorts.Release(res.Ports[0])
	}
}
