package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/store"
	"github.com/virtxend/virtxend/libxl"
	"github.com/virtxend/virtxend/libxl/sim"
)

// env is a reconciler running against a simulated host and an in-memory store, as in the daemon.
type env struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
	store  *store.Store
	host   *sim.Host
	obs    *Observer
	rec    *XenDomainReconciler
	events <-chan LifecycleEvent
	done   chan struct{}
}

func testLogger() logr.Logger {
	if os.Getenv("VIRTXEND_TEST_LOG") != "" {
		return logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-2)}))
	}
	return logr.Discard()
}

func testBuilder() ConfigBuilder {
	facts := libxl.DefaultHostFacts()
	facts.CheckEmulator = func(string) error { return nil }
	facts.GraphicsPorts = libxl.NewPortRange(5900, 6000, func(int) bool { return true })
	return LibxlBuilder(facts)
}

// newEnv starts a reconciler over a fresh store and the simulated host in stateDir (a new one when empty).
func newEnv(t *testing.T, stateDir string, opts Options) *env {
	t.Helper()
	if stateDir == "" {
		stateDir = t.TempDir()
	}
	host, err := sim.New(sim.Options{StateDir: stateDir, ShutdownDelay: -1, BootID: "test-boot"})
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, host, opts)
}

// newEnvOn starts a reconciler on host; live, when given, is its live-definition store (a restarted daemon's).
func newEnvOn(t *testing.T, host *sim.Host, opts Options, live ...LiveStore) *env {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(scheme, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger()
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), log))
	e := &env{t: t, ctx: ctx, cancel: cancel, store: st, host: host, done: make(chan struct{})}
	e.obs = NewObserver(host, time.Hour, log)
	evlog := NewEventLog()
	e.events, _ = evlog.Subscribe(1000)
	if opts.BackoffBase == 0 {
		opts.BackoffBase = 50 * time.Millisecond
	}
	e.rec = &XenDomainReconciler{Client: st, HV: host, Observer: e.obs, Build: testBuilder(), Events: evlog, Opts: opts}
	if len(live) > 0 {
		e.rec.Live = live[0]
	}
	c, err := e.rec.Setup(store.Kind(st, &v1alpha1.XenDomain{}, nil, Predicate()), log)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.obs.Run(ctx) }()
	go func() { defer close(e.done); _ = c.Start(ctx) }()
	t.Cleanup(e.stop)
	return e
}

// stop ends the reconciler, like a killed daemon: the simulated guests stay.
func (e *env) stop() {
	e.cancel()
	<-e.done
}

func (e *env) create(d *v1alpha1.XenDomain) *v1alpha1.XenDomain {
	e.t.Helper()
	if d.Namespace == "" {
		d.Namespace = v1alpha1.LocalNamespace
	}
	if err := e.store.Create(e.ctx, d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) get(name string) *v1alpha1.XenDomain {
	e.t.Helper()
	d := &v1alpha1.XenDomain{}
	if err := e.store.Get(e.ctx, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: name}, d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// update applies mutate to the stored object, retrying on conflicts with the reconciler's writes.
func (e *env) update(name string, mutate func(*v1alpha1.XenDomain)) {
	e.t.Helper()
	for i := 0; i < 100; i++ {
		d := e.get(name)
		mutate(d)
		err := e.store.Update(e.ctx, d)
		if err == nil {
			return
		}
		if !isConflict(err) {
			e.t.Fatal(err)
		}
	}
	e.t.Fatalf("update %s: too many conflicts", name)
}

// waitFor waits until cond holds for the named object, failing after a deadline.
func (e *env) waitFor(name, what string, cond func(*v1alpha1.XenDomain) bool) *v1alpha1.XenDomain {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := &v1alpha1.XenDomain{}
		err := e.store.Get(e.ctx, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: name}, d)
		if err == nil && cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: timed out waiting for %s; last: %+v (err %v)", name, what, d.Status, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) waitState(name string, state v1alpha1.DomainState) *v1alpha1.XenDomain {
	e.t.Helper()
	return e.waitFor(name, "state "+string(state), func(d *v1alpha1.XenDomain) bool {
		return d.Status.State == state && d.Status.ObservedGeneration == d.Generation
	})
}

// domainsNamed lists the simulated domains carrying name.
func (e *env) domainsNamed(name string) []libxl.DomainInfo {
	e.t.Helper()
	all, err := e.host.ListDomains(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []libxl.DomainInfo
	for _, d := range all {
		if d.Name == name {
			out = append(out, d)
		}
	}
	return out
}

func condition(d *v1alpha1.XenDomain, t string) *metav1.Condition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func condIs(d *v1alpha1.XenDomain, t string, s metav1.ConditionStatus, reason string) bool {
	c := condition(d, t)
	return c != nil && c.Status == s && (reason == "" || c.Reason == reason)
}

// pvDomain returns a small PV domain object.
func pvDomain(name string, rs v1alpha1.RunStrategy) *v1alpha1.XenDomain {
	vcpus := uint32(2)
	return &v1alpha1.XenDomain{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012x", hash(name))),
			Labels: map[string]string{v1alpha1.LabelSource: v1alpha1.SourceKindFile},
		},
		Spec: v1alpha1.XenDomainSpec{
			RunStrategy: rs,
			DriftPolicy: v1alpha1.DriftPolicyEnforce,
			Domain: v1alpha1.DomainSpec{
				Memory: resource.MustParse("256Mi"),
				VCPU:   &v1alpha1.VCPU{Count: 4, Current: &vcpus},
				OS:     v1alpha1.OS{Type: "xen", Kernel: "/boot/vmlinuz"},
			},
		},
	}
}

func hash(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h & 0xffffffffffff
}

func isConflict(err error) bool { return apierrors.IsConflict(err) }
