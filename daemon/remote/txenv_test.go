package remote

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/defines"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/daemon/store"
	"github.com/virtxend/virtxend/libxl"
	"github.com/virtxend/virtxend/libxl/sim"
)

// txEnv is the facade with the reconciler, over a simulated host, as daemon.wire builds them; go-libvirt talks
// to it over a Unix socket. The tuning, statistics, save and device tests share it.
type txEnv struct {
	t       testing.TB
	ctx     context.Context
	HV      *sim.Host
	Store   *store.Store
	Facade  *Facade
	Defines *defines.Store
	L       *libvirt.Libvirt
	// Sock is the facade's socket, for tests that need more clients (dial).
	Sock string
}

// newTxEnv starts a facade and a reconciler over an 8-cpu simulated host.
func newTxEnv(t testing.TB) *txEnv {
	t.Helper()
	return newTxEnvIn(t, t.TempDir())
}

// newTxEnvIn is newTxEnv with the persistent definitions in definesDir.
func newTxEnvIn(t testing.TB, definesDir string) *txEnv {
	t.Helper()
	return newTxEnvWith(t, definesDir, nil, nil)
}

// newTxEnvWith is newTxEnvIn with the reconciler's hypervisor port made by wrap from the simulated host (nil:
// the host itself), and the facade's settings changed by tune before it serves (nil: none).
func newTxEnvWith(t testing.TB, definesDir string, wrap func(*sim.Host) libxl.Hypervisor, tune func(*Facade)) *txEnv {
	t.Helper()
	hv, err := sim.New(sim.Options{StateDir: t.TempDir(), BootID: "boot-1", TotalMemKiB: 8 << 20, Dom0MemKiB: 1 << 20,
		CPUs: 8, Nodes: 1, ShutdownDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hv.Close() })
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(scheme, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	facts := libxl.DefaultHostFacts()
	facts.NUMANodes, facts.MaxCPUs = 1, 8
	facts.CheckEmulator = func(string) error { return nil }
	ctx, cancel := context.WithCancel(context.Background())
	log := logr.Discard()
	if os.Getenv("VIRTXEND_TEST_LOG") != "" {
		log = logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-2)}))
	}
	obs := controllers.NewObserver(hv, time.Hour, log)
	events := controllers.NewEventLog()
	live := controllers.NewMemLiveStore()
	var port libxl.Hypervisor = hv
	if wrap != nil {
		port = wrap(hv)
	}
	rec := &controllers.XenDomainReconciler{Client: st, HV: port, Observer: obs, Events: events, Live: live,
		Build: controllers.LibxlBuilder(facts)}
	c, err := rec.Setup(store.Kind(st, &v1alpha1.XenDomain{}, nil, controllers.Predicate()), log)
	if err != nil {
		t.Fatal(err)
	}
	defs := defines.New(definesDir, defines.Options{Log: logr.Discard(), Defaults: domxml.Defaults{HostArch: "x86_64"}})
	f := &Facade{Store: st, Observer: obs, HV: hv, Events: events, Defines: defs, Facts: facts, Log: logr.Discard(), Live: live,
		StateDir: t.TempDir(), Timeout: 10 * time.Second}
	if tune != nil {
		tune(f)
	}
	prog := rpc.NewRemoteProgram(f.SupportsFeature)
	f.Register(prog)
	srv := rpc.NewServer(rpc.Options{Name: "test"}, prog)
	sock := filepath.Join(t.TempDir(), "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 3)
	go func() { _ = obs.Run(ctx); done <- struct{}{} }()
	go func() { _ = c.Start(ctx); done <- struct{}{} }()
	go func() { _ = srv.Serve(ctx, ln, rpc.ListenerOpts{}); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		for range 3 {
			<-done
		}
	})
	<-obs.Synced()
	e := &txEnv{t: t, ctx: ctx, HV: hv, Store: st, Facade: f, Defines: defs, Sock: sock}
	e.L = e.dial()
	return e
}

// dial opens one more client connection to the facade, closed at the end of the test.
func (e *txEnv) dial() *libvirt.Libvirt {
	e.t.Helper()
	nc, err := net.DialTimeout("unix", e.Sock, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(nc))
	if err := l.ConnectToURI("xen:///system"); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = l.Disconnect() })
	return l
}

// txSpec is a small PV definition with 2 of 4 vcpus online, as the defines store would load it.
func txSpec(name string) *v1alpha1.DomainSpec {
	spec := &v1alpha1.DomainSpec{
		Name: name, Memory: resource.MustParse("512Mi"),
		VCPU: &v1alpha1.VCPU{Count: 4, Current: ptr(uint32(2))},
		OS:   v1alpha1.OS{Type: "xen", Kernel: "/boot/vmlinuz"},
	}
	if err := domxml.ApplyDefaults(spec, domxml.Defaults{HostArch: "x86_64"}); err != nil {
		panic(err)
	}
	return spec
}

// add creates a domain of the given source kind ("define", "file" or "transient"), running when run is set,
// and returns its wire form.
func (e *txEnv) add(name, kind string, run bool) libvirt.Domain {
	e.t.Helper()
	return e.addWith(name, kind, run, nil)
}

// addWith is add with a definition that edit changed, completed again with libvirt's defaults.
func (e *txEnv) addWith(name, kind string, run bool, edit func(*v1alpha1.DomainSpec)) libvirt.Domain {
	e.t.Helper()
	spec := txSpec(name)
	if edit != nil {
		edit(spec)
		if err := domxml.ApplyDefaults(spec, domxml.Defaults{HostArch: "x86_64"}); err != nil {
			e.t.Fatal(err)
		}
	}
	var obj *v1alpha1.XenDomain
	if kind == v1alpha1.SourceKindDefine {
		if err := e.Defines.Save(spec); err != nil {
			e.t.Fatal(err)
		}
		obj = e.Defines.Object(spec)
	} else {
		obj = &v1alpha1.XenDomain{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v1alpha1.LocalNamespace, UID: types.UID(spec.UUID),
				Labels: map[string]string{v1alpha1.LabelSource: kind}},
			Spec: v1alpha1.XenDomainSpec{Domain: *spec, RunStrategy: v1alpha1.RunStrategyManual, DriftPolicy: v1alpha1.DriftPolicyEnforce},
		}
		if kind == v1alpha1.SourceKindFile {
			obj.Annotations = map[string]string{v1alpha1.AnnotationSource: "file:/etc/virtxend/domains.d/" + name + ".yaml"}
		}
	}
	if run {
		obj.Spec.Action = &v1alpha1.DomainAction{ID: "start-" + name, Verb: v1alpha1.VerbStart}
	}
	if err := e.Store.Create(e.ctx, obj); err != nil {
		e.t.Fatal(err)
	}
	e.eventually(name+" reconciled", func() bool {
		o := e.get(name)
		return o != nil && o.Status.ObservedGeneration == o.Generation && (!run || o.Status.State == v1alpha1.StateRunning)
	})
	d, err := e.L.DomainLookupByName(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// get reads the object named name, or nil.
func (e *txEnv) get(name string) *v1alpha1.XenDomain {
	o := &v1alpha1.XenDomain{}
	if err := e.Store.Get(e.ctx, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: name}, o); err != nil {
		return nil
	}
	return o
}

// info is what the simulated host says of the running domain named name.
func (e *txEnv) info(name string) libxl.DomainInfo {
	e.t.Helper()
	all, err := e.HV.ListDomains(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, i := range all {
		if i.Name == name {
			return i
		}
	}
	e.t.Fatalf("domain %s is not running", name)
	return libxl.DomainInfo{}
}

func (e *txEnv) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// txWantErr checks that err is the libvirt error code whose message contains msg.
func txWantErr(t *testing.T, err error, code libvirt.ErrorNumber, msg string) {
	t.Helper()
	var le libvirt.Error
	if !errors.As(err, &le) {
		t.Fatalf("got %v (%T), want libvirt error %d %q", err, err, code, msg)
	}
	if libvirt.ErrorNumber(le.Code) != code || !strings.Contains(le.Message, msg) {
		t.Fatalf("got error %d %q, want %d containing %q", le.Code, le.Message, code, msg)
	}
}
