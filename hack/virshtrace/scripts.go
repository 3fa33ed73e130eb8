package main

import (
	"fmt"
	"time"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/test/virshtrace"
)

// script is one recorded command.
type script struct {
	name    string   // the trace file without .txt; E* go to errors/
	node    string   // the test driver's node file (nodes/NAME.xml) instead of test:///default
	setup   []string // virsh commands run directly against libvirtd first (test:///default keeps their effect)
	opts    []string // virsh options before -c
	uri     string   // URI template when not the test driver's ({sock} is the relay's socket)
	args    []string // the traced command, after -c URI
	faults  virshtrace.Faults
	idle    time.Duration // interactive virsh: "list --all" arrives on stdin after this long
	console bool          // run under script(1): virsh console wants a terminal
	during  []string      // commands run directly once virsh has registered for events
}

// vm1Defined and vm1Running are the setups the vm1 traces build on, with more steps after them.
func vm1Defined(more ...string) []string {
	return append([]string{"define ./fixtures/vm1.xml"}, more...)
}

func vm1Running(more ...string) []string {
	return vm1Defined(append([]string{"start vm1"}, more...)...)
}

// scripts lists every trace, in the order of TestVirshTraces' cases: the commands are the test's, the setups
// bring the test driver to the state the test brings virtxend to before the command.
func scripts() []script {
	fail := func(kv ...int) virshtrace.Faults {
		f := virshtrace.Faults{Fail: map[int32]rpc.Code{}}
		for k := 0; k+1 < len(kv); k += 2 {
			f.Fail[int32(kv[k])] = rpc.Code(kv[k+1])
		}
		return f
	}
	return []script{
		{name: "01-connect-disconnect", args: []string{"echo", "hello"}},
		{name: "02-version", args: []string{"version"}},
		{name: "03-uri", args: []string{"uri"}},
		{name: "04-hostname", args: []string{"hostname"}},
		{name: "05-nodeinfo", args: []string{"nodeinfo"}},
		{name: "06-capabilities", args: []string{"capabilities"}},
		{name: "07-domcapabilities", args: []string{"domcapabilities"}},
		{name: "08-list", args: []string{"list"}},
		{name: "09-list-all", args: []string{"list", "--all"}},
		{name: "10-dominfo", args: []string{"dominfo", "test"}},
		{name: "11-domstate", args: []string{"domstate", "test"}},
		{name: "12-domid", args: []string{"domid", "test"}},
		{name: "13-domuuid", args: []string{"domuuid", "test"}},
		{name: "14-dumpxml", args: []string{"dumpxml", "test"}},
		{name: "15-define", args: []string{"define", "./fixtures/vm1.xml"}},
		{name: "16-create", args: []string{"create", "./fixtures/vm2.xml"}},
		{name: "17-start", setup: vm1Defined(), args: []string{"start", "vm1"}},
		{name: "18-suspend", setup: vm1Running(), args: []string{"suspend", "vm1"}},
		{name: "19-resume", setup: vm1Running("suspend vm1"), args: []string{"resume", "vm1"}},
		{name: "20-setmem", setup: vm1Running(), args: []string{"setmem", "vm1", "400M"}},
		{name: "21-setmaxmem", setup: vm1Running("setmem vm1 400M"), args: []string{"setmaxmem", "vm1", "1G"}},
		{name: "22-setvcpus", setup: vm1Running(), args: []string{"setvcpus", "vm1", "2"}},
		{name: "23-vcpuinfo", setup: vm1Running("setvcpus vm1 2"), args: []string{"vcpuinfo", "vm1"}},
		{name: "24-vcpupin-set", setup: vm1Running(), args: []string{"vcpupin", "vm1", "0", "0"}},
		{name: "25-vcpupin-query", setup: vm1Running("vcpupin vm1 0 0"), args: []string{"vcpupin", "vm1"}},
		{name: "26-domstats-all", setup: []string{"create ./fixtures/vm2.xml", "define ./fixtures/vm1.xml", "start vm1", "suspend vm1", "resume vm1"},
			args: []string{"domstats"}},
		{name: "27-domstats-one", setup: vm1Running("suspend vm1", "resume vm1"), args: []string{"domstats", "vm1"}},
		{name: "28-reboot", setup: vm1Running(), args: []string{"reboot", "vm1"}},
		{name: "29-shutdown", setup: vm1Running(), args: []string{"shutdown", "vm1"}},
		{name: "30-start-again", setup: vm1Running("shutdown vm1"), args: []string{"start", "vm1"}},
		{name: "31-save", setup: vm1Running(), args: []string{"save", "vm1", "./data/vm1.save"}},
		{name: "32-restore", setup: vm1Running("save vm1 ./data/vm1.save"), args: []string{"restore", "./data/vm1.save"}},
		{name: "33-managedsave", setup: vm1Running(), args: []string{"managedsave", "vm1"}},
		{name: "34-start-from-managedsave", setup: vm1Running("managedsave vm1"), args: []string{"start", "vm1"}},
		{name: "35-console", setup: vm1Running(), args: []string{"console", "vm1"}, console: true},
		{name: "36-screenshot-stream", setup: vm1Running(), args: []string{"screenshot", "vm1", "--file", "./data/shot.png"}},
		{name: "37-event-timeout3", args: []string{"event", "--all", "--loop", "--timeout", "3"}},
		{name: "38-attach-device", setup: vm1Running(), args: []string{"attach-device", "vm1", "./fixtures/disk.xml"}},
		// The test driver cannot hot-plug, so the disk is not attached first: it answers NO_SUPPORT either way.
		{name: "39-detach-device", setup: vm1Running(), args: []string{"detach-device", "vm1", "./fixtures/disk.xml"}},
		{name: "40-domxml-from-native", args: []string{"domxml-from-native", "xen-xl", "./fixtures/guest.xl"}},
		{name: "41-sysinfo", args: []string{"sysinfo"}},
		{name: "42-freecell", args: []string{"freecell"}},
		{name: "43-nodememstats", args: []string{"nodememstats"}},
		{name: "44-destroy", setup: vm1Running(), args: []string{"destroy", "vm1"}},
		{name: "45-autostart", setup: vm1Defined(), args: []string{"autostart", "vm1"}},
		{name: "46-undefine", setup: vm1Defined("autostart vm1"), args: []string{"undefine", "vm1"}},
		{name: "47-destroy-transient", setup: []string{"create ./fixtures/vm2.xml"}, args: []string{"destroy", "vm2"}},
		{name: "48-dominfo-by-id", args: []string{"dominfo", "1"}},
		{name: "49-dominfo-by-uuid", setup: vm1Defined("undefine vm1"), args: []string{"dominfo", "2a7bd3a5-3c2d-4f1e-9b55-0a1b2c3d4e5f"}},
		{name: "50-event-with-lifecycle", setup: vm1Defined(), args: []string{"event", "--all", "--loop", "--timeout", "5"},
			during: []string{"start vm1", "suspend vm1", "destroy vm1", "undefine vm1"}},
		{name: "51-keepalive-idle16s", args: []string{"event", "--all", "--loop", "--timeout", "16"}},
		// libvirtd has the test driver only: it refuses xen:///system (the test asks virtxend, Xen only, for
		// test:///default instead).
		{name: "52-xen-uri-vs-libvirtd", uri: "xen+unix:///system?socket={sock}", args: []string{"list", "--all"}},
		{name: "53-readonly-list", opts: []string{"-r"}, args: []string{"list", "--all"}},
		{name: "54-remote-scheme-empty-name", uri: "remote+unix:///?socket={sock}", args: []string{"uri"}},
		{name: "55-name-param-override", uri: "test+unix:///default?socket={sock}&name=xen:///system", args: []string{"uri"}},

		// Faults: error replies, features and keepalive, on the node file's Xen-named guests.
		{name: "E00-list-all", node: "xen1", args: []string{"list", "--all"}},
		{name: "E01-dominfo", node: "xen1", args: []string{"dominfo", "xenvm1"}},
		{name: "E02-version", node: "xen1", args: []string{"version"}},
		{name: "E03-dumpxml", node: "xen1", args: []string{"dumpxml", "xenvm1"}},
		{name: "E04-uri-hostname", node: "xen1", args: []string{"uri; hostname"}},
		{name: "E05-version-daemon", node: "xen1", args: []string{"version", "--daemon"}},
		{name: "E06-sysinfo-unimpl", node: "xen1", args: []string{"sysinfo"}},
		{name: "E07-start-unimpl", node: "xen2", args: []string{"start", "xenvm2"}},
		{name: "E08-event-unimpl", node: "xen1", args: []string{"event", "--all", "--timeout", "2"},
			faults: virshtrace.Faults{Features: map[int32]int32{14: 0}}},
		{name: "E10-authlist-nosupport", node: "xen1", args: []string{"list", "--all"}, faults: fail(66, 3)},
		{name: "E11-authlist-internal", node: "xen1", args: []string{"list", "--all"}, faults: fail(66, 1)},
		{name: "E12-features-nosupport", node: "xen1", args: []string{"list", "--all"}, faults: virshtrace.Faults{FailFeatures: true}},
		{name: "E13-open-fails", node: "xen1", args: []string{"list", "--all"}, faults: fail(1, 1)},
		{name: "E14-closecb-nosupport", node: "xen1", args: []string{"list", "--all"}, faults: fail(360, 3)},
		{name: "E15-closecb-unadvert", node: "xen1", args: []string{"list", "--all"},
			faults: virshtrace.Faults{Features: map[int32]int32{15: 0}}},
		{name: "E16-unregcb-nosupport", node: "xen1", args: []string{"list", "--all"}, faults: fail(361, 3)},
		{name: "E20-dominfo-extras-nosupport", node: "xen1", args: []string{"dominfo", "xenvm1"},
			faults: fail(19, 3, 151, 3, 15, 3, 183, 3, 122, 3, 121, 3, 426, 3)},
		{name: "E21-dominfo-secmodel-internal", node: "xen1", args: []string{"dominfo", "xenvm1"}, faults: fail(122, 1)},
		{name: "E22-dominfo-getinfo-nosupport", node: "xen1", args: []string{"dominfo", "xenvm1"}, faults: fail(16, 3)},
		{name: "E23-list-getstate-nosupport", node: "xen3", args: []string{"list", "--all"}, faults: fail(212, 3)},
		{name: "E24-list-getstate-internal", node: "xen3", args: []string{"list", "--all"}, faults: fail(212, 1)},
		{name: "E25-list-listall-nosupport", node: "xen1", args: []string{"list", "--all"}, faults: fail(273, 3)},
		{name: "E26-lookup-byname-rpcerr", node: "xen1", args: []string{"dominfo", "xenvm1"}, faults: fail(23, 39)},
		{name: "E27-unknown-proc-default", node: "xen1", args: []string{"domcapabilities"}},
		{name: "E28-gettype-nosupport", node: "xen1", args: []string{"version"}, faults: fail(3, 3)},
		{name: "E29-getlibversion-nosupport", node: "xen1", args: []string{"version"}, faults: fail(157, 3)},
		{name: "E30-keepalive-pong", node: "xen1", idle: 50 * time.Second},
		{name: "E31-keepalive-ignored", node: "xen1", idle: 50 * time.Second, faults: virshtrace.Faults{Keepalive: virshtrace.KeepaliveIgnore}},
		{name: "E32-keepalive-error", node: "xen1", idle: 20 * time.Second, faults: virshtrace.Faults{Keepalive: virshtrace.KeepaliveError}},
		{name: "E33-features-nosupport-idle40", node: "xen1", idle: 40 * time.Second, faults: virshtrace.Faults{FailFeatures: true}},
		{name: "E34-readonly", node: "xen1", opts: []string{"-r"}, args: []string{"list", "--all"}},
	}
}

// fixtures are the files the scripts name, for the test driver: test domains (type test, os hvm) with the names,
// UUIDs, memory and vcpus of the test's Xen fixtures; and the test driver's node files of the E* traces.
func fixtures() map[string]string {
	m := map[string]string{
		"fixtures/vm1.xml": `<domain type='test'>
  <name>vm1</name>
  <uuid>2a7bd3a5-3c2d-4f1e-9b55-0a1b2c3d4e5f</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
</domain>
`,
		"fixtures/vm2.xml": `<domain type='test'>
  <name>vm2</name>
  <memory unit='KiB'>524288</memory>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
</domain>
`,
		"fixtures/disk.xml": `<disk type='file' device='disk'>
  <source file='/var/lib/libvirt/images/vm1-data.img'/>
  <target dev='vdb'/>
</disk>
`,
		"fixtures/guest.xl": `name = "xlguest"
type = "pvh"
memory = 512
maxmem = 1024
vcpus = 2
kernel = "/boot/vmlinuz"
disk = [ "/var/lib/xen/images/xlguest.img,raw,xvda,rw" ]
`,
	}
	// xen1: xenvm1 running; xen2: and xenvm2 shut off; xen3: and xenvm3 running. The test driver numbers the
	// running domains of a node file from 1 in file order, so xenvm3 is id 2.
	for n := 1; n <= 3; n++ {
		doms := ""
		for k := 1; k <= n; k++ {
			doms += xenvmXML(k)
		}
		m[fmt.Sprintf("nodes/xen%d.xml", n)] = "<node>\n" + doms + "</node>\n"
	}
	return m
}

// xenvmXML is guest k of the node files: its name and UUID are those of the test's Xen guest xenvmK; the test
// driver has no PVH guests (its capabilities offer hvm and xen), so its os type is xen. xenvm2 is shut off.
func xenvmXML(k int) string {
	state := ""
	if k == 2 {
		state = "  <test:runstate>5</test:runstate>\n"
	}
	return fmt.Sprintf(`<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <name>xenvm%d</name>
  <uuid>5a5e0000-0000-4000-8000-00000000000%d</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64'>xen</type>
  </os>
%s</domain>
`, k, k-1, state)
}
