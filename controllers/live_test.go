package controllers

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/store"
	"github.com/virtxend/virtxend/libxl"
)

// TestDeclarativeSpecChange: a spec change of a drop-in object reaches the running domain where Xen allows it
// (memory, vcpus), and the rest is reported in RestartRequired until the next start.
func TestDeclarativeSpecChange(t *testing.T) {
	e := newEnv(t, "", Options{})
	e.create(pvDomain("f", v1alpha1.RunStrategyAlways))
	id := libxl.DomID(*e.waitState("f", v1alpha1.StateRunning).Status.DomID)
	e.update("f", func(d *v1alpha1.XenDomain) {
		q := resource.MustParse("200Mi")
		d.Spec.Domain.CurrentMemory = &q
		d.Spec.Domain.OS.Cmdline = "console=hvc0"
		d.Spec.Domain.OnReboot = v1alpha1.ActionDestroy
	})
	d := e.waitFor("f", "RestartRequired", func(d *v1alpha1.XenDomain) bool {
		return condIs(d, v1alpha1.ConditionRestartRequired, metav1.ConditionTrue, v1alpha1.ReasonPendingFields)
	})
	if msg := condition(d, v1alpha1.ConditionRestartRequired).Message; !strings.Contains(msg, "onReboot, os") {
		t.Errorf("RestartRequired message %q", msg)
	}
	if info, _ := e.host.DomainInfo(e.ctx, id); info.TargetKiB != 200*1024 {
		t.Errorf("memory not applied live: %+v", info)
	}
	if l := e.rec.Live.Live(d.DomainUUID()); l == nil || l.Domain.OS.Cmdline != "" || quantityKiB(*l.Domain.CurrentMemory) != 200*1024 {
		t.Errorf("live definition %+v", l)
	}
	// Undoing the change clears the condition.
	e.update("f", func(d *v1alpha1.XenDomain) { d.Spec.Domain.OS.Cmdline, d.Spec.Domain.OnReboot = "", "" })
	e.waitFor("f", "no RestartRequired", func(d *v1alpha1.XenDomain) bool {
		return condition(d, v1alpha1.ConditionRestartRequired) == nil
	})
}

// TestDefineSpecChangeWaits: the spec of a define is its persistent definition: a change does not reach the
// running domain, and the domain is not put back to it as drift.
func TestDefineSpecChangeWaits(t *testing.T) {
	e := newEnv(t, "", Options{})
	d := pvDomain("p", v1alpha1.RunStrategyManual)
	d.Labels[v1alpha1.LabelSource] = v1alpha1.SourceKindDefine
	d.Spec.Action = &v1alpha1.DomainAction{ID: "1", Verb: v1alpha1.VerbStart}
	e.create(d)
	id := libxl.DomID(*e.waitState("p", v1alpha1.StateRunning).Status.DomID)
	e.update("p", func(d *v1alpha1.XenDomain) {
		q := resource.MustParse("128Mi")
		d.Spec.Domain.Memory = q
	})
	e.waitFor("p", "RestartRequired", func(d *v1alpha1.XenDomain) bool {
		return condIs(d, v1alpha1.ConditionRestartRequired, metav1.ConditionTrue, v1alpha1.ReasonPendingFields) ||
			condition(d, v1alpha1.ConditionRestartRequired) == nil && d.Status.ObservedGeneration == d.Generation
	})
	must(t, e.obs.Resync(e.ctx))
	if info, _ := e.host.DomainInfo(e.ctx, id); info.MaxMemKiB != 256*1024 || info.TargetKiB != 256*1024 {
		t.Fatalf("a define's spec change reached the running domain: %+v", info)
	}
}

// TestAdoptOrphans: a running domain with the marker and no object (a transient one after a restart) gets a
// transient object from its live definition, unless its name is taken; nothing is stopped. Both ways of finding
// owners: a listing through the client, and the local store's UUID index (Owns, the daemon's local mode).
func TestAdoptOrphans(t *testing.T) {
	for _, indexed := range []bool{false, true} {
		t.Run(map[bool]string{false: "listed", true: "indexed"}[indexed], func(t *testing.T) { testAdoptOrphans(t, indexed) })
	}
}

func testAdoptOrphans(t *testing.T, indexed bool) {
	e := newEnv(t, "", Options{})
	tr := pvDomain("t", v1alpha1.RunStrategyManual)
	tr.Labels[v1alpha1.LabelSource] = v1alpha1.SourceKindTransient
	tr.Spec.Action = &v1alpha1.DomainAction{ID: "1", Verb: v1alpha1.VerbStart}
	e.create(tr)
	id := libxl.DomID(*e.waitState("t", v1alpha1.StateRunning).Status.DomID)
	live := e.rec.Live
	e.stop() // the daemon goes away...
	host := e.host

	e2 := newEnvOn(t, host, Options{}, live) // ...and a new one, whose store lost the transient object, starts
	<-e2.obs.Synced()
	a := &Adopter{Client: e2.store, Observer: e2.obs, Live: live, Log: testLogger()}
	if indexed {
		a.Owns = func(ns, uuid string) (bool, error) {
			return store.HasField[*v1alpha1.XenDomain](e2.store, ns, store.FieldDomainUUID, uuid)
		}
	}
	// Its name taken by another domain: left alone, listed, not adopted.
	other := pvDomain("t", v1alpha1.RunStrategyManual)
	other.UID, other.Spec.Domain.UUID = "0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a", "0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a"
	e2.create(other)
	must(t, a.Pass(e2.ctx))
	if d := e2.get("t"); d.UID == tr.UID || d.Spec.Domain.UUID != other.Spec.Domain.UUID {
		t.Fatalf("a domain whose name is taken replaced the object that has it: %+v", d.ObjectMeta)
	}
	if info, err := host.DomainInfo(e2.ctx, id); err != nil || info.State != libxl.StateRunning {
		t.Fatalf("the domain whose name is taken: %+v, %v; want it left running", info, err)
	}
	must(t, e2.store.Delete(e2.ctx, e2.get("t")))
	e2.waitGone("t", "the other domain's object was not removed")
	must(t, a.Pass(e2.ctx))
	d := e2.waitState("t", v1alpha1.StateRunning)
	if d.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindTransient || *d.Status.DomID != int32(id) || d.UID != tr.UID {
		t.Fatalf("adopted object %+v", d)
	}
	// A second pass changes nothing; destroying the domain removes the transient object and its live definition.
	must(t, a.Pass(e2.ctx))
	e2.update("t", func(d *v1alpha1.XenDomain) {
		d.Spec.Action = &v1alpha1.DomainAction{ID: "2", Verb: v1alpha1.VerbDestroy}
	})
	e2.waitGone("t", "the destroyed transient domain's object was not removed")
	if live.Live(string(tr.UID)) != nil {
		t.Error("live definition left behind")
	}
}

// waitGone waits until the object name is gone, failing with why after 10 s.
func (e *env) waitGone(name, why string) {
	e.t.Helper()
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if err := e.store.Get(e.ctx, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: name}, &v1alpha1.XenDomain{}); apierrors.IsNotFound(err) {
			return
		}
		if time.Since(start) > 10*time.Second {
			e.t.Fatal(why)
		}
	}
}
