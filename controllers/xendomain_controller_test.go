package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

func TestAlwaysStartsAndMarks(t *testing.T) {
	e := newEnv(t, "", Options{})
	e.create(pvDomain("web", v1alpha1.RunStrategyAlways))
	d := e.waitState("web", v1alpha1.StateRunning)
	if d.Status.Reason != "booted" || d.Status.DomID == nil || *d.Status.DomID == 0 {
		t.Fatalf("status = %+v, want running/booted with a domid", d.Status)
	}
	if !condIs(d, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonRunning) ||
		!condIs(d, v1alpha1.ConditionDegraded, metav1.ConditionFalse, "") {
		t.Fatalf("conditions = %+v", d.Status.Conditions)
	}
	id := libxl.DomID(*d.Status.DomID)
	b, err := e.host.Userdata(e.ctx, id, MarkerKey)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeMarker(b)
	if err != nil || m.UID != d.UID || m.Generation != d.Generation || m.SpecHash != SpecHash(&d.Spec.Domain) {
		t.Fatalf("marker = %+v (%v), want uid %s gen %d", m, err, d.UID, d.Generation)
	}
	info, _ := e.host.DomainInfo(e.ctx, id)
	if info.OnlineVcpus != 2 || info.MaxVcpus != 4 || info.TargetKiB != 256*1024 {
		t.Fatalf("domain = %+v, want 2/4 vcpus and 256 MiB", info)
	}
	ev := <-e.events
	if ev.Event != EventStarted || ev.Detail != DetailStartedBooted || ev.Name != "web" {
		t.Fatalf("event = %+v, want started/booted", ev)
	}
	if !hasFinalizer(d) {
		t.Fatal("no finalizer on a managed object")
	}
}

func TestRunStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy     v1alpha1.RunStrategy
		startRunning bool
		afterOff     v1alpha1.DomainState // after the guest powers itself off
		afterCrash   v1alpha1.DomainState // after the guest crashes
	}{
		{v1alpha1.RunStrategyAlways, true, v1alpha1.StateRunning, v1alpha1.StateRunning},
		{v1alpha1.RunStrategyRerunOnFailure, true, v1alpha1.StateShutoff, v1alpha1.StateRunning},
		{v1alpha1.RunStrategyManual, false, "", ""},
		{v1alpha1.RunStrategyHalted, false, "", ""},
	} {
		t.Run(string(tc.strategy), func(t *testing.T) {
			e := newEnv(t, "", Options{})
			e.create(pvDomain("g", tc.strategy))
			if !tc.startRunning {
				d := e.waitState("g", v1alpha1.StateShutoff)
				if len(e.domainsNamed("g")) != 0 {
					t.Fatalf("%s started a domain by itself", tc.strategy)
				}
				if !condIs(d, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonStopped) {
					t.Fatalf("conditions = %+v", d.Status.Conditions)
				}
				return
			}
			d := e.waitState("g", v1alpha1.StateRunning)
			first := *d.Status.DomID
			if err := e.host.ShutdownDomain(e.ctx, libxl.DomID(first)); err != nil {
				t.Fatal(err)
			}
			d = e.waitFor("g", "domain replaced or stopped", func(d *v1alpha1.XenDomain) bool {
				return d.Status.State == tc.afterOff && (d.Status.DomID == nil || *d.Status.DomID != first)
			})
			if tc.afterOff == v1alpha1.StateShutoff {
				if d.Status.Reason != "shutdown" {
					t.Fatalf("reason = %q, want shutdown", d.Status.Reason)
				}
				return
			}
			second := *d.Status.DomID
			if err := e.host.InjectCrash(libxl.DomID(second)); err != nil {
				t.Fatal(err)
			}
			e.waitFor("g", "restart after crash", func(d *v1alpha1.XenDomain) bool {
				return d.Status.State == tc.afterCrash && d.Status.DomID != nil && *d.Status.DomID != second
			})
			if n := len(e.domainsNamed("g")); n != 1 {
				t.Fatalf("%d domains named g, want 1", n)
			}
		})
	}
}

func TestLifecycleActions(t *testing.T) {
	e := newEnv(t, "", Options{})
	e.create(pvDomain("m", v1alpha1.RunStrategyManual))
	e.waitState("m", v1alpha1.StateShutoff)
	act := func(id string, verb v1alpha1.ActionVerb) *v1alpha1.ActionResult {
		e.update("m", func(d *v1alpha1.XenDomain) { d.Spec.Action = &v1alpha1.DomainAction{ID: id, Verb: verb} })
		return e.waitFor("m", "action "+id, func(d *v1alpha1.XenDomain) bool {
			return d.Status.LastAction != nil && d.Status.LastAction.ID == id
		}).Status.LastAction
	}
	if r := act("1", v1alpha1.VerbStart); r.Error != "" {
		t.Fatalf("start: %s", r.Error)
	}
	d := e.get("m")
	if d.Status.State != v1alpha1.StateRunning {
		t.Fatalf("after start: %s", d.Status.State)
	}
	if r := act("2", v1alpha1.VerbStart); !strings.Contains(r.Error, "already running") {
		t.Fatalf("second start: error %q, want already running", r.Error)
	}
	if r := act("3", v1alpha1.VerbShutdown); r.Error != "" {
		t.Fatalf("shutdown: %s", r.Error)
	}
	d = e.waitState("m", v1alpha1.StateShutoff)
	if d.Status.Reason != "shutdown" {
		t.Fatalf("reason after shutdown = %q", d.Status.Reason)
	}
	if r := act("4", v1alpha1.VerbDestroy); !strings.Contains(r.Error, "not running") {
		t.Fatalf("destroy of a stopped domain: error %q", r.Error)
	}
	act("5", v1alpha1.VerbStart)
	first := *e.get("m").Status.DomID
	if r := act("6", v1alpha1.VerbReset); r.Error != "" {
		t.Fatalf("reset: %s", r.Error)
	}
	if d := e.get("m"); d.Status.DomID == nil || *d.Status.DomID == first {
		t.Fatalf("reset kept domid %d", first)
	}
	if r := act("7", v1alpha1.VerbDestroy); r.Error != "" {
		t.Fatalf("destroy: %s", r.Error)
	}
	d = e.waitState("m", v1alpha1.StateShutoff)
	if d.Status.Reason != "destroyed" || len(e.domainsNamed("m")) != 0 {
		t.Fatalf("after destroy: %+v", d.Status)
	}
}

func TestCrashLoopBackoff(t *testing.T) {
	e := newEnv(t, "", Options{BackoffBase: 300 * time.Millisecond, StablePeriod: time.Hour})
	d := pvDomain("c", v1alpha1.RunStrategyAlways)
	d.Spec.Domain.OnCrash = v1alpha1.ActionRestart
	e.create(d)
	var last int32
	sawBackoff := false
	for i := 0; i < 3; i++ {
		d := e.waitFor("c", "running after crash", func(d *v1alpha1.XenDomain) bool {
			return d.Status.State == v1alpha1.StateRunning && *d.Status.DomID != last
		})
		last = *d.Status.DomID
		if err := e.host.InjectCrash(libxl.DomID(last)); err != nil {
			t.Fatal(err)
		}
		if i >= 1 {
			e.waitFor("c", "backoff", func(d *v1alpha1.XenDomain) bool {
				if condIs(d, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonCrashLoop) {
					sawBackoff = true
				}
				return sawBackoff || (d.Status.DomID != nil && *d.Status.DomID != last)
			})
		}
	}
	if !sawBackoff {
		t.Fatal("no CrashLoopBackOff condition during repeated crashes")
	}
	d = e.waitFor("c", "running after the last crash", func(d *v1alpha1.XenDomain) bool {
		return d.Status.State == v1alpha1.StateRunning && *d.Status.DomID != last
	})
	if d.Status.RestartCount < 3 {
		t.Fatalf("restartCount = %d, want ≥ 3", d.Status.RestartCount)
	}
}

func TestBackoffSchedule(t *testing.T) {
	r := &XenDomainReconciler{Opts: Options{BackoffBase: time.Second, BackoffMax: 10 * time.Second}}
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for n, w := range want {
		if got := r.backoff(int32(n)); got != w {
			t.Errorf("backoff(%d) = %v, want %v", n, got, w)
		}
	}
}

func TestDrift(t *testing.T) {
	for _, policy := range []v1alpha1.DriftPolicy{v1alpha1.DriftPolicyEnforce, v1alpha1.DriftPolicyReport} {
		t.Run(string(policy), func(t *testing.T) {
			e := newEnv(t, "", Options{})
			d := pvDomain("d", v1alpha1.RunStrategyAlways)
			d.Spec.DriftPolicy = policy
			e.create(d)
			id := libxl.DomID(*e.waitState("d", v1alpha1.StateRunning).Status.DomID)
			// Behind the daemon's back, as `xl mem-set`, `xl vcpu-set` and `xl pause` would.
			must(t, e.host.SetMemoryTarget(e.ctx, id, 128*1024))
			must(t, e.host.SetVcpusOnline(e.ctx, id, 1))
			must(t, e.host.PauseDomain(e.ctx, id))
			must(t, e.obs.Resync(e.ctx)) // what the periodic resync does
			if policy == v1alpha1.DriftPolicyReport {
				d := e.waitFor("d", "Drifted", func(d *v1alpha1.XenDomain) bool {
					return condIs(d, v1alpha1.ConditionDrifted, metav1.ConditionTrue, v1alpha1.ReasonDriftDetected)
				})
				msg := condition(d, v1alpha1.ConditionDrifted).Message
				for _, w := range []string{"memory target", "vcpus online", "paused"} {
					if !strings.Contains(msg, w) {
						t.Errorf("drift message %q lacks %q", msg, w)
					}
				}
				info, _ := e.host.DomainInfo(e.ctx, id)
				if info.TargetKiB != 128*1024 || info.State != libxl.StatePaused {
					t.Fatalf("Report changed the domain: %+v", info)
				}
				return
			}
			e.waitFor("d", "drift corrected", func(*v1alpha1.XenDomain) bool {
				info, _ := e.host.DomainInfo(e.ctx, id)
				return info.TargetKiB == 256*1024 && info.OnlineVcpus == 2 && info.State != libxl.StatePaused
			})
		})
	}
}

func TestLiveChanges(t *testing.T) {
	e := newEnv(t, "", Options{})
	e.create(pvDomain("l", v1alpha1.RunStrategyAlways))
	id := libxl.DomID(*e.waitState("l", v1alpha1.StateRunning).Status.DomID)
	e.update("l", func(d *v1alpha1.XenDomain) {
		q := resource.MustParse("192Mi")
		d.Spec.Domain.CurrentMemory = &q
		three := uint32(3)
		d.Spec.Domain.VCPU.Current = &three
		d.Spec.Paused = true
	})
	d := e.waitState("l", v1alpha1.StatePaused)
	info, _ := e.host.DomainInfo(e.ctx, id)
	if info.TargetKiB != 192*1024 || info.OnlineVcpus != 3 {
		t.Fatalf("live change not applied: %+v", info)
	}
	if d.Status.Reason != "user" || *d.Status.DomID != int32(id) {
		t.Fatalf("status = %+v", d.Status)
	}
	b, _ := e.host.Userdata(e.ctx, id, MarkerKey)
	if m, _ := decodeMarker(b); m.Generation != d.Generation {
		t.Fatalf("marker generation %d, object %d", m.Generation, d.Generation)
	}
	e.update("l", func(d *v1alpha1.XenDomain) { d.Spec.Paused = false })
	if d := e.waitState("l", v1alpha1.StateRunning); d.Status.Reason != "unpaused" {
		t.Fatalf("reason = %q, want unpaused", d.Status.Reason)
	}
}

func TestForeignDomainUntouched(t *testing.T) {
	e := newEnv(t, "", Options{})
	// A domain started with xl: no marker.
	cfg := &libxl.DomainConfig{CInfo: libxl.DomainCreateInfo{Type: libxl.DomainTypePV, Name: "web"},
		BInfo: libxl.DomainBuildInfo{MaxVcpus: 1, MaxMemkb: 65536, TargetMemkb: 65536}}
	foreign, err := e.host.CreateDomain(e.ctx, cfg, libxl.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	must(t, e.obs.Resync(e.ctx))
	e.create(pvDomain("web", v1alpha1.RunStrategyAlways))
	d := e.waitFor("web", "Degraded", func(d *v1alpha1.XenDomain) bool {
		return condIs(d, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonStartFailed)
	})
	if !strings.Contains(d.Status.LastError, "not manage") || d.Status.State != v1alpha1.StateShutoff {
		t.Fatalf("status = %+v", d.Status)
	}
	info, err := e.host.DomainInfo(e.ctx, foreign)
	if err != nil || info.State != libxl.StateRunning {
		t.Fatalf("foreign domain disturbed: %+v %v", info, err)
	}
	if _, err := e.host.Userdata(e.ctx, foreign, MarkerKey); err == nil {
		t.Fatal("foreign domain was marked")
	}
}

func TestInvalidSpecIsTerminal(t *testing.T) {
	e := newEnv(t, "", Options{})
	d := pvDomain("bad", v1alpha1.RunStrategyAlways)
	d.Spec.Domain.Devices.Disks = []v1alpha1.Disk{{Type: "file", Transient: true,
		Source: &v1alpha1.DiskSource{File: "/x.img"}, Target: v1alpha1.DiskTarget{Dev: "xvda", Bus: "xen"}}}
	e.create(d)
	d = e.waitFor("bad", "InvalidSpec", func(d *v1alpha1.XenDomain) bool {
		return condIs(d, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInvalidSpec)
	})
	if !strings.Contains(d.Status.LastError, "transient") || len(e.domainsNamed("bad")) != 0 {
		t.Fatalf("status = %+v", d.Status)
	}
}

func TestDeleteShutsDownThenReleases(t *testing.T) {
	e := newEnv(t, "", Options{})
	e.create(pvDomain("gone", v1alpha1.RunStrategyAlways))
	e.waitState("gone", v1alpha1.StateRunning)
	must(t, e.store.Delete(e.ctx, e.get("gone")))
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := e.store.Get(e.ctx, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: "gone"}, &v1alpha1.XenDomain{})
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("object not released after deletion")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(e.domainsNamed("gone")); n != 0 {
		t.Fatalf("%d domains left after deletion", n)
	}
}

func TestDeleteDestroysAfterTimeout(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir, Options{ShutdownTimeout: 200 * time.Millisecond})
	e.host.SetShutdownDelay(time.Hour) // a guest that ignores the request
	e.create(pvDomain("stubborn", v1alpha1.RunStrategyAlways))
	e.waitState("stubborn", v1alpha1.StateRunning)
	must(t, e.store.Delete(e.ctx, e.get("stubborn")))
	deadline := time.Now().Add(10 * time.Second)
	for len(e.domainsNamed("stubborn")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("domain not destroyed after the shutdown timeout")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHaltedStopsRunningDomain(t *testing.T) {
	e := newEnv(t, "", Options{})
	e.create(pvDomain("h", v1alpha1.RunStrategyAlways))
	e.waitState("h", v1alpha1.StateRunning)
	e.update("h", func(d *v1alpha1.XenDomain) { d.Spec.RunStrategy = v1alpha1.RunStrategyHalted })
	e.waitState("h", v1alpha1.StateShutoff)
	if len(e.domainsNamed("h")) != 0 {
		t.Fatal("Halted domain still exists")
	}
}

func TestUnknownIsNotAbsent(t *testing.T) {
	e := newEnv(t, "", Options{})
	// A reconciler whose observer has not listed the hypervisor yet must not act.
	r := &XenDomainReconciler{Client: e.store, HV: e.host, Observer: NewObserver(e.host, time.Hour, testLogger()),
		Build: testBuilder()}
	d := e.create(pvDomain("u", v1alpha1.RunStrategyHalted)) // Halted: the running reconciler leaves it alone
	res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: d.Namespace, Name: d.Name}})
	if err != nil || res.RequeueAfter == 0 {
		t.Fatalf("Reconcile before the first observation = %+v, %v; want a requeue", res, err)
	}
}

func TestAdoptionAfterRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir, Options{})
	names := []string{"a", "b", "c"}
	ids := map[string]int32{}
	obj := func(n string) *v1alpha1.XenDomain {
		d := pvDomain(n, v1alpha1.RunStrategyAlways)
		if n == "b" {
			d.Spec.DriftPolicy = v1alpha1.DriftPolicyReport // so that nobody un-pauses it
		}
		return d
	}
	for _, n := range names {
		e.create(obj(n))
	}
	for _, n := range names {
		ids[n] = *e.waitState(n, v1alpha1.StateRunning).Status.DomID
	}
	must(t, e.host.PauseDomain(e.ctx, libxl.DomID(ids["b"]))) // paused while the daemon is down
	e.stop()
	must(t, e.host.Close())

	e2 := newEnv(t, dir, Options{})
	for _, n := range names {
		b, err := e2.host.Userdata(e2.ctx, libxl.DomID(ids[n]), MarkerKey)
		if err != nil {
			t.Fatalf("marker of %s lost across the restart: %v", n, err)
		}
		if _, err := decodeMarker(b); err != nil {
			t.Fatalf("marker of %s: %v", n, err)
		}
	}
	for _, n := range names {
		e2.create(obj(n))
	}
	for _, n := range names {
		want := v1alpha1.StateRunning
		if n == "b" {
			want = v1alpha1.StatePaused
		}
		d := e2.waitState(n, want)
		if *d.Status.DomID != ids[n] || d.Status.Reason != "unknown" {
			t.Fatalf("%s after restart: %+v, want domid %d reason unknown", n, d.Status, ids[n])
		}
	}
	select {
	case ev := <-e2.events:
		t.Fatalf("adoption emitted %+v: reconnecting must be silent", ev)
	default:
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTransientForgottenWhenStopped(t *testing.T) {
	e := newEnv(t, "", Options{})
	d := pvDomain("tmp", v1alpha1.RunStrategyManual)
	d.Labels[v1alpha1.LabelSource] = v1alpha1.SourceKindTransient
	d.Spec.Action = &v1alpha1.DomainAction{ID: "create", Verb: v1alpha1.VerbStart}
	e.create(d)
	id := libxl.DomID(*e.waitState("tmp", v1alpha1.StateRunning).Status.DomID)
	must(t, e.host.ShutdownDomain(e.ctx, id)) // the guest powers off
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := e.store.Get(e.ctx, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: "tmp"}, &v1alpha1.XenDomain{})
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("transient object still there after its domain stopped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(e.domainsNamed("tmp")) != 0 {
		t.Fatal("transient domain left on the host")
	}
}

func TestDomainGoneBehindOurBack(t *testing.T) {
	for _, policy := range []v1alpha1.DriftPolicy{v1alpha1.DriftPolicyEnforce, v1alpha1.DriftPolicyReport} {
		t.Run(string(policy), func(t *testing.T) {
			e := newEnv(t, "", Options{})
			d := pvDomain("gone", v1alpha1.RunStrategyAlways)
			d.Spec.DriftPolicy = policy
			e.create(d)
			first := *e.waitState("gone", v1alpha1.StateRunning).Status.DomID
			must(t, e.host.DestroyDomain(e.ctx, libxl.DomID(first))) // xl destroy
			if policy == v1alpha1.DriftPolicyEnforce {
				e.waitFor("gone", "re-created", func(d *v1alpha1.XenDomain) bool {
					return d.Status.State == v1alpha1.StateRunning && *d.Status.DomID != first
				})
				return
			}
			d = e.waitFor("gone", "Drifted", func(d *v1alpha1.XenDomain) bool {
				return condIs(d, v1alpha1.ConditionDrifted, metav1.ConditionTrue, v1alpha1.ReasonDriftDetected)
			})
			if d.Status.State != v1alpha1.StateShutoff || d.Status.Reason != "destroyed" || len(e.domainsNamed("gone")) != 0 {
				t.Fatalf("Report re-created the domain or misreported it: %+v", d.Status)
			}
		})
	}
}

func TestSourceErrorIsDegraded(t *testing.T) {
	e := newEnv(t, "", Options{})
	e.create(pvDomain("src", v1alpha1.RunStrategyAlways))
	id := *e.waitState("src", v1alpha1.StateRunning).Status.DomID
	e.update("src", func(d *v1alpha1.XenDomain) {
		d.Annotations = map[string]string{v1alpha1.AnnotationSourceError: "web.yaml: line 3: bad indentation"}
	})
	d := e.waitFor("src", "SourceError", func(d *v1alpha1.XenDomain) bool {
		return condIs(d, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonSourceError)
	})
	if *d.Status.DomID != id || d.Status.State != v1alpha1.StateRunning {
		t.Fatalf("a source error disturbed the running domain: %+v", d.Status)
	}
}
