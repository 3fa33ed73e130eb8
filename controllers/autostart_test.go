package controllers

import (
	"path/filepath"
	"testing"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

func TestAutostartOncePerBoot(t *testing.T) {
	e := newEnv(t, "", Options{})
	d := pvDomain("auto", v1alpha1.RunStrategyManual)
	d.Spec.Autostart = true
	e.create(d)
	e.create(pvDomain("manual", v1alpha1.RunStrategyManual))
	e.waitState("auto", v1alpha1.StateShutoff)
	e.waitState("manual", v1alpha1.StateShutoff) // observed before the autostart, or its status would still be empty

	flag := filepath.Join(t.TempDir(), "autostarted")
	a := &Autostarter{Client: e.store, Reconciler: e.rec, FlagFile: flag, BootID: "boot-1", Parallel: 2, Log: testLogger()}
	must(t, a.Run(e.ctx))
	e.waitState("auto", v1alpha1.StateRunning)
	if d := e.get("manual"); d.Status.State != v1alpha1.StateShutoff {
		t.Fatalf("a domain without autostart was started: %s", d.Status.State)
	}

	// Stopped again, then the daemon restarts within the same boot: no second autostart.
	e.update("auto", func(d *v1alpha1.XenDomain) {
		d.Spec.Action = &v1alpha1.DomainAction{ID: "stop", Verb: v1alpha1.VerbDestroy}
	})
	e.waitState("auto", v1alpha1.StateShutoff)
	must(t, a.Run(e.ctx))
	if d := e.waitState("auto", v1alpha1.StateShutoff); d.Status.DomID != nil {
		t.Fatal("autostart ran twice in one boot")
	}
	// A new boot autostarts again.
	a.BootID = "boot-2"
	must(t, a.Run(e.ctx))
	e.waitState("auto", v1alpha1.StateRunning)
}
