package e2e

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/test/testenv"
	"github.com/virtxend/virtxend/test/virshtrace"
)

// tracesDir holds the project's virsh traces, recorded by hack/virshtrace (see package test/virshtrace).
var tracesDir = filepath.Join("testdata", "virsh-traces")

// traceURIRE finds the URI virsh was given in a trace's command.
var traceURIRE = regexp.MustCompile(`-c '([^']+)'`)

// loadTrace reads the trace of a case: tracesDir/NAME.txt, or tracesDir/errors/NAME.txt for the E* ones.
func loadTrace(t *testing.T, name string) *virshtrace.Trace {
	t.Helper()
	path := filepath.Join(tracesDir, name+".txt")
	if strings.HasPrefix(name, "E") {
		path = filepath.Join(tracesDir, "errors", name+".txt")
	}
	tr, err := virshtrace.Load(path)
	if err != nil {
		t.Fatalf("trace of %s (go run ./hack/virshtrace -run '^%s$' records it): %v", name, name, err)
	}
	return tr
}

// startRelay puts a recording relay with the case's faults in front of target.
func startRelay(t *testing.T, dir, target string, f virshtrace.Faults) *virshtrace.Relay {
	t.Helper()
	r, err := virshtrace.NewRelay(filepath.Join(dir, "relay.sock"), target, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// waitReplies waits until the daemon has answered n calls of proc.
func (e *traceEnv) waitReplies(proc, n int, limit time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := 0
		for _, p := range e.relay.Packets() {
			if p.Event == "" && p.Dir == virshtrace.ServerToClient && p.Type == "REPLY" && p.Proc == proc {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the daemon answered %d of %d calls of procedure %d", got, n, proc)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// traceFixtures are Xen versions of the recorder's fixtures (hack/virshtrace: fixtures/*), of the test driver's
// default domain and of the domains of the recorder's node files for the E* traces.
func traceFixtures() map[string]string {
	m := map[string]string{
		// test.xml is libvirt's test driver's default domain "test" as a Xen PV guest: same name, UUID, memory,
		// balloon, vcpus, disk image and MAC (the disk and interface on Xen buses). Its OS type is "linux", which
		// libvirt keeps as such (virDomainOSType has a "linux" value; libxlDomainGetOSType returns it), so
		// dominfo prints "OS Type: linux" as the test driver does.
		"test.xml": `<domain type='xen'>
  <name>test</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <memory unit='KiB'>8388608</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu>2</vcpu>
  <os>
    <type>linux</type>
    <kernel>/boot/vmlinuz</kernel>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <source file='/guest/diskimage1'/>
      <target dev='xvda' bus='xen'/>
    </disk>
    <interface type='bridge'>
      <mac address='aa:bb:cc:dd:ee:ff'/>
      <source bridge='xenbr0'/>
    </interface>
  </devices>
</domain>
`,
		"vm1.xml": `<domain type='xen'>
  <name>vm1</name>
  <uuid>2a7bd3a5-3c2d-4f1e-9b55-0a1b2c3d4e5f</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu>2</vcpu>
  <os>
    <type>linux</type>
    <kernel>/boot/vmlinuz</kernel>
  </os>
</domain>
`,
		"vm2.xml": `<domain type='xen'>
  <name>vm2</name>
  <memory unit='KiB'>524288</memory>
  <os>
    <type>linux</type>
    <kernel>/boot/vmlinuz</kernel>
  </os>
</domain>
`,
		"disk.xml": `<disk type='file' device='disk'>
  <source file='/var/lib/xen/images/vm1-data.img'/>
  <target dev='xvdb'/>
</disk>
`,
		"guest.xl": `name = "xlguest"
type = "pvh"
memory = 512
maxmem = 1024
vcpus = 2
kernel = "/boot/vmlinuz"
disk = [ "/var/lib/xen/images/xlguest.img,raw,xvda,rw" ]
`,
	}
	for n := 1; n <= 3; n++ {
		m[fmt.Sprintf("xenvm%d.xml", n)] = xenvmXML(n)
	}
	return m
}

// xenvmXML is guest n of the E* traces, as a PVH guest: same name and UUID as in the recorder's node files.
func xenvmXML(n int) string {
	return fmt.Sprintf(`<domain type='xen'>
  <name>xenvm%d</name>
  <uuid>5a5e0000-0000-4000-8000-00000000000%d</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu>2</vcpu>
  <os>
    <type>xenpvh</type>
    <kernel>/boot/vmlinuz</kernel>
  </os>
</domain>
`, n, n-1)
}

// traceFiles maps a fixture to the path the traces show for it.
var traceFiles = map[string]string{
	"vm1.xml":  "./fixtures/vm1.xml",
	"vm2.xml":  "./fixtures/vm2.xml",
	"disk.xml": "./fixtures/disk.xml",
	"guest.xl": "./fixtures/guest.xl",
	"vm1.save": "./data/vm1.save",
	"shot.png": "./data/shot.png",
}

// traceEnv is one subtest's daemon, relay and files.
type traceEnv struct {
	t     *testing.T
	i     *instance
	relay *virshtrace.Relay
	uri   string // what virsh connects to
}

// path is the path of a fixture in the instance's directory.
func (e *traceEnv) path(name string) string { return filepath.Join(e.i.Dir, name) }

// fixtureRef is a {name} in a command: the path of a file in the instance's directory.
var fixtureRef = regexp.MustCompile(`\{([^{}]+)\}`)

// expand replaces each {name} with the path of a file in the instance's directory.
func (e *traceEnv) expand(args []string) []string {
	out := make([]string, len(args))
	for k, a := range args {
		out[k] = fixtureRef.ReplaceAllStringFunc(a, func(m string) string { return e.path(m[1 : len(m)-1]) })
	}
	return out
}

// do runs setup steps directly against the daemon (not through the relay): virsh command lines with {fixture}
// paths, or "wait-off NAME" to wait for an asynchronous shutdown.
func (e *traceEnv) do(steps ...string) {
	e.t.Helper()
	for _, s := range steps {
		f := strings.Fields(s)
		if f[0] == "wait-off" {
			e.i.Eventually(f[1]+" shut off", 20*time.Second, func() bool {
				return strings.TrimSpace(e.i.Virsh("domstate", f[1]).Stdout) == "shut off"
			})
			continue
		}
		e.i.MustVirsh(e.expand(f)...)
	}
}

// traceCase is one trace replayed against virtxend.
type traceCase struct {
	name     string   // the trace file without .txt; X* rows are error cases without a trace file
	scenario string   // "test" (default): domain test running as id 1; "xen": xenvm1 running; "none"
	setup    []string // more state, as virsh commands run directly against the daemon
	args     []string // the traced virsh command, after -c URI
	opts     []string // virsh options before -c
	uri      string   // URI template ({sock} is the relay's socket) when not xen+unix:///system?socket={sock}
	ro       bool     // relay to the read-only socket
	faults   virshtrace.Faults
	idle     time.Duration // interactive virsh: "list --all" arrives on stdin after this long
	parallel bool          // long idle traces run in parallel, each with its own daemon
	during   func(e *traceEnv)
	console  bool // run under a pty, leave with Ctrl-] once the guest's login prompt shows

	code      *int              // the exit code when it must differ from the trace's
	want      []string          // the (normalised) output when the trace's cannot be the reference
	mask      []string          // regexps: submatch 1 becomes * on both sides (values a Xen host differs in)
	dropRef   []string          // regexps of normalised trace lines (or XML paths) a Xen host does not print
	dropOurs  []string          // regexps of normalised lines of ours the trace has no counterpart for
	xmlDepth  int               // compare the element paths of XML output down to this depth (the trace's in order among ours)
	root      string            // ours must be a whole XML document with this root element
	blocks    bool              // compare per-domain blocks of domstats, in any order
	blockMask map[string]string // per domain of domstats: a mask of its lines
	expect    []string          // regexps (multi-line) our normalised output must match: the Xen values
	calls     []string          // pairs of edits (old, new) turning the trace's call sequence into the one we expect
	wantCalls string            // the call sequence when there is no trace
	keepalive int               // at least this many keepalive pings must have been exchanged, every one answered
	why       string            // the differences accepted, and why a Xen host differs
	after     func(e *traceEnv)
}

// exitWith is an expected exit code.
func exitWith(n int) *int { return &n }

const (
	prologue = "66 60 1 60*2 360"
	epilogue = "361 2"
)

// Common masks and drops.
var (
	dropDom0 = `^0 Domain-0 running$`
	whyDom0  = "libvirt's libxl driver lists Domain-0 (id 0), one more DOMAIN_GET_STATE; the test driver has no host domain."
	// dom0Calls is the extra DOMAIN_GET_STATE of Domain-0 in virsh list.
	dom0Calls = []string{"273 212 ", "273 212*2 "}
	whySec    = "No Security lines and no DOMAIN_GET_SECURITY_LABEL: libxl's NODE_GET_SECURITY_MODEL returns an empty " +
		"model (no security driver), after which virsh prints nothing about security (compare E01)."
)

func traceCases() []traceCase {
	return []traceCase{
		{name: "01-connect-disconnect", args: []string{"echo", "hello"}},
		{name: "02-version", args: []string{"version"},
			mask:   []string{`^Using API: (\S+)`, `^Running hypervisor: (.+)$`},
			expect: []string{`(?m)^Using API: Xen \d+\.\d+\.\d+$`, `(?m)^Running hypervisor: Xen 4\.17\.0$`},
			why:    "The driver is Xen and the hypervisor Xen 4.17, not TEST 0.0.2."},
		{name: "03-uri", args: []string{"uri"}},
		{name: "04-hostname", args: []string{"hostname"}, mask: []string{`^(.+)$`},
			why: "The host's name."},
		{name: "05-nodeinfo", args: []string{"nodeinfo"}, mask: []string{`^[^:]+: (.+)$`},
			expect: []string{`(?m)^CPU model: x86_64$`, `(?m)^Memory size: 16777216 KiB$`},
			why:    "The host's CPU model, topology and memory (the simulated Xen host: x86_64, 8 cpus, 16 GiB)."},
		{name: "06-capabilities", args: []string{"capabilities"}, xmlDepth: 3, root: "capabilities",
			expect: []string{`<arch>x86_64</arch>`, `<os_type>xen</os_type>`, `<domain type='xen'/>`},
			why:    "The host's capabilities: same document structure (host/cpu, power_management, iommu, topology in that order), Xen's guests."},
		{name: "07-domcapabilities", args: []string{"domcapabilities"}, code: exitWith(0), root: "domainCapabilities",
			expect: []string{`<domain>xen</domain>`, `<machine>xenpv</machine>`},
			calls:  []string{"342!3", "342"},
			why:    "The test driver lacks virConnectGetDomainCapabilities; libxl implements it (xenpv by default)."},
		{name: "08-list", args: []string{"list"}, dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "09-list-all", args: []string{"list", "--all"}, dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "10-dominfo", args: []string{"dominfo", "test"},
			mask:    []string{`^CPU time: (.+)$`, `^OS Type: (.+)$`},
			dropRef: []string{`^Security `},
			calls:   []string{"121 ", ""},
			why:     "CPU time is the guest's. " + whyOSType + whySec},
		{name: "11-domstate", args: []string{"domstate", "test"}},
		{name: "12-domid", args: []string{"domid", "test"}},
		{name: "13-domuuid", args: []string{"domuuid", "test"}},
		{name: "14-dumpxml", args: []string{"dumpxml", "test"}, xmlDepth: 3, root: "domain",
			dropRef: []string{`^domain/os/boot$`},
			expect:  []string{`(?m)^<domain type='xen' id='1'>$`, `<type arch='x86_64' machine='xenpv'>linux</type>`, `<source file='/guest/diskimage1'/>`},
			why:     "A Xen PV guest: type xen, no <boot dev> (a PV guest boots its kernel directly), Xen disk and interface."},
		{name: "15-define", args: []string{"define", "{vm1.xml}"}},
		{name: "16-create", args: []string{"create", "{vm2.xml}"}},
		{name: "17-start", setup: []string{"define {vm1.xml}"}, args: []string{"start", "vm1"}},
		{name: "18-suspend", setup: []string{"define {vm1.xml}", "start vm1"}, args: []string{"suspend", "vm1"}},
		{name: "19-resume", setup: []string{"define {vm1.xml}", "start vm1", "suspend vm1"}, args: []string{"resume", "vm1"}},
		{name: "20-setmem", setup: []string{"define {vm1.xml}", "start vm1"}, args: []string{"setmem", "vm1", "400M"},
			after: func(e *traceEnv) {
				wantLines(e.t, "dominfo", e.i.MustVirsh("dominfo", "vm1"), `^Used memory: +409600 KiB$`)
			}},
		{name: "21-setmaxmem", setup: []string{"define {vm1.xml}", "start vm1", "setmem vm1 400M"},
			args: []string{"setmaxmem", "vm1", "1G"}, code: exitWith(0), want: []string{},
			calls: []string{"204!55", "204"},
			why: "The test driver refuses to resize the maximum memory of a running domain; libxl's " +
				"SetMemoryFlags(MAXIMUM|LIVE) calls libxl_domain_setmaxmem and succeeds."},
		{name: "22-setvcpus", setup: []string{"define {vm1.xml}", "start vm1"}, args: []string{"setvcpus", "vm1", "2"}},
		{name: "23-vcpuinfo", setup: []string{"define {vm1.xml}", "start vm1", "setvcpus vm1 2"}, args: []string{"vcpuinfo", "vm1"},
			mask: []string{`^CPU: (.+)$`, `^CPU time: (.+)$`},
			why:  "The physical CPU each vcpu runs on and its CPU time are the host's."},
		{name: "24-vcpupin-set", setup: []string{"define {vm1.xml}", "start vm1"}, args: []string{"vcpupin", "vm1", "0", "0"}},
		{name: "25-vcpupin-query", setup: []string{"define {vm1.xml}", "start vm1", "vcpupin vm1 0 0"}, args: []string{"vcpupin", "vm1"}},
		{name: "26-domstats-all", setup: []string{"create {vm2.xml}", "define {vm1.xml}", "start vm1", "suspend vm1", "resume vm1"},
			args: []string{"domstats"}, blocks: true, blockMask: map[string]string{"test": `^state\.reason=(\d+)$`},
			why: whyDom0 + " libxl reports more groups than the test driver (cpu, balloon, vcpu, net, block); " +
				"the order of domains is unspecified (libvirt walks a hash table). The test driver's default domain " +
				"is running for reason 0 (unknown); a Xen guest that was started is running for reason 1 (booted)."},
		{name: "27-domstats-one", setup: []string{"define {vm1.xml}", "start vm1", "suspend vm1", "resume vm1"},
			args: []string{"domstats", "vm1"}, blocks: true,
			why: "libxl reports more groups than the test driver (cpu, balloon, vcpu, net, block)."},
		{name: "28-reboot", setup: []string{"define {vm1.xml}", "start vm1"}, args: []string{"reboot", "vm1"}},
		{name: "29-shutdown", setup: []string{"define {vm1.xml}", "start vm1"}, args: []string{"shutdown", "vm1"},
			after: func(e *traceEnv) { e.do("wait-off vm1") }},
		{name: "30-start-again", setup: []string{"define {vm1.xml}", "start vm1", "shutdown vm1", "wait-off vm1"},
			args: []string{"start", "vm1"},
			why:  "A Xen guest shuts down asynchronously: the setup waits until vm1 is shut off."},
		{name: "31-save", setup: []string{"define {vm1.xml}", "start vm1"}, args: []string{"save", "vm1", "{vm1.save}"}},
		{name: "32-restore", setup: []string{"define {vm1.xml}", "start vm1", "save vm1 {vm1.save}"}, args: []string{"restore", "{vm1.save}"}},
		{name: "33-managedsave", setup: []string{"define {vm1.xml}", "start vm1"}, args: []string{"managedsave", "vm1"}},
		{name: "34-start-from-managedsave", setup: []string{"define {vm1.xml}", "start vm1", "managedsave vm1"},
			args: []string{"start", "vm1"},
			after: func(e *traceEnv) {
				wantLines(e.t, "dominfo", e.i.MustVirsh("dominfo", "vm1"), `^State: +running$`, `^Managed save: +no$`)
			}},
		{name: "35-console", setup: []string{"define {vm1.xml}", "start vm1"}, args: []string{"console", "vm1"}, console: true,
			code: exitWith(0), dropRef: []string{`^Authorization not available`, `^error: this function is not supported by the connection driver: virDomainOpenConsole$`},
			dropOurs: []string{`^Authorization not available`},
			calls:    []string{"201!3", "201"},
			why: "The test driver has no console; libxl's virDomainOpenConsole opens the guest's PV console, so virsh " +
				"stays connected (until Ctrl-]) instead of failing. The polkit notice is virsh's own, about the client's machine."},
		{name: "36-screenshot-stream", setup: []string{"define {vm1.xml}", "start vm1"},
			args: []string{"screenshot", "vm1", "--file", "{shot.png}"}, code: exitWith(1),
			want: []string{"error: could not take a screenshot of vm1",
				"error: this function is not supported by the connection driver: virDomainScreenshot"},
			calls: []string{"211", "211!3"},
			why: "Out of scope: libvirt's libxl driver does not implement virDomainScreenshot (no stream); virtxend " +
				"must answer exactly as it does, VIR_ERR_NO_SUPPORT."},
		{name: "37-event-timeout3", args: []string{"event", "--all", "--loop", "--timeout", "3"}, parallel: true},
		{name: "38-attach-device", setup: []string{"define {vm1.xml}", "start vm1"},
			args: []string{"attach-device", "vm1", "{disk.xml}"}, code: exitWith(0), want: []string{"Device attached successfully"},
			calls: []string{"8!3", "8"},
			why:   "The test driver lacks device hot-plug; libxl hot-plugs a disk into a running guest."},
		{name: "39-detach-device", setup: []string{"define {vm1.xml}", "start vm1", "attach-device vm1 {disk.xml}"},
			args: []string{"detach-device", "vm1", "{disk.xml}"}, code: exitWith(0), want: []string{"Device detached successfully"},
			calls: []string{"13!3", "13"},
			why:   "The test driver lacks device hot-unplug; libxl unplugs the disk from the running guest."},
		{name: "40-domxml-from-native", args: []string{"domxml-from-native", "xen-xl", "{guest.xl}"}, code: exitWith(0), root: "domain",
			expect: []string{`(?m)^<domain type='xen'>$`, `<name>xlguest</name>`, `<type arch='x86_64' machine='xenpvh'>xenpvh</type>`},
			calls:  []string{"135!3", "135"},
			why:    "The test driver has no native formats; libxl converts xl.cfg (xenParseXL)."},
		sysinfoCase(traceCase{name: "41-sysinfo"}),
		{name: "42-freecell", args: []string{"freecell"}, mask: []string{`^Total: (\d+) KiB$`},
			why: "The host's free memory."},
		{name: "43-nodememstats", args: []string{"nodememstats"}, code: exitWith(0),
			want:  []string{"total : * KiB", "free : * KiB", "buffers: * KiB", "cached : * KiB"},
			mask:  []string{`^\S+ ?: (\d+) KiB$`},
			calls: []string{"228!3", "228*2"},
			why: "The test driver lacks virNodeGetMemoryStats; virtxend answers it as libvirt does on Linux hosts " +
				"(virHostMemGetStats: total and free from the hypervisor, buffers and cached from Domain-0), though " +
				"libvirt's libxl driver lacks it: a deliberate extension, see TestHostVirshNodeStats."},
		{name: "44-destroy", setup: []string{"define {vm1.xml}", "start vm1"}, args: []string{"destroy", "vm1"}},
		{name: "45-autostart", setup: []string{"define {vm1.xml}"}, args: []string{"autostart", "vm1"}},
		{name: "46-undefine", setup: []string{"define {vm1.xml}", "autostart vm1"}, args: []string{"undefine", "vm1"},
			calls: []string{"187 ", "187!3 "},
			why:   "libxl has no snapshots: DOMAIN_SNAPSHOT_NUM answers VIR_ERR_NO_SUPPORT, which virsh undefine tolerates."},
		{name: "47-destroy-transient", setup: []string{"create {vm2.xml}"}, args: []string{"destroy", "vm2"}},
		{name: "48-dominfo-by-id", args: []string{"dominfo", "1"},
			mask: []string{`^CPU time: (.+)$`, `^OS Type: (.+)$`}, dropRef: []string{`^Security `}, calls: []string{"121 ", ""},
			why: "CPU time is the guest's. " + whyOSType + whySec},
		{name: "49-dominfo-by-uuid", setup: []string{"define {vm1.xml}", "undefine vm1"},
			args: []string{"dominfo", "2a7bd3a5-3c2d-4f1e-9b55-0a1b2c3d4e5f"}},
		{name: "50-event-with-lifecycle", setup: []string{"define {vm1.xml}"}, args: []string{"event", "--all", "--loop", "--timeout", "5"},
			parallel: true,
			during: func(e *traceEnv) {
				e.waitReplies(316, 27, 15*time.Second)
				e.do("start vm1", "suspend vm1", "destroy vm1", "undefine vm1")
			}},
		{name: "51-keepalive-idle16s", args: []string{"event", "--all", "--loop", "--timeout", "16"}, parallel: true, keepalive: 2},
		{name: "52-xen-uri-vs-libvirtd", scenario: "none", uri: "test+unix:///default?socket={sock}", args: []string{"list", "--all"},
			mask: []string{`^error: no connection driver available for (\S+)$`},
			why: "Mirrored: the trace asked libvirtd (test driver only) for xen:///system; here virtxend (Xen only) is " +
				"asked for test:///default and must refuse it the same way, VIR_ERR_NO_CONNECT."},
		{name: "53-readonly-list", opts: []string{"-r"}, args: []string{"list", "--all"}, dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "54-remote-scheme-empty-name", uri: "remote+unix:///?socket={sock}", args: []string{"uri"}},
		{name: "55-name-param-override", scenario: "none", uri: "xen+unix:///system?socket={sock}&name=test:///default", args: []string{"uri"},
			mask: []string{`^error: no connection driver available for (\S+)$`},
			why: "Mirrored like 52: the name= parameter overrides the URI sent in CONNECT_OPEN; virtxend refuses " +
				"test:///default as libvirtd refused xen:///system."},

		// The E* traces: the recorder's test-driver node file (xenvm1 running as id 1, named and numbered as the
		// Xen guests here), with the trace's faults injected by the relay in both recordings and replays.
		{name: "E00-list-all", scenario: "xen", args: []string{"list", "--all"}, dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "E01-dominfo", scenario: "xen", args: []string{"dominfo", "xenvm1"}, mask: []string{`^CPU time: (.+)$`, `^OS Type: (.+)$`},
			dropRef: []string{`^Security `}, calls: []string{"121 ", ""},
			why: "CPU time is the guest's. " + whyPVH + whySec},
		{name: "E02-version", scenario: "xen", args: []string{"version"}, mask: versionMask, expect: versionExpect, why: whyVersion},
		{name: "E03-dumpxml", scenario: "xen", args: []string{"dumpxml", "xenvm1"}, xmlDepth: 3, root: "domain",
			expect: []string{`(?m)^<domain type='xen' id='1'>$`, `<type arch='x86_64' machine='xenpvh'>xenpvh</type>`},
			why:    "A Xen PVH guest, not a test domain: more elements (devices of a Xen guest)."},
		{name: "E04-uri-hostname", scenario: "xen", args: []string{"uri; hostname"}, mask: []string{`^([^<:]+)$`},
			why: "The host's name."},
		{name: "E05-version-daemon", scenario: "xen", args: []string{"version", "--daemon"},
			mask:   append([]string{`^Running against daemon: (\S+)$`}, versionMask...),
			expect: append([]string{`(?m)^Running against daemon: 11\.3\.0$`}, versionExpect...),
			why:    "virtxend emulates libvirt 11.3.0's daemon, the recording's was 9.0.0. " + whyVersion},
		sysinfoCase(traceCase{name: "E06-sysinfo-unimpl", scenario: "xen"}),
		{name: "E07-start-unimpl", scenario: "xen", setup: []string{"define {xenvm2.xml}"}, args: []string{"start", "xenvm2"},
			why: "DOMAIN_CREATE must be implemented (libxl's DomainCreateWithFlags), and virsh then looks the domain up by UUID."},
		{name: "E08-event-unimpl", scenario: "xen", args: []string{"event", "--all", "--timeout", "2"}, parallel: true,
			faults: virshtrace.Faults{Features: map[int32]int32{14: 0}},
			why: "The relay answers VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK with 0, so virsh registers with the legacy " +
				"CONNECT_DOMAIN_EVENT_REGISTER_ANY: libvirt's daemon accepts it for the first 16 event ids only (up to " +
				"DEVICE_REMOVED) and answers the 11 newer ones VIR_ERR_INTERNAL_ERROR, which virsh tolerates; it times " +
				"out and deregisters the 16."},
		{name: "E10-authlist-nosupport", scenario: "xen", args: []string{"list", "--all"},
			faults: virshtrace.Faults{Fail: map[int32]rpc.Code{66: 3}}, dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "E11-authlist-internal", scenario: "xen", args: []string{"list", "--all"},
			faults: virshtrace.Faults{Fail: map[int32]rpc.Code{66: 1}}},
		{name: "E12-features-nosupport", scenario: "xen", args: []string{"list", "--all"},
			faults: virshtrace.Faults{FailFeatures: true}, dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "E13-open-fails", scenario: "xen", args: []string{"list", "--all"},
			faults: virshtrace.Faults{Fail: map[int32]rpc.Code{1: 1}}},
		{name: "E14-closecb-nosupport", scenario: "xen", args: []string{"list", "--all"},
			faults: virshtrace.Faults{Fail: map[int32]rpc.Code{360: 3}}, dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "E15-closecb-unadvert", scenario: "xen", args: []string{"list", "--all"},
			faults: virshtrace.Faults{Features: map[int32]int32{15: 0}}, dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "E16-unregcb-nosupport", scenario: "xen", args: []string{"list", "--all"},
			faults: virshtrace.Faults{Fail: map[int32]rpc.Code{361: 3}}, dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "E20-dominfo-extras-nosupport", scenario: "xen", args: []string{"dominfo", "xenvm1"},
			faults: virshtrace.Faults{Fail: map[int32]rpc.Code{19: 3, 151: 3, 15: 3, 183: 3, 122: 3, 121: 3, 426: 3}},
			mask:   []string{`^CPU time: (.+)$`}, why: "CPU time is the guest's."},
		{name: "E21-dominfo-secmodel-internal", scenario: "xen", args: []string{"dominfo", "xenvm1"},
			faults: virshtrace.Faults{Fail: map[int32]rpc.Code{122: 1}}, mask: []string{`^CPU time: (.+)$`, `^OS Type: (.+)$`},
			why: "CPU time is the guest's. " + whyPVH},
		{name: "E22-dominfo-getinfo-nosupport", scenario: "xen", args: []string{"dominfo", "xenvm1"},
			faults: virshtrace.Faults{Fail: map[int32]rpc.Code{16: 3}}, mask: []string{`^OS Type: (.+)$`},
			dropRef: []string{`^Security `}, calls: []string{"121 ", ""}, why: whyPVH + whySec},
		{name: "E23-list-getstate-nosupport", scenario: "xen", setup: threeXenvms, args: []string{"list", "--all"},
			faults: virshtrace.Faults{Fail: map[int32]rpc.Code{212: 3}}, dropOurs: []string{dropDom0},
			calls: []string{"212!3 16*3", "212!3 16*4"},
			why:   whyDom0 + " (so virsh falls back to DOMAIN_GET_INFO for four domains, not three)."},
		{name: "E24-list-getstate-internal", scenario: "xen", setup: threeXenvms, args: []string{"list", "--all"},
			faults: virshtrace.Faults{Fail: map[int32]rpc.Code{212: 1}},
			calls:  []string{"212!1*3", "212!1*4"},
			why:    whyDom0 + " (one more DOMAIN_GET_STATE: each fails, and virsh silently drops every domain)."},
		{name: "E25-list-listall-nosupport", scenario: "xen", args: []string{"list", "--all"},
			faults:   virshtrace.Faults{Fail: map[int32]rpc.Code{273: 3}},
			dropOurs: []string{dropDom0},
			calls:    []string{"22 212", "22*2 212*2"},
			why: "The legacy listing must be implemented: virsh's fallback (NUM_OF_DOMAINS, LIST_DOMAINS, " +
				"NUM_OF_DEFINED_DOMAINS, then LOOKUP_BY_ID and GET_STATE per domain) lists the domains. " + whyDom0},
		{name: "E26-lookup-byname-rpcerr", scenario: "xen", args: []string{"dominfo", "xenvm1"},
			faults: virshtrace.Faults{Fail: map[int32]rpc.Code{23: 39}}},
		{name: "E27-unknown-proc-default", scenario: "xen", args: []string{"domcapabilities"}, code: exitWith(0), root: "domainCapabilities",
			expect: []string{`<domain>xen</domain>`}, calls: []string{"342!3", "342"},
			why: "The prototype lacked CONNECT_GET_DOMAIN_CAPABILITIES; libxl implements it."},
		{name: "E28-gettype-nosupport", scenario: "xen", args: []string{"version"}, faults: virshtrace.Faults{Fail: map[int32]rpc.Code{3: 3}},
			mask: []string{`^Running hypervisor: remote (\S+)$`}, expect: []string{`(?m)^Running hypervisor: remote 4\.17\.0$`},
			why: "Without CONNECT_GET_TYPE virsh names the driver remote; the hypervisor's version is Xen's."},
		{name: "E29-getlibversion-nosupport", scenario: "xen", args: []string{"version"}, faults: virshtrace.Faults{Fail: map[int32]rpc.Code{157: 3}},
			mask: versionMask, expect: versionExpect, why: whyVersion},
		{name: "E30-keepalive-pong", scenario: "xen", idle: 50 * time.Second, parallel: true, keepalive: 8,
			dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "E31-keepalive-ignored", scenario: "xen", idle: 50 * time.Second, parallel: true,
			faults: virshtrace.Faults{Keepalive: virshtrace.KeepaliveIgnore}, dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "E32-keepalive-error", scenario: "xen", idle: 20 * time.Second, parallel: true,
			faults: virshtrace.Faults{Keepalive: virshtrace.KeepaliveError}, dropOurs: []string{dropDom0}, calls: dom0Calls, why: whyDom0},
		{name: "E33-features-nosupport-idle40", scenario: "xen", idle: 40 * time.Second, parallel: true,
			faults: virshtrace.Faults{FailFeatures: true}, dropOurs: []string{dropDom0}, calls: dom0Calls,
			why: whyDom0 + " Without the keepalive feature virsh never pings; the daemon must not drop the idle client."},
		{name: "E34-readonly", scenario: "xen", ro: true, opts: []string{"-r"}, args: []string{"list", "--all"}, dropOurs: []string{dropDom0}, calls: dom0Calls,
			why: whyDom0 + " Run on the read-only socket (the recording, from a session libvirtd without one, asked for a read-only connection)."},

		// Error cases without a trace: what libvirt's libxl driver (and virsh) print.
		{name: "X1-unknown-domain", args: []string{"dominfo", "nosuch"}, code: exitWith(1),
			want:      []string{"error: failed to get domain 'nosuch'"},
			wantCalls: prologue + " 23!42 " + epilogue,
			why:       "VIR_ERR_NO_DOMAIN on DOMAIN_LOOKUP_BY_NAME, as trace 49 shows for a UUID."},
		{name: "X2-start-running", args: []string{"start", "test"}, code: exitWith(1),
			want:      []string{"error: Domain is already active"},
			wantCalls: prologue + " 23 " + epilogue,
			why:       "virsh refuses by itself: the domain looked up has an id."},
		{name: "X3-setmem-above-max", args: []string{"setmem", "test", "16G"}, code: exitWith(1),
			want:      []string{"error: invalid argument: cannot set memory higher than max memory"},
			wantCalls: prologue + " 23 204!8 " + epilogue,
			why:       "libxlDomainSetMemoryFlags: a balloon above the maximum is VIR_ERR_INVALID_ARG."},
		{name: "X4-setvcpus-above-max", args: []string{"setvcpus", "test", "4"}, code: exitWith(1),
			want:      []string{"error: invalid argument: requested vcpus is greater than max allowable vcpus for the domain: 4 > 2"},
			wantCalls: prologue + " 23 32!8 " + epilogue,
			why:       "libxlDomainSetVcpusFlags: more vcpus than the domain's maximum is VIR_ERR_INVALID_ARG."},
		{name: "X5-redefine-after-undefine", setup: []string{"define {vm1.xml}", "start vm1", "destroy vm1", "undefine vm1"},
			args: []string{"define", "{vm1.xml}"}, code: exitWith(0),
			want:      []string{"Domain 'vm1' defined from <vm1.xml>"},
			wantCalls: prologue + " 11 " + epilogue,
			why:       "A define/undefine round trip: the UUID of the undefined domain is free again.",
			after: func(e *traceEnv) {
				wantLines(e.t, "dominfo", e.i.MustVirsh("dominfo", "vm1"), `^State: +shut off$`, `^Persistent: +yes$`,
					`^UUID: +2a7bd3a5-3c2d-4f1e-9b55-0a1b2c3d4e5f$`)
			}},
	}
}

// threeXenvms is the recorder's node file xen3: xenvm1 running (id 1), xenvm2 shut off, xenvm3 running (id 2).
var threeXenvms = []string{"define {xenvm2.xml}", "define {xenvm3.xml}", "start xenvm3"}

// sysinfoCase completes tc, a virsh sysinfo trace (the test driver's made-up SMBIOS data), for this machine: the
// host's SMBIOS data where it has some; elsewhere (no /sys/class/dmi/id) libxl's GetSysinfo fails, as libvirt
// does when dmidecode finds no tables.
func sysinfoCase(tc traceCase) traceCase {
	tc.args = []string{"sysinfo"}
	if hostHasSMBIOS() {
		tc.xmlDepth, tc.root = 3, "sysinfo"
		tc.expect = []string{`^<sysinfo type='smbios'>`}
		tc.why = "The host's SMBIOS data, not the test driver's (libxlConnectGetSysinfo)."
		return tc
	}
	tc.code = exitWith(1)
	tc.want = []string{"error: failed to get sysinfo", "error: unsupported configuration: Host SMBIOS information is not available"}
	tc.calls = []string{" 203 ", " 203!67 "}
	tc.why = "This machine has no SMBIOS data (no /sys/class/dmi/id): libxl's GetSysinfo answers " +
		"VIR_ERR_CONFIG_UNSUPPORTED 'Host SMBIOS information is not available', as libvirt does when dmidecode finds no tables."
	return tc
}

// TestVirshTraces replays every command of the project's virsh traces (testdata/virsh-traces, recorded by
// hack/virshtrace: real virsh 9.0 against a real libvirtd 9.0 serving its test driver; errors/E*: the same, with
// faults injected by the recording relay) against the real daemon binary, with the real virsh, and compares what
// virsh prints and the procedures it sends with what the trace recorded.
//
// Every subtest starts its own daemon and brings it to the state the traced command found libvirtd in: the test
// driver's default domain "test" (running, id 1) becomes a Xen PV guest of the same name, UUID, memory and vcpus;
// vm1, vm2, disk.xml and guest.xl are Xen versions of the recorder's fixtures; the E* traces' guests xenvm1..3
// are the recorder's test-driver node files' domains as PVH guests. The command runs through the recorder's
// relay (virshtrace.Relay: a unix socket that parses every packet with rpc.ReadPacket, records it, and injects
// the trace's faults, which must be the case's), so each subtest also checks the sequence of calls virsh made,
// with the error code of each reply.
//
// The comparison is of shape: the same lines and labels in the same order, values masked only where a Xen host
// legitimately differs from the test driver. Accepted differences, each repeated where it applies:
//   - Domain-0: libvirt's libxl driver lists the host domain (id 0) in list and domstats; the test driver has none.
//   - Security model: the libxl driver answers NODE_GET_SECURITY_MODEL with an empty model (it has no security
//     driver), so virsh prints no "Security ..." lines and never asks for the label (procedure 121).
//   - Hypervisor-specific values: type and version of the hypervisor, CPU model and topology of the host, CPU
//     times, the CPU a vcpu runs on, the host's free memory, the OS type of a guest (the test driver has no PVH
//     guests) and the content of host XML documents.
//   - Commands the test driver lacks but the libxl driver implements (domcapabilities, console, setmaxmem on a
//     running domain, attach-device/detach-device, domxml-from-native): the trace's NO_SUPPORT error cannot be
//     the reference; the subtest requires what libvirt's libxl driver prints instead (libxlConnectGetDomainCapabilities,
//     libxlDomainOpenConsole, libxlDomainSetMemoryFlags, libxlDomainAttachDeviceFlags and DetachDeviceFlags,
//     libxlConnectDomainXMLFromNative with xenParseXL) and fails if the daemon does not do it.
//   - Commands libxl lacks (screenshot): the subtest requires libxl's NO_SUPPORT answer, not the trace's success.
//
// whyOSType: for a Xen domain libvirt's parser turns the historical os type "linux" into "xen" (so does
// domxml.ApplyDefaults); the traces come from the test driver, which keeps "linux".
const whyOSType = "OS Type is xen: libvirt's parser reads a Xen domain's historical 'linux' as 'xen'; the test driver keeps it. "

// whyPVH: the E* traces' guests are the test driver's, which has no PVH guests; ours are PVH guests.
const whyPVH = "OS Type is xenpvh: the recording's guest is a test-driver domain (the test driver has no PVH guests). "

// The version lines of virsh version: the driver is Xen and the hypervisor Xen 4.17, not TEST 0.0.2.
var (
	versionMask   = []string{`^Using API: (\S+)`, `^Running hypervisor: (.+)$`}
	versionExpect = []string{`(?m)^Using API: Xen \d+\.\d+\.\d+$`, `(?m)^Running hypervisor: Xen 4\.17\.0$`}
)

const whyVersion = "The driver is Xen and the hypervisor Xen 4.17, not TEST 0.0.2."

func TestVirshTraces(t *testing.T) {
	// The traces are part of the repository: without them the checkout is broken, not the machine.
	if _, err := os.Stat(filepath.Join(tracesDir, "errors")); err != nil {
		t.Fatalf("the virsh traces are missing (go run ./hack/virshtrace records them): %v", err)
	}
	if _, err := os.Stat("/usr/bin/virsh"); err != nil {
		testenv.Missing(t, "/usr/bin/virsh (Debian's libvirt-clients)", "hack/test-deps.sh (make test-deps)")
	}
	for _, tc := range traceCases() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.parallel {
				t.Parallel()
			}
			runTraceCase(t, tc)
		})
	}
}

func runTraceCase(t *testing.T, tc traceCase) {
	var tr *virshtrace.Trace
	if !strings.HasPrefix(tc.name, "X") {
		tr = loadTrace(t, tc.name)
		if got := tc.faults.String(); got != tr.Faults {
			t.Fatalf("the case injects faults %q, the trace was recorded with %q", got, tr.Faults)
		}
	}
	i := startInstance(t)
	target := i.Sock
	if tc.ro {
		target = i.SockRO
	}
	e := &traceEnv{t: t, i: i}
	e.relay = startRelay(t, i.Dir, target, tc.faults)
	uri := tc.uri
	if uri == "" {
		uri = "xen+unix:///system?socket={sock}"
	}
	e.uri = strings.ReplaceAll(uri, "{sock}", e.relay.Sock)
	for name, content := range traceFixtures() {
		if err := os.WriteFile(e.path(name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	switch tc.scenario {
	case "", "test":
		e.do("define {test.xml}", "start test")
	case "xen":
		e.do("define {xenvm1.xml}", "start xenvm1")
	}
	e.do(tc.setup...)

	var out string
	var code int
	if tc.console {
		out, code = e.console(tc.args)
	} else {
		out, code = e.virsh(tc, e.expand(tc.args))
	}
	got := virshtrace.TrimTrailingEmpty(strings.Split(strings.TrimRight(out, "\n"), "\n"))
	if out == "" {
		got = nil
	}
	pkts := e.relay.Packets()

	wantCode := -1
	if tr != nil {
		wantCode = tr.Code
	}
	if tc.code != nil {
		wantCode = *tc.code
	}
	if code != wantCode {
		t.Errorf("exit code %d, want %d", code, wantCode)
	}

	// Both sides' paths and URIs become placeholders.
	var refPairs, ourPairs []string
	if tr != nil {
		if m := traceURIRE.FindStringSubmatch(tr.Command); m != nil {
			refPairs = append(refPairs, m[1], "<uri>")
		}
	}
	ourPairs = append(ourPairs, e.uri, "<uri>")
	for name, p := range traceFiles {
		refPairs = append(refPairs, p, "<"+name+">")
		ourPairs = append(ourPairs, e.path(name), "<"+name+">")
	}
	masks := compileAll(t, tc.mask)
	ours := normaliseLines(got, replacer(ourPairs), masks, compileAll(t, tc.dropOurs))
	var ref []string
	switch {
	case tc.want != nil:
		ref = tc.want
	case tr != nil:
		ref = normaliseLines(tr.Out, replacer(refPairs), masks, compileAll(t, tc.dropRef))
	}

	switch {
	case tc.root != "" || tc.xmlDepth > 0:
		compareXML(t, tc, tr, got, refPairs)
	case tc.blocks:
		compareBlocks(t, ref, ours, tc.blockMask)
	case tc.console:
		if len(ours) < len(ref) || !equalLines(ours[:len(ref)], ref) {
			t.Errorf("virsh console printed:\n%s\nwant it to begin with:\n%s", strings.Join(ours, "\n"), strings.Join(ref, "\n"))
		}
	default:
		if !equalLines(ref, ours) {
			t.Errorf("output differs from the trace's:\n%s\nwant:\n%s", lineDiff(ref, ours), strings.Join(ref, "\n"))
		}
	}
	joined := strings.Join(normaliseLines(got, replacer(ourPairs), nil, nil), "\n")
	if tc.root != "" || tc.xmlDepth > 0 {
		joined = strings.Join(got, "\n")
	}
	for _, re := range tc.expect {
		if !regexp.MustCompile(re).MatchString(joined) {
			t.Errorf("output lacks /%s/:\n%s", re, joined)
		}
	}

	// The calls virsh made, and the error codes of the replies.
	wantCalls := tc.wantCalls
	if tr != nil {
		wantCalls = virshtrace.CallTokens(tr.Packets)
		for k := 0; k+1 < len(tc.calls); k += 2 {
			if !strings.Contains(wantCalls, tc.calls[k]) {
				t.Errorf("the trace's calls lack %q (a stale edit): %s", tc.calls[k], wantCalls)
			}
			wantCalls = strings.Replace(wantCalls, tc.calls[k], tc.calls[k+1], 1)
		}
	}
	if gotCalls := virshtrace.CallTokens(pkts); gotCalls != wantCalls {
		t.Errorf("virsh's calls (procedure!error code):\n  got  %s\n  want %s", gotCalls, wantCalls)
	}
	if tc.keepalive > 0 {
		pingCS, pongSC, pingSC, pongCS := virshtrace.KeepaliveCounts(pkts)
		if pingCS+pingSC < tc.keepalive || pongSC < pingCS-1 || pongCS < pingSC-1 {
			t.Errorf("keepalive: virsh pinged %d times and got %d pongs; the daemon pinged %d times and got %d pongs; want %d pings, each answered",
				pingCS, pongSC, pingSC, pongCS, tc.keepalive)
		}
	}
	if tc.after != nil && !t.Failed() {
		tc.after(e)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("virsh %s printed (exit %d):\n%s", strings.Join(tc.args, " "), code, out)
		t.Logf("calls: %s", virshtrace.CallTokens(pkts))
		if tc.keepalive > 0 {
			pingCS, pongSC, pingSC, pongCS := virshtrace.KeepaliveCounts(pkts)
			t.Logf("keepalive: virsh pinged %d times, %d pongs; the daemon pinged %d times, %d pongs", pingCS, pongSC, pingSC, pongCS)
		}
	}
	if t.Failed() {
		if tc.why != "" {
			t.Logf("accepted differences: %s", tc.why)
		}
		t.Logf("daemon log:\n%s", tail(i.Log(), 20))
	}
}

// virsh runs the traced command through the relay; combined output (one pipe, as the traces captured it).
func (e *traceEnv) virsh(tc traceCase, args []string) (string, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), tc.idle+90*time.Second)
	defer cancel()
	full := append(append(append([]string{}, tc.opts...), "-c", e.uri), args...)
	cmd := exec.CommandContext(ctx, "/usr/bin/virsh", full...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LIBVIRT_DEFAULT_URI=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	var stdin io.WriteCloser
	if tc.idle > 0 {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	if stdin != nil {
		go func() {
			time.Sleep(tc.idle)
			_, _ = io.WriteString(stdin, "list --all\n")
			stdin.Close()
		}()
	}
	if tc.during != nil {
		tc.during(e)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return out.String(), ee.ExitCode()
	default:
		e.t.Fatalf("virsh %v: %v\n%s", args, err, out.String())
		return "", -1
	}
}

// console runs virsh console under script(1), which gives it a terminal, waits for the guest's login prompt and
// leaves with Ctrl-].
func (e *traceEnv) console(args []string) (string, int) {
	e.t.Helper()
	needTool(e.t, "/usr/bin/script")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	line := fmt.Sprintf("/usr/bin/virsh -c '%s' %s", e.uri, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "/usr/bin/script", "-qefc", line, "/dev/null")
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LIBVIRT_DEFAULT_URI=", "TERM=dumb")
	in, err := cmd.StdinPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "login: ") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "login: ") {
		e.t.Errorf("no login prompt from the guest on the console:\n%s", out.String())
	}
	_, _ = in.Write([]byte{0x1d}) // Ctrl-]
	err = cmd.Wait()
	in.Close()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("virsh console: %v\n%s", err, out.String())
	}
	return strings.ReplaceAll(out.String(), "\r", ""), code
}

func compileAll(t *testing.T, res []string) []*regexp.Regexp {
	t.Helper()
	var out []*regexp.Regexp
	for _, re := range res {
		out = append(out, regexp.MustCompile(re))
	}
	return out
}

// replacer replaces each old string of pairs by its new one, longest first.
func replacer(pairs []string) *strings.Replacer {
	type pair struct{ old, new string }
	var ps []pair
	for k := 0; k+1 < len(pairs); k += 2 {
		if pairs[k] != "" {
			ps = append(ps, pair{pairs[k], pairs[k+1]})
		}
	}
	sort.SliceStable(ps, func(a, b int) bool { return len(ps[a].old) > len(ps[b].old) })
	var flat []string
	for _, p := range ps {
		flat = append(flat, p.old, p.new)
	}
	return strings.NewReplacer(flat...)
}

// normaliseLines gives the shape of virsh's output: placeholders for paths and URIs, runs of blanks as one space
// (virsh aligns columns to the longest value), rules of dashes as "---", masked values as "*", dropped lines out.
func normaliseLines(lines []string, r *strings.Replacer, masks, drops []*regexp.Regexp) []string {
	out := []string{}
next:
	for _, l := range lines {
		l = strings.Join(strings.Fields(r.Replace(strings.TrimRight(l, "\r"))), " ")
		if l != "" && strings.Trim(l, "-") == "" {
			l = "---"
		}
		for _, m := range masks {
			if ix := m.FindStringSubmatchIndex(l); ix != nil && len(ix) >= 4 && ix[2] >= 0 {
				l = l[:ix[2]] + "*" + l[ix[3]:]
			}
		}
		for _, d := range drops {
			if d.MatchString(l) {
				continue next
			}
		}
		out = append(out, l)
	}
	return virshtrace.TrimTrailingEmpty(out)
}

func equalLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// isSubsequence reports whether every line of want appears in got, in order.
func isSubsequence(want, got []string) bool {
	k := 0
	for _, g := range got {
		if k < len(want) && g == want[k] {
			k++
		}
	}
	return k == len(want)
}

// lineDiff marks the lines of got that differ from want ("-" want, "+" got), aligned by position.
func lineDiff(want, got []string) string {
	var b strings.Builder
	n := max(len(want), len(got))
	for k := 0; k < n; k++ {
		var w, g string
		if k < len(want) {
			w = want[k]
		}
		if k < len(got) {
			g = got[k]
		}
		switch {
		case k >= len(want):
			fmt.Fprintf(&b, "+ %s\n", g)
		case k >= len(got):
			fmt.Fprintf(&b, "- %s\n", w)
		case w == g:
			fmt.Fprintf(&b, "  %s\n", g)
		default:
			fmt.Fprintf(&b, "- %s\n+ %s\n", w, g)
		}
	}
	return b.String()
}

// xmlPaths lists the element paths of an XML document down to depth, consecutive repeats once. A document cut
// short (the traces keep 25 lines) yields the paths before the cut; complete is false then, or when it does not
// parse.
func xmlPaths(doc string, depth int) (paths []string, root string, complete bool) {
	d := xml.NewDecoder(strings.NewReader(doc))
	var stack []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return paths, root, len(stack) == 0 && root != ""
		}
		if err != nil {
			return paths, root, false
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
			}
			stack = append(stack, el.Name.Local)
			if len(stack) <= depth {
				p := strings.Join(stack, "/")
				if len(paths) == 0 || paths[len(paths)-1] != p {
					paths = append(paths, p)
				}
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
}

// compareXML checks that ours is a whole document with the expected root, and that the trace's element paths
// (less the dropped ones) appear in order among ours.
func compareXML(t *testing.T, tc traceCase, tr *virshtrace.Trace, got []string, refPairs []string) {
	t.Helper()
	depth := tc.xmlDepth
	if depth == 0 {
		depth = 1
	}
	ours, root, complete := xmlPaths(strings.Join(got, "\n"), depth)
	if !complete || (tc.root != "" && root != tc.root) {
		t.Errorf("output is not a whole <%s> document (root %q, complete %v)", tc.root, root, complete)
	}
	if tc.xmlDepth == 0 || tr == nil || tc.want != nil {
		return
	}
	ref, _, _ := xmlPaths(strings.Join(tr.Out, "\n"), depth)
	drops := compileAll(t, tc.dropRef)
	var keep []string
next:
	for _, p := range ref {
		for _, d := range drops {
			if d.MatchString(p) {
				continue next
			}
		}
		keep = append(keep, p)
	}
	if len(keep) == 0 && len(drops) == 0 {
		t.Fatalf("no XML in the trace's output")
	}
	if !isSubsequence(keep, ours) {
		t.Errorf("XML structure differs: the trace's elements (in order)\n  %s\nare not all among ours\n  %s",
			strings.Join(keep, " "), strings.Join(ours, " "))
	}
}

// compareBlocks compares domstats output per domain: each of the trace's "Domain: 'name'" blocks must exist in
// ours, with the trace's lines in order among its lines.
func compareBlocks(t *testing.T, ref, ours []string, masks map[string]string) {
	t.Helper()
	split := func(lines []string) (map[string][]string, []string) {
		blocks := map[string][]string{}
		var order []string
		cur := ""
		for _, l := range lines {
			if strings.HasPrefix(l, "Domain: ") {
				cur = l
				order = append(order, l)
				continue
			}
			if l != "" && cur != "" {
				if m, ok := masks[cur[len("Domain: '"):len(cur)-1]]; ok {
					l = normaliseLines([]string{l}, strings.NewReplacer(), compileAll(t, []string{m}), nil)[0]
				}
				blocks[cur] = append(blocks[cur], l)
			}
		}
		return blocks, order
	}
	rb, rorder := split(ref)
	ob, oorder := split(ours)
	if len(rorder) == 0 {
		t.Fatalf("no domains in the trace's domstats")
	}
	for _, name := range rorder {
		lines, ok := ob[name]
		if !ok {
			t.Errorf("domstats lacks %s (ours: %v)", name, oorder)
			continue
		}
		if !isSubsequence(rb[name], lines) {
			t.Errorf("%s: domstats lacks the trace's lines in order:\n%s\nwant (in order):\n%s", name,
				strings.Join(lines, "\n"), strings.Join(rb[name], "\n"))
		}
	}
	for _, name := range oorder {
		if _, ok := rb[name]; !ok && name != "Domain: 'Domain-0'" {
			t.Errorf("domstats has a domain the trace lacks: %s", name)
		}
	}
}
