package remote

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
	"github.com/virtxend/virtxend/libxl/sim"
)

// lcXML is a small PV guest as virsh define hands it over.
func lcXML(name, uuid string, memMiB int) string {
	u := ""
	if uuid != "" {
		u = "\n  <uuid>" + uuid + "</uuid>"
	}
	return fmt.Sprintf(`<domain type='xen'>
  <name>%s</name>%s
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os>
    <type>linux</type>
    <kernel>/boot/vmlinuz</kernel>
  </os>
</domain>
`, name, u, memMiB)
}

// lcState is the domain's libvirt state.
func (e *txEnv) lcState(d libvirt.Domain) int32 {
	e.t.Helper()
	st, _, err := e.L.DomainGetState(d, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func TestLifecycleDefineStartSuspendStop(t *testing.T) {
	e := newTxEnv(t)
	d, err := e.L.DomainDefineXML(lcXML("web", "", 128))
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != -1 || d.Name != "web" {
		t.Fatalf("defined domain %+v", d)
	}
	if _, err := os.Stat(filepath.Join(e.Defines.Dir(), "web.xml")); err != nil {
		t.Fatalf("definition not persisted: %v", err)
	}
	if p, _ := e.L.DomainIsPersistent(d); p != 1 {
		t.Fatal("defined domain is not persistent")
	}
	if err := e.L.DomainCreate(d); err != nil {
		t.Fatal(err)
	}
	d, _ = e.L.DomainLookupByName("web")
	if d.ID <= 0 || e.lcState(d) != stateRunning {
		t.Fatalf("after start: %+v state %d", d, e.lcState(d))
	}
	txWantErr(t, e.L.DomainCreate(d), libvirt.ErrOperationInvalid, "Domain is already running")

	for i := 0; i < 2; i++ { // the second suspend finds it paused already: a no-op, as in libvirt
		if err := e.L.DomainSuspend(d); err != nil {
			t.Fatal(err)
		}
		if st := e.lcState(d); st != statePaused {
			t.Fatalf("after suspend: state %d", st)
		}
	}
	for i := 0; i < 2; i++ {
		if err := e.L.DomainResume(d); err != nil {
			t.Fatal(err)
		}
		if st := e.lcState(d); st != stateRunning {
			t.Fatalf("after resume: state %d", st)
		}
	}

	old := d.ID
	if err := e.L.DomainReboot(d, 0); err != nil {
		t.Fatal(err)
	}
	e.eventually("a rebooted domain with a new domid", func() bool {
		n, err := e.L.DomainLookupByName("web")
		return err == nil && n.ID > 0 && n.ID != old
	})

	if err := e.L.DomainShutdown(d); err != nil {
		t.Fatal(err)
	}
	e.eventually("web shut off", func() bool { return e.lcState(d) == stateShutoff })
	txWantErr(t, e.L.DomainShutdown(d), libvirt.ErrOperationInvalid, "domain is not running")
	txWantErr(t, e.L.DomainDestroy(d), libvirt.ErrOperationInvalid, "domain is not running")
	txWantErr(t, e.L.DomainSuspend(d), libvirt.ErrOperationInvalid, "domain is not running")

	if _, err := e.L.DomainCreateWithFlags(d, startPaused); err != nil {
		t.Fatal(err)
	}
	if st := e.lcState(d); st != statePaused {
		t.Fatalf("START_PAUSED: state %d", st)
	}
	if err := e.L.DomainDestroy(d); err != nil {
		t.Fatal(err)
	}
	if st, r, _ := e.L.DomainGetState(d, 0); st != stateShutoff || r != 2 {
		t.Fatalf("after destroy: state %d reason %d, want shutoff/destroyed", st, r)
	}
	if err := e.L.DomainCreate(d); err != nil { // a start after a paused run boots running
		t.Fatal(err)
	}
	if st := e.lcState(d); st != stateRunning {
		t.Fatalf("start after a paused run: state %d", st)
	}
	if err := e.L.DomainDestroyFlags(d, 1); err == nil {
		t.Fatal("destroy with an unsupported flag succeeded")
	}
	if err := e.L.DomainReset(d, 0); err != nil {
		t.Fatal(err)
	}
	if st := e.lcState(d); st != stateRunning {
		t.Fatalf("after reset: state %d", st)
	}

	// Undefining the running domain leaves it running, transient.
	if err := e.L.DomainUndefineFlags(d, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.Defines.Dir(), "web.xml")); !os.IsNotExist(err) {
		t.Fatalf("definition still there after undefine: %v", err)
	}
	if p, _ := e.L.DomainIsPersistent(d); p != 0 {
		t.Fatal("undefined running domain is still persistent")
	}
	if err := e.L.DomainDestroy(d); err != nil {
		t.Fatal(err)
	}
	e.eventually("the transient domain to go", func() bool {
		_, err := e.L.DomainLookupByName("web")
		return err != nil
	})
}

func TestLifecycleErrors(t *testing.T) {
	e := newTxEnv(t)
	dom0, err := e.L.DomainLookupByID(0)
	if err != nil {
		t.Fatal(err)
	}
	const dom0Msg = "Domain-0 does not support requested operation"
	txWantErr(t, e.L.DomainSuspend(dom0), libvirt.ErrOperationInvalid, dom0Msg)
	txWantErr(t, e.L.DomainResume(dom0), libvirt.ErrOperationInvalid, dom0Msg)
	txWantErr(t, e.L.DomainShutdown(dom0), libvirt.ErrOperationInvalid, dom0Msg)
	txWantErr(t, e.L.DomainReboot(dom0, 0), libvirt.ErrOperationInvalid, dom0Msg)
	txWantErr(t, e.L.DomainDestroy(dom0), libvirt.ErrOperationInvalid, dom0Msg)
	txWantErr(t, e.L.DomainSetAutostart(dom0, 1), libvirt.ErrOperationInvalid, dom0Msg)
	txWantErr(t, e.L.DomainCreate(dom0), libvirt.ErrOperationInvalid, "Domain is already running")

	ghost := libvirt.Domain{Name: "ghost", UUID: wireUUID("6695eb01-f6a4-8304-79aa-97f2502e193f"), ID: -1}
	txWantErr(t, e.L.DomainCreate(ghost), libvirt.ErrNoDomain, "no domain with matching uuid '6695eb01-f6a4-8304-79aa-97f2502e193f' (ghost)")

	// A file domain takes actions, not edits.
	web := e.add("web", v1alpha1.SourceKindFile, true)
	txWantErr(t, e.L.DomainUndefine(web), libvirt.ErrOperationInvalid, "domain 'web' is defined by /etc/virtxend/domains.d/web.yaml: edit that file instead")
	txWantErr(t, e.L.DomainSetAutostart(web, 1), libvirt.ErrOperationInvalid, "edit that file instead")
	if _, err := e.L.DomainDefineXML(lcXML("web", uuidString(web.UUID), 64)); err == nil {
		t.Fatal("define over a file domain succeeded")
	} else {
		txWantErr(t, err, libvirt.ErrOperationInvalid, "/etc/virtxend/domains.d/web.yaml")
	}
	if err := e.L.DomainSuspend(web); err != nil {
		t.Fatal(err)
	}
	if err := e.L.DomainResume(web); err != nil {
		t.Fatal(err)
	}
}

func TestDefineIdentityAndXMLErrors(t *testing.T) {
	e := newTxEnv(t)
	const u = "2a7bd3a5-3c2d-4f1e-9b55-0a1b2c3d4e5f"
	if _, err := e.L.DomainDefineXML(lcXML("vm1", u, 64)); err != nil {
		t.Fatal(err)
	}
	_, err := e.L.DomainDefineXML(lcXML("vm2", u, 64))
	txWantErr(t, err, libvirt.ErrOperationFailed, "domain 'vm1' is already defined with uuid "+u)
	_, err = e.L.DomainDefineXML(lcXML("vm1", "", 64))
	txWantErr(t, err, libvirt.ErrOperationFailed, "domain 'vm1' already exists with uuid "+u)
	_, err = e.L.DomainCreateXML(lcXML("vm1", "", 64), 0)
	txWantErr(t, err, libvirt.ErrOperationFailed, "domain 'vm1' already exists with uuid "+u)

	// Redefining updates the definition (and the file).
	if _, err := e.L.DomainDefineXML(lcXML("vm1", u, 96)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(e.Defines.Dir(), "vm1.xml"))
	if err != nil || !strings.Contains(string(b), "<memory unit='KiB'>98304</memory>") {
		t.Fatalf("redefined file: %v\n%s", err, b)
	}

	_, err = e.L.DomainDefineXML("<domain type='xen'><name>x</name>")
	txWantErr(t, err, libvirt.ErrXMLDetail, "(domain_definition)")
	_, err = e.L.DomainDefineXML("<domain type='xen'><memory>1024</memory><os><type>linux</type></os></domain>")
	txWantErr(t, err, libvirt.ErrNoName, "missing name information")
	_, err = e.L.DomainDefineXML("<domain type='kvm'><name>k</name><memory>1024</memory><os><type>hvm</type></os></domain>")
	txWantErr(t, err, libvirt.ErrConfigUnsupported, "kvm")
	if _, err := e.L.DomainDefineXMLFlags(lcXML("vm3", "", 64), 4); err == nil {
		t.Fatal("define with an unknown flag succeeded")
	}
}

func TestTransientDomain(t *testing.T) {
	e := newTxEnv(t)
	d, err := e.L.DomainCreateXML(lcXML("tmp", "", 64), libvirt.DomainStartPaused)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID <= 0 || e.lcState(d) != statePaused {
		t.Fatalf("created %+v state %d", d, e.lcState(d))
	}
	if p, _ := e.L.DomainIsPersistent(d); p != 0 {
		t.Fatal("created domain is persistent")
	}
	txWantErr(t, e.L.DomainUndefine(d), libvirt.ErrOperationInvalid, "cannot undefine transient domain")
	txWantErr(t, e.L.DomainSetAutostart(d, 1), libvirt.ErrOperationInvalid, "cannot set autostart for transient domain")
	_, err = e.L.DomainCreateXML(lcXML("tmp", uuidString(d.UUID), 64), 0)
	txWantErr(t, err, libvirt.ErrOperationInvalid, "domain 'tmp' is already active")
	if err := e.L.DomainDestroy(d); err != nil {
		t.Fatal(err)
	}
	e.eventually("the transient domain to go", func() bool { return e.get("tmp") == nil })

	// A start that fails leaves nothing behind.
	_, err = e.L.DomainCreateXML(lcXML("huge", "", 64<<10), 0)
	if err == nil {
		t.Fatal("a domain larger than the host started")
	}
	e.eventually("the failed domain to go", func() bool { return e.get("huge") == nil })

	// Defining a running transient domain makes it persistent.
	d, err = e.L.DomainCreateXML(lcXML("tmp2", "", 64), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.L.DomainDefineXML(lcXML("tmp2", uuidString(d.UUID), 64)); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.L.DomainIsPersistent(d); p != 1 {
		t.Fatal("defined transient domain is not persistent")
	}
	if err := e.L.DomainDestroy(d); err != nil {
		t.Fatal(err)
	}
	if o := e.get("tmp2"); o == nil {
		t.Fatal("a persistent domain vanished when it stopped")
	}
}

func TestAutostart(t *testing.T) {
	e := newTxEnv(t)
	d, err := e.L.DomainDefineXML(lcXML("auto", "", 64))
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(e.Defines.Dir(), "autostart", "auto.xml")
	for _, on := range []int32{1, 1, 0, 0} {
		if err := e.L.DomainSetAutostart(d, on); err != nil {
			t.Fatal(err)
		}
		got, err := e.L.DomainGetAutostart(d)
		if err != nil || got != on {
			t.Fatalf("autostart %d: got %d, %v", on, got, err)
		}
		_, serr := os.Lstat(link)
		if (serr == nil) != (on == 1) {
			t.Fatalf("autostart %d: link %v", on, serr)
		}
	}
	if err := e.L.DomainSetAutostart(d, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.L.DomainUndefine(d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatalf("autostart link survived undefine: %v", err)
	}
}

// TestConcurrentActionsQueue: two lifecycle calls on one domain at once both complete, one after the other, as
// libvirt's job lock orders them; neither overwrites the other's action.
func TestConcurrentActionsQueue(t *testing.T) {
	e := newTxEnv(t)
	d := e.add("q", "define", true)
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- e.L.DomainReset(d, 0) }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// slowCreate is a hypervisor whose domain creation takes delay, as libxl's does on a slow host (device model
// and hotplug scripts).
type slowCreate struct {
	*sim.Host
	delay time.Duration
}

func (s slowCreate) CreateDomain(ctx context.Context, cfg *libxl.DomainConfig, opts libxl.CreateOptions) (libxl.DomID, error) {
	time.Sleep(s.delay)
	return s.Host.CreateDomain(ctx, cfg, opts)
}

// TestStartOutlastsTheTurnTimeout: the call's 30 s (here Timeout) bound the wait for the domain's turn, as
// libvirt's job wait does, not the operation itself: a start that takes longer returns once the domain runs, for
// a define (virsh start) and a transient domain (virsh create) alike. OperationTimeout still bounds the wait.
func TestStartOutlastsTheTurnTimeout(t *testing.T) {
	const delay = 600 * time.Millisecond
	slow := func(h *sim.Host) libxl.Hypervisor { return slowCreate{h, delay} }
	e := newTxEnvWith(t, t.TempDir(), slow, func(f *Facade) { f.Timeout = delay / 4 })
	d, err := e.L.DomainDefineXMLFlags(lcXML("slow", "", 64), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.L.DomainCreate(d); err != nil {
		t.Fatalf("virsh start of a domain whose creation outlasts Timeout: %v", err)
	}
	if st := e.lcState(d); st != stateRunning {
		t.Errorf("state %d after start, want running", st)
	}
	tr, err := e.L.DomainCreateXML(lcXML("slowtr", "", 64), 0)
	if err != nil {
		t.Fatalf("virsh create of a domain whose creation outlasts Timeout: %v", err)
	}
	if st := e.lcState(tr); st != stateRunning {
		t.Errorf("transient state %d after create, want running", st)
	}

	e = newTxEnvWith(t, t.TempDir(), slow, func(f *Facade) { f.Timeout, f.OperationTimeout = delay/4, delay/4 })
	_, err = e.L.DomainCreateXML(lcXML("slowtr", "", 64), 0)
	txWantErr(t, err, libvirt.ErrOperationTimeout, "did not finish the operation in time")
}

// diesAtBoot is a host whose guests crash before their creation returns, and whose event stream loses the
// shutdown (as on real Xen, where a guest that triple-faults at once may be down before libxl watches it).
type diesAtBoot struct{ *sim.Host }

func (d diesAtBoot) CreateDomain(ctx context.Context, cfg *libxl.DomainConfig, opts libxl.CreateOptions) (libxl.DomID, error) {
	id, err := d.Host.CreateDomain(ctx, cfg, opts)
	if err == nil {
		err = d.Host.InjectCrash(id)
	}
	return id, err
}

func (d diesAtBoot) Events(ctx context.Context) (<-chan libxl.Event, error) {
	in, err := d.Host.Events(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan libxl.Event)
	go func() {
		defer close(out)
		for ev := range in {
			if ev.Type != libxl.EventShutdown {
				out <- ev
			}
		}
	}()
	return out, nil
}

// TestCrashBeforeStartReturns: a guest that is already down when its creation returns gets its on_crash
// (destroy) like any other, though no event reports its shutdown: the reconciler recorded that state itself.
func TestCrashBeforeStartReturns(t *testing.T) {
	e := newTxEnvWith(t, t.TempDir(), func(h *sim.Host) libxl.Hypervisor { return diesAtBoot{h} }, nil)
	d, err := e.L.DomainDefineXMLFlags(lcXML("dies", "", 64), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.L.DomainCreate(d); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, reason, err := e.L.DomainGetState(d, 0)
		if err != nil {
			t.Fatal(err)
		}
		if st == stateShutoff {
			if reason != 3 { // VIR_DOMAIN_SHUTOFF_CRASHED
				t.Errorf("shut off with reason %d, want crashed (3)", reason)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %d (reason %d) 10 s after a guest crashed at boot: its on_crash was never applied", st, reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
