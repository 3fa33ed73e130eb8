package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/virtxend/virtxend/api/domxml"
)

// lifecycleXML is a small PV guest as a user writes it for virsh define or create.
func lifecycleXML(name, uuid string) string {
	return fmt.Sprintf(`<domain type='xen'>
  <name>%s</name>
  <uuid>%s</uuid>
  <title>a test guest</title>
  <memory unit='MiB'>64</memory>
  <vcpu>2</vcpu>
  <os>
    <type>linux</type>
    <kernel>/boot/vmlinuz</kernel>
    <cmdline>console=hvc0</cmdline>
  </os>
  <on_reboot>restart</on_reboot>
</domain>
`, name, uuid)
}

// xmlFile writes content to a file in the instance's directory and returns its path.
func (i *instance) xmlFile(name, content string) string {
	i.t.Helper()
	p := filepath.Join(i.Dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		i.t.Fatal(err)
	}
	return p
}

// domstate is what virsh domstate prints.
func (i *instance) domstate(name string) string {
	i.t.Helper()
	return strings.TrimSpace(i.MustVirsh("domstate", name))
}

// wantVirshError runs virsh, which must fail with exit code 1 and print each of wants on stderr.
func (i *instance) wantVirshError(args []string, wants ...string) {
	i.t.Helper()
	r := i.Virsh(args...)
	if r.Code != 1 {
		i.t.Errorf("virsh %s: exit %d, want 1\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
		return
	}
	for _, w := range wants {
		if !strings.Contains(r.Stderr, w) {
			i.t.Errorf("virsh %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, r.Stderr)
		}
	}
}

func TestVirshDefineStartStopUndefine(t *testing.T) {
	i := startInstance(t)
	const uuid = "2a7bd3a5-3c2d-4f1e-9b55-0a1b2c3d4e5f"
	in := lifecycleXML("vm1", uuid)
	file := i.xmlFile("vm1.xml", in)
	if out := i.MustVirsh("define", file); !strings.Contains(out, "Domain 'vm1' defined from "+file) {
		t.Fatalf("define: %q", out)
	}
	if _, err := os.Stat(filepath.Join(i.DefinesDir, "vm1.xml")); err != nil {
		t.Fatalf("define did not persist: %v", err)
	}

	// dumpxml gives back the definition, completed with libvirt's defaults.
	want, err := domxml.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if err := domxml.ApplyDefaults(want, domxml.Defaults{HostArch: "x86_64"}); err != nil {
		t.Fatal(err)
	}
	dump := i.MustVirsh("dumpxml", "vm1")
	got, err := domxml.Parse([]byte(dump))
	if err != nil {
		t.Fatalf("dumpxml does not parse: %v\n%s", err, dump)
	}
	if !equality.Semantic.DeepEqual(want, got) {
		t.Fatalf("dumpxml differs from the definition:\n%s\nwant the meaning of:\n%s", dump, in)
	}

	// The read-only socket shows the XML, but not its secrets.
	if r := run(t, "/usr/bin/virsh", "-r", "-c", i.RO(), "dumpxml", "vm1"); r.Code != 0 || !strings.Contains(r.Stdout, "<name>vm1</name>") {
		t.Errorf("read-only dumpxml: %+v", r)
	}
	if r := run(t, "/usr/bin/virsh", "-r", "-c", i.RO(), "dumpxml", "--security-info", "vm1"); r.Code != 1 ||
		!strings.Contains(r.Stderr, "operation forbidden: virDomainGetXMLDesc with secure flag") {
		t.Errorf("read-only dumpxml --security-info: %+v", r)
	}

	if out := i.MustVirsh("start", "vm1"); !strings.Contains(out, "Domain 'vm1' started") {
		t.Fatalf("start: %q", out)
	}
	info := i.MustVirsh("dominfo", "vm1")
	for _, w := range []string{"State:          running", "Persistent:     yes", "Autostart:      disable", "CPU(s):         2"} {
		if !strings.Contains(info, w) {
			t.Errorf("dominfo lacks %q:\n%s", w, info)
		}
	}
	id := strings.TrimSpace(i.MustVirsh("domid", "vm1"))
	if live := i.MustVirsh("dumpxml", "vm1"); !strings.Contains(live, "<domain type='xen' id='"+id+"'>") {
		t.Errorf("live dumpxml lacks id %s:\n%s", id, live)
	}
	if inactive := i.MustVirsh("dumpxml", "--inactive", "vm1"); strings.Contains(inactive, " id=") {
		t.Errorf("dumpxml --inactive has an id:\n%s", inactive)
	}
	i.wantVirshError([]string{"start", "vm1"}, "is already active")

	if out := i.MustVirsh("suspend", "vm1"); !strings.Contains(out, "Domain 'vm1' suspended") {
		t.Fatalf("suspend: %q", out)
	}
	if st := i.domstate("vm1"); st != "paused" {
		t.Fatalf("after suspend: %q", st)
	}
	if out := i.MustVirsh("resume", "vm1"); !strings.Contains(out, "Domain 'vm1' resumed") {
		t.Fatalf("resume: %q", out)
	}
	if st := i.domstate("vm1"); st != "running" {
		t.Fatalf("after resume: %q", st)
	}

	if out := i.MustVirsh("reboot", "vm1"); !strings.Contains(out, "Domain 'vm1' is being rebooted") {
		t.Fatalf("reboot: %q", out)
	}
	i.Eventually("vm1 back with a new id", 10*time.Second, func() bool {
		r := i.Virsh("domid", "vm1")
		now := strings.TrimSpace(r.Stdout)
		return r.Code == 0 && now != id && now != "-"
	})

	if out := i.MustVirsh("shutdown", "vm1"); !strings.Contains(out, "Domain 'vm1' is being shutdown") {
		t.Fatalf("shutdown: %q", out)
	}
	i.Eventually("vm1 shut off", 10*time.Second, func() bool { return i.domstate("vm1") == "shut off" })
	i.wantVirshError([]string{"shutdown", "vm1"}, "Requested operation is not valid: domain is not running")
	i.wantVirshError([]string{"suspend", "vm1"}, "Requested operation is not valid: domain is not running")

	i.MustVirsh("start", "vm1")
	if out := i.MustVirsh("destroy", "vm1"); !strings.Contains(out, "Domain 'vm1' destroyed") {
		t.Fatalf("destroy: %q", out)
	}
	if st := i.domstate("vm1"); st != "shut off" {
		t.Fatalf("after destroy: %q", st)
	}
	if out := i.MustVirsh("undefine", "vm1"); !strings.Contains(out, "Domain 'vm1' has been undefined") {
		t.Fatalf("undefine: %q", out)
	}
	if out := i.MustVirsh("list", "--all"); strings.Contains(out, "vm1") {
		t.Fatalf("vm1 still listed:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(i.DefinesDir, "vm1.xml")); !os.IsNotExist(err) {
		t.Fatalf("definition survived undefine: %v", err)
	}
}

func TestVirshCreateTransient(t *testing.T) {
	i := startInstance(t)
	file := i.xmlFile("tmp.xml", lifecycleXML("tmp", "7ed46df3-8497-4323-a9bc-0f4442b2d579"))
	if out := i.MustVirsh("create", file); !strings.Contains(out, "Domain 'tmp' created from "+file) {
		t.Fatalf("create: %q", out)
	}
	info := i.MustVirsh("dominfo", "tmp")
	if !strings.Contains(info, "Persistent:     no") || !strings.Contains(info, "State:          running") {
		t.Fatalf("dominfo of a created domain:\n%s", info)
	}
	if _, err := os.Stat(filepath.Join(i.DefinesDir, "tmp.xml")); !os.IsNotExist(err) {
		t.Fatalf("a transient domain was persisted: %v", err)
	}
	i.wantVirshError([]string{"autostart", "tmp"}, "cannot set autostart for transient domain")
	if out := i.MustVirsh("destroy", "tmp"); !strings.Contains(out, "Domain 'tmp' destroyed") {
		t.Fatalf("destroy: %q", out)
	}
	if out := i.MustVirsh("list", "--all"); strings.Contains(out, "tmp") {
		t.Fatalf("the destroyed transient domain is still listed:\n%s", out)
	}
	i.wantVirshError([]string{"domstate", "tmp"}, "failed to get domain 'tmp'")
}

func TestVirshAutostart(t *testing.T) {
	i := startInstance(t)
	i.MustVirsh("define", i.xmlFile("auto.xml", lifecycleXML("auto", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0")))
	if out := i.MustVirsh("autostart", "auto"); !strings.Contains(out, "Domain 'auto' marked as autostarted") {
		t.Fatalf("autostart: %q", out)
	}
	link := filepath.Join(i.DefinesDir, "autostart", "auto.xml")
	target, err := os.Readlink(link)
	if err != nil || target != filepath.Join(i.DefinesDir, "auto.xml") {
		t.Fatalf("autostart link: %q, %v", target, err)
	}
	if !strings.Contains(i.MustVirsh("dominfo", "auto"), "Autostart:      enable") {
		t.Fatal("dominfo does not show autostart")
	}
	if out := i.MustVirsh("list", "--all", "--autostart", "--name"); strings.TrimSpace(out) != "auto" {
		t.Fatalf("list --autostart: %q", out)
	}
	if out := i.MustVirsh("autostart", "--disable", "auto"); !strings.Contains(out, "Domain 'auto' unmarked as autostarted") {
		t.Fatalf("autostart --disable: %q", out)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatalf("autostart link survived --disable: %v", err)
	}
	i.wantVirshError([]string{"autostart", "Domain-0"}, "Requested operation is not valid: Domain-0 does not support requested operation")
}

func TestVirshLifecycleErrors(t *testing.T) {
	i := startInstance(t)
	i.wantVirshError([]string{"start", "nosuch"}, "failed to get domain 'nosuch'")
	i.wantVirshError([]string{"destroy", "Domain-0"}, "Requested operation is not valid: Domain-0 does not support requested operation")
	i.wantVirshError([]string{"define", i.xmlFile("bad.xml", "<domain type='xen'>\n  <name>bad</name>\n  <memory>8\n</domain>\n")},
		"Failed to define domain from", "(domain_definition)")
	i.wantVirshError([]string{"define", i.xmlFile("kvm.xml", strings.Replace(lifecycleXML("k", "11111111-2222-3333-4444-555555555555"), "type='xen'", "type='kvm'", 1))},
		"unsupported configuration")
	i.MustVirsh("define", i.xmlFile("one.xml", lifecycleXML("one", "11111111-2222-3333-4444-555555555555")))
	i.wantVirshError([]string{"define", i.xmlFile("two.xml", lifecycleXML("two", "11111111-2222-3333-4444-555555555555"))},
		"operation failed: domain 'one' is already defined with uuid 11111111-2222-3333-4444-555555555555")

	// A drop-in domain refuses configuration edits, naming its file, and takes lifecycle requests.
	i.WriteSpec("web.yaml", pvSpec("web", 64, "Manual"))
	i.Eventually("web listed", 10*time.Second, func() bool { return i.Virsh("domstate", "web").Code == 0 })
	file := filepath.Join(i.DomainsDir, "web.yaml")
	msg := "Requested operation is not valid: domain 'web' is defined by " + file + ": edit that file instead"
	i.wantVirshError([]string{"undefine", "web"}, msg)
	i.wantVirshError([]string{"autostart", "web"}, msg)
	i.wantVirshError([]string{"desc", "web", "--title", "--config", "new title"}, msg)
	i.MustVirsh("start", "web")
	i.MustVirsh("suspend", "web")
	i.MustVirsh("resume", "web")
	i.MustVirsh("destroy", "web")
}

func TestVirshMetadata(t *testing.T) {
	i := startInstance(t)
	i.MustVirsh("define", i.xmlFile("md.xml", lifecycleXML("md", "99999999-2222-3333-4444-555555555555")))
	if out := strings.TrimSpace(i.MustVirsh("desc", "md", "--title")); out != "a test guest" {
		t.Fatalf("title: %q", out)
	}
	i.MustVirsh("desc", "md", "--title", "--config", "renamed")
	i.MustVirsh("desc", "md", "--config", "a longer description")
	if out := strings.TrimSpace(i.MustVirsh("desc", "md", "--title")); out != "renamed" {
		t.Fatalf("title after desc --title: %q", out)
	}
	if out := strings.TrimSpace(i.MustVirsh("desc", "md")); out != "a longer description" {
		t.Fatalf("description: %q", out)
	}
	i.MustVirsh("metadata", "md", "http://example.org/app", "--key", "app", "--set", "<settings level='3'/>", "--config")
	out := i.MustVirsh("metadata", "md", "http://example.org/app")
	if !strings.Contains(out, `<app:settings xmlns:app="http://example.org/app" level="3"/>`) {
		t.Fatalf("metadata: %q", out)
	}
	i.wantVirshError([]string{"metadata", "md", "http://example.org/none"}, "metadata not found")
	b, err := os.ReadFile(filepath.Join(i.DefinesDir, "md.xml"))
	if err != nil || !strings.Contains(string(b), "<title>renamed</title>") || !strings.Contains(string(b), "app:settings") {
		t.Fatalf("persisted definition: %v\n%s", err, b)
	}
}

// consoleSession is virsh console run under script(1), which gives it the terminal it insists on.
type consoleSession struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (i *instance) console(name string) *consoleSession {
	i.t.Helper()
	needTool(i.t, "/usr/bin/virsh")
	needTool(i.t, "/usr/bin/script")
	cmd := exec.Command("/usr/bin/script", "-qfc", fmt.Sprintf("/usr/bin/virsh -c '%s' console %s", i.URI(), name), "/dev/null")
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LIBVIRT_DEFAULT_URI=", "TERM=dumb")
	in, err := cmd.StdinPipe()
	if err != nil {
		i.t.Fatal(err)
	}
	s := &consoleSession{cmd: cmd, in: in, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s, s
	if err := cmd.Start(); err != nil {
		i.t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	i.t.Cleanup(func() {
		in.Close()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// Write collects what virsh console prints.
func (s *consoleSession) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

func (s *consoleSession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func (s *consoleSession) exited(limit time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(limit):
		return false
	}
}

func TestVirshConsole(t *testing.T) {
	i := startInstance(t)
	i.MustVirsh("define", i.xmlFile("con.xml", lifecycleXML("con", "5a5e0000-0000-4000-8000-000000000001")))
	i.MustVirsh("start", "con")

	a := i.console("con")
	i.Eventually("the guest's banner on the console", 15*time.Second, func() bool {
		o := a.output()
		return strings.Contains(o, "Connected to domain 'con'") && strings.Contains(o, "con login: ")
	})
	if _, err := a.in.Write([]byte("root\r")); err != nil {
		t.Fatal(err)
	}
	i.Eventually("the guest's echo", 10*time.Second, func() bool { return strings.Contains(a.output(), "root") })

	b := i.console("con")
	if !b.exited(15 * time.Second) {
		t.Fatalf("a second console session did not give up:\n%s", b.output())
	}
	if !strings.Contains(b.output(), "Active console session exists for this domain") {
		t.Errorf("second session:\n%s", b.output())
	}

	if _, err := a.in.Write([]byte{0x1d}); err != nil { // Ctrl-]
		t.Fatal(err)
	}
	if !a.exited(10 * time.Second) {
		t.Fatalf("virsh console did not exit on Ctrl-]:\n%s", a.output())
	}

	c := i.console("con") // the console is free again
	i.Eventually("a new session", 15*time.Second, func() bool { return strings.Contains(c.output(), "Connected to domain 'con'") })
	if _, err := c.in.Write([]byte("again\r")); err != nil {
		t.Fatal(err)
	}
	i.Eventually("the echo on the new session", 10*time.Second, func() bool { return strings.Contains(c.output(), "again") })
	if _, err := c.in.Write([]byte{0x1d}); err != nil {
		t.Fatal(err)
	}
	if !c.exited(10 * time.Second) {
		t.Fatalf("virsh console did not exit on Ctrl-]:\n%s", c.output())
	}
}
