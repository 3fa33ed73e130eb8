//go:build fleet

package controllers

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl/sim"
	"github.com/virtxend/virtxend/test/testenv"
)

// The reconciler against a real API server (envtest: kube-apiserver and etcd from hack/fleet/control-plane.sh),
// wired as fleet mode wires it: a manager's cache as the source of objects, the same Setup as local mode. Run by
// make test-fleet (go test -tags fleet).

// apiEnv is one reconciler on a simulated host against the API server.
type apiEnv struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
	c      client.Client // the test's own client, straight to the API server
	host   *sim.Host
	done   chan struct{}
}

func startAPIServer(t *testing.T) *envtest.Environment {
	t.Helper()
	logf.SetLogger(logr.Discard())
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		testenv.Missing(t, "the fleet control plane (KUBEBUILDER_ASSETS)", "make test-fleet")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets,
		CRDDirectoryPaths: []string{filepath.Join("..", "config", "crd")}, ErrorIfCRDPathMissing: true}
	if _, err := env.Start(); err != nil {
		t.Fatalf("start the API server: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return env
}

// runReconciler runs a reconciler for node on host, as fleet mode does, until the test ends or stop is called.
func runReconciler(t *testing.T, env *envtest.Environment, host *sim.Host, node string) (stop func()) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	log := testLogger()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: scheme, Logger: log,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), log))
	obs := NewObserver(host, time.Hour, log)
	evlog := NewEventLog()
	evlog.SetRecorder(mgr.GetEventRecorder("virtxend"))
	rec := &XenDomainReconciler{Client: mgr.GetClient(), HV: host, Observer: obs, Build: testBuilder(), Events: evlog,
		Opts: Options{BackoffBase: 50 * time.Millisecond}}
	c, err := rec.Setup(source.Kind(mgr.GetCache(), &v1alpha1.XenDomain{},
		&handler.TypedEnqueueRequestForObject[*v1alpha1.XenDomain]{}, Predicate()), log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 3)
	go func() { _ = mgr.Start(ctx); done <- struct{}{} }()
	go func() { _ = obs.Run(ctx); done <- struct{}{} }()
	go func() {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			_ = c.Start(ctx)
		}
		done <- struct{}{}
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		for range 3 {
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func newAPIEnv(t *testing.T, env *envtest.Environment) *apiEnv {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	host, err := sim.New(sim.Options{StateDir: t.TempDir(), ShutdownDelay: -1, BootID: "test-boot"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &apiEnv{t: t, ctx: ctx, cancel: cancel, c: c, host: host}
}

func (e *apiEnv) waitFor(name, what string, cond func(*v1alpha1.XenDomain) bool) *v1alpha1.XenDomain {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		d := &v1alpha1.XenDomain{}
		err := e.c.Get(e.ctx, types.NamespacedName{Namespace: "default", Name: name}, d)
		if cond(d) && (err == nil || apierrors.IsNotFound(err)) {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: timed out waiting for %s; last: %+v, action %+v (err %v)", name, what, d.Status, d.Status.LastAction, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fleetDomain(name, uuid string, rs v1alpha1.RunStrategy) *v1alpha1.XenDomain {
	d := pvDomain(name, rs)
	d.UID, d.Labels, d.Namespace = "", nil, "default"
	d.Spec.NodeName = "node-1"
	d.Spec.Domain.UUID = uuid
	return d
}

func TestFleetReconcilerOnAPIServer(t *testing.T) {
	env := startAPIServer(t)
	e := newAPIEnv(t, env)
	stop := runReconciler(t, env, e.host, "node-1")

	t.Run("status through the subresource", func(t *testing.T) {
		e.t = t
		if err := e.c.Create(e.ctx, fleetDomain("always", "", v1alpha1.RunStrategyAlways)); err != nil {
			t.Fatal(err)
		}
		d := e.waitFor("always", "running, observed", func(d *v1alpha1.XenDomain) bool {
			return d.Status.State == v1alpha1.StateRunning && d.Status.ObservedGeneration == d.Generation &&
				condIs(d, v1alpha1.ConditionReady, metav1.ConditionTrue, "")
		})
		if !hasFinalizer(d) || d.Status.DomID == nil {
			t.Errorf("finalizer %v, domid %v", d.Finalizers, d.Status.DomID)
		}
		if d.Status.UUID == "" || d.Status.UUID != d.DomainUUID() {
			t.Errorf("status uuid %q, domain uuid %q (from metadata.uid %s)", d.Status.UUID, d.DomainUUID(), d.UID)
		}
	})

	t.Run("actions", func(t *testing.T) {
		e.t = t
		if err := e.c.Create(e.ctx, fleetDomain("manual", "", v1alpha1.RunStrategyManual)); err != nil {
			t.Fatal(err)
		}
		e.waitFor("manual", "shutoff", func(d *v1alpha1.XenDomain) bool { return d.Status.State == v1alpha1.StateShutoff })
		for _, verb := range []v1alpha1.ActionVerb{v1alpha1.VerbStart, v1alpha1.VerbDestroy} {
			d := &v1alpha1.XenDomain{}
			if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: "default", Name: "manual"}, d); err != nil {
				t.Fatal(err)
			}
			base := d.DeepCopy()
			d.Spec.Action = &v1alpha1.DomainAction{ID: string(verb), Verb: verb}
			if err := e.c.Patch(e.ctx, d, client.MergeFrom(base)); err != nil {
				t.Fatal(err)
			}
			e.waitFor("manual", string(verb), func(d *v1alpha1.XenDomain) bool {
				return d.Status.LastAction != nil && d.Status.LastAction.ID == string(verb) && d.Status.LastAction.Error == ""
			})
		}
	})

	t.Run("deletion goes through the finalizer", func(t *testing.T) {
		e.t = t
		d := e.waitFor("always", "running", func(d *v1alpha1.XenDomain) bool { return d.Status.State == v1alpha1.StateRunning })
		if err := e.c.Delete(e.ctx, d); err != nil {
			t.Fatal(err)
		}
		e.waitFor("always", "gone", func(d *v1alpha1.XenDomain) bool { return d.Name == "" })
		if n := len(domainsNamedOn(t, e.host, "always")); n != 0 {
			t.Errorf("%d domains named always remain on the host", n)
		}
	})

	t.Run("identity is the domain UUID, not metadata.uid", func(t *testing.T) {
		e.t = t
		const id = "5e0b3c9a-1d2f-4e6a-8b7c-0a1b2c3d4e5f"
		if err := e.c.Create(e.ctx, fleetDomain("keep", id, v1alpha1.RunStrategyAlways)); err != nil {
			t.Fatal(err)
		}
		first := e.waitFor("keep", "running", func(d *v1alpha1.XenDomain) bool { return d.Status.State == v1alpha1.StateRunning })
		stop() // the daemon goes away; its guest stays
		// The object is re-created (a new metadata.uid) while no reconciler runs.
		base := first.DeepCopy()
		first.Finalizers = nil
		if err := e.c.Patch(e.ctx, first, client.MergeFrom(base)); err != nil {
			t.Fatal(err)
		}
		if err := e.c.Delete(e.ctx, first); err != nil {
			t.Fatal(err)
		}
		e.waitFor("keep", "gone", func(d *v1alpha1.XenDomain) bool { return d.Name == "" })
		if err := e.c.Create(e.ctx, fleetDomain("keep", id, v1alpha1.RunStrategyAlways)); err != nil {
			t.Fatal(err)
		}
		runReconciler(t, env, e.host, "node-1")
		again := e.waitFor("keep", "adopted", func(d *v1alpha1.XenDomain) bool {
			return d.Status.State == v1alpha1.StateRunning && d.Status.ObservedGeneration == d.Generation
		})
		if again.UID == first.UID {
			t.Fatal("the object was not re-created")
		}
		if *again.Status.DomID != *first.Status.DomID {
			t.Errorf("domid %d, was %d: the guest was started again instead of adopted", *again.Status.DomID, *first.Status.DomID)
		}
		if n := len(domainsNamedOn(t, e.host, "keep")); n != 1 {
			t.Errorf("%d domains named keep on the host, want 1", n)
		}
	})
}

func domainsNamedOn(t *testing.T, host *sim.Host, name string) []string {
	t.Helper()
	all, err := host.ListDomains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range all {
		if d.Name == name {
			out = append(out, d.UUID)
		}
	}
	return out
}
