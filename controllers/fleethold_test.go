package controllers

import (
	"strings"
	"testing"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// TestFleetHold: in fleet mode a node holds an object (its finalizer, status.nodeName) only while the domain exists
// on its host: a stopped object carries neither, so that it may move to another node.
func TestFleetHold(t *testing.T) {
	e := newEnv(t, "", Options{Node: "host-a"})
	e.create(pvDomain("idle", v1alpha1.RunStrategyHalted))
	if d := e.waitState("idle", v1alpha1.StateShutoff); hasFinalizer(d) || d.Status.NodeName != "" {
		t.Fatalf("a domain that never ran is held: finalizers %v, status.nodeName %q", d.Finalizers, d.Status.NodeName)
	}
	e.create(pvDomain("web", v1alpha1.RunStrategyAlways))
	d := e.waitFor("web", "running, held by host-a", func(d *v1alpha1.XenDomain) bool {
		return d.Status.State == v1alpha1.StateRunning && d.Status.NodeName == "host-a"
	})
	if !hasFinalizer(d) {
		t.Fatalf("running: finalizers %v", d.Finalizers)
	}
	e.update("web", func(d *v1alpha1.XenDomain) { d.Spec.RunStrategy = v1alpha1.RunStrategyHalted })
	e.waitFor("web", "shut off and released", func(d *v1alpha1.XenDomain) bool {
		return d.Status.State == v1alpha1.StateShutoff && d.Status.NodeName == "" && !hasFinalizer(d)
	})
	if n := len(e.domainsNamed("web")); n != 0 {
		t.Fatalf("%d domains named web after the stop", n)
	}
}

// TestFleetHeldElsewhere: a node does not start a domain whose status names another node (moved while running
// there); it keeps that node's report, and starts the domain once the other node released it.
func TestFleetHeldElsewhere(t *testing.T) {
	e := newEnv(t, "", Options{Node: "host-b"})
	e.create(pvDomain("mover", v1alpha1.RunStrategyHalted))
	e.waitState("mover", v1alpha1.StateShutoff)
	held := e.get("mover")
	id := int32(7)
	held.Status.NodeName, held.Status.State, held.Status.Reason, held.Status.DomID = "host-a", v1alpha1.StateRunning, "booted", &id
	if err := e.store.Status().Update(e.ctx, held); err != nil {
		t.Fatal(err)
	}
	e.update("mover", func(d *v1alpha1.XenDomain) { d.Spec.RunStrategy = v1alpha1.RunStrategyAlways })
	d := e.waitFor("mover", "the refusal in lastError", func(d *v1alpha1.XenDomain) bool {
		return strings.Contains(d.Status.LastError, "held by node host-a")
	})
	if n := len(e.domainsNamed("mover")); n != 0 {
		t.Fatalf("host-b started mover while host-a holds it (%d domains)", n)
	}
	if d.Status.NodeName != "host-a" || d.Status.State != v1alpha1.StateRunning || d.Status.DomID == nil || *d.Status.DomID != 7 {
		t.Errorf("host-b overwrote host-a's report: %+v", d.Status)
	}
	released := e.get("mover")
	released.Status.NodeName, released.Status.State, released.Status.DomID = "", v1alpha1.StateShutoff, nil
	if err := e.store.Status().Update(e.ctx, released); err != nil {
		t.Fatal(err)
	}
	e.waitFor("mover", "running on host-b, held by it", func(d *v1alpha1.XenDomain) bool {
		return d.Status.State == v1alpha1.StateRunning && d.Status.NodeName == "host-b" && hasFinalizer(d)
	})
	if n := len(e.domainsNamed("mover")); n != 1 {
		t.Fatalf("%d domains named mover", n)
	}
}
