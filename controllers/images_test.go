package controllers

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

func TestSaveRestoreCoreDump(t *testing.T) {
	e := newEnv(t, "", Options{})
	e.create(pvDomain("img", v1alpha1.RunStrategyAlways))
	first := *e.waitState("img", v1alpha1.StateRunning).Status.DomID
	dir := t.TempDir()
	act := func(id string, a v1alpha1.DomainAction) *v1alpha1.ActionResult {
		a.ID = id
		e.update("img", func(d *v1alpha1.XenDomain) { d.Spec.Action = &a })
		return e.waitFor("img", "action "+id, func(d *v1alpha1.XenDomain) bool {
			return d.Status.LastAction != nil && d.Status.LastAction.ID == id
		}).Status.LastAction
	}

	core := filepath.Join(dir, "img.core")
	if r := act("dump", v1alpha1.DomainAction{Verb: v1alpha1.VerbCoreDump, Path: core}); r.Error != "" {
		t.Fatalf("core dump: %s", r.Error)
	}
	if fi, err := os.Stat(core); err != nil || fi.Size() == 0 {
		t.Fatalf("no core file: %v", err)
	}
	if d := e.get("img"); d.Status.State != v1alpha1.StateRunning || *d.Status.DomID != first {
		t.Fatalf("after a core dump: %+v", d.Status)
	}

	// A paused domain cannot be saved: libxl suspends it through the guest.
	e.update("img", func(d *v1alpha1.XenDomain) { d.Spec.Paused = true })
	e.waitState("img", v1alpha1.StatePaused)
	save := filepath.Join(dir, "img.save")
	if r := act("save-paused", v1alpha1.DomainAction{Verb: v1alpha1.VerbSave, Path: save}); !strings.Contains(r.Error, "has to be running") {
		t.Fatalf("save of a paused domain: error %q", r.Error)
	}
	e.update("img", func(d *v1alpha1.XenDomain) { d.Spec.Paused = false })
	e.waitState("img", v1alpha1.StateRunning)

	if r := act("save", v1alpha1.DomainAction{Verb: v1alpha1.VerbSave, Path: save}); r.Error != "" {
		t.Fatalf("save: %s", r.Error)
	}
	d := e.waitState("img", v1alpha1.StateShutoff)
	if d.Status.Reason != "saved" || len(e.domainsNamed("img")) != 0 {
		t.Fatalf("after save: %+v", d.Status)
	}
	f, err := os.Open(save)
	must(t, err)
	xml, err := ReadSaveHeader(f)
	f.Close()
	if err != nil || !bytes.Contains(xml, []byte("<name>img</name>")) {
		t.Fatalf("save image header: %v\n%s", err, xml)
	}
	// Always does not boot a saved domain afresh: it waits to be restored.
	if d := e.get("img"); d.Status.DomID != nil {
		t.Fatal("a saved domain was started again")
	}

	if r := act("restore", v1alpha1.DomainAction{Verb: v1alpha1.VerbRestore, Path: save}); r.Error != "" {
		t.Fatalf("restore: %s", r.Error)
	}
	d = e.waitState("img", v1alpha1.StateRunning)
	if *d.Status.DomID == first {
		t.Fatal("restore kept the old domid")
	}
	info, _ := e.host.DomainInfo(e.ctx, libxl.DomID(*d.Status.DomID))
	if b, err := e.host.Userdata(e.ctx, info.DomID, MarkerKey); err != nil || !bytes.Contains(b, []byte(string(d.UID))) {
		t.Fatalf("restored domain not marked: %s %v", b, err)
	}
	bad := filepath.Join(dir, "bad.save")
	must(t, os.WriteFile(bad, []byte("not an image"), 0o600))
	e.update("img", func(d *v1alpha1.XenDomain) { d.Spec.RunStrategy = v1alpha1.RunStrategyManual })
	act("destroy", v1alpha1.DomainAction{Verb: v1alpha1.VerbDestroy})
	e.waitState("img", v1alpha1.StateShutoff)
	if r := act("restore-bad", v1alpha1.DomainAction{Verb: v1alpha1.VerbRestore, Path: bad}); !strings.Contains(r.Error, "not a libvirt Xen save image") {
		t.Fatalf("restore of a bad file: error %q", r.Error)
	}
}

func TestManagedSaveRestoredByAnyStart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, "", Options{ManagedSaveDir: dir})
	e.create(pvDomain("ms", v1alpha1.RunStrategyManual))
	e.waitState("ms", v1alpha1.StateShutoff)
	start := func(id string) {
		e.update("ms", func(d *v1alpha1.XenDomain) { d.Spec.Action = &v1alpha1.DomainAction{ID: id, Verb: v1alpha1.VerbStart} })
		e.waitFor("ms", "started", func(d *v1alpha1.XenDomain) bool {
			return d.Status.LastAction != nil && d.Status.LastAction.ID == id && d.Status.State == v1alpha1.StateRunning
		})
	}
	start("1")
	image := filepath.Join(dir, "ms.save")
	e.update("ms", func(d *v1alpha1.XenDomain) {
		d.Spec.Action = &v1alpha1.DomainAction{ID: "save", Verb: v1alpha1.VerbSave, Path: image}
	})
	e.waitState("ms", v1alpha1.StateShutoff)
	for len(e.events) > 0 {
		<-e.events // what happened so far
	}
	start("2")
	if _, err := os.Stat(image); !os.IsNotExist(err) {
		t.Fatalf("managed save image left after the start restored it: %v", err)
	}
	restored := false
	for len(e.events) > 0 {
		if ev := <-e.events; ev.Event == EventStarted && ev.Detail == DetailStartedRestored {
			restored = true
		}
	}
	if !restored {
		t.Fatal("the start booted afresh instead of restoring the managed save image")
	}
}
