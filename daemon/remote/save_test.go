package remote

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/digitalocean/go-libvirt"
)

func TestSaveRestoreRoundTrip(t *testing.T) {
	e := newTxEnv(t)
	web := e.add("web", "define", true)
	id := e.info("web").DomID
	img := filepath.Join(t.TempDir(), "web.save")

	if err := e.L.DomainSave(web, img); err != nil {
		t.Fatal(err)
	}
	if st, reason, err := e.L.DomainGetState(web, 0); err != nil || st != stateShutoff || reason != 5 {
		t.Errorf("after save: state %d reason %d, %v; want shutoff/saved", st, reason, err)
	}
	if data, err := os.ReadFile(img); err != nil || !bytes.HasPrefix(data, []byte("libvirt-xml\n \x00 \r")) ||
		!bytes.Contains(data, []byte("<name>web</name>")) {
		t.Fatalf("image: %v\n%.200q", err, data)
	}
	if err := e.L.DomainRestore(img); err != nil {
		t.Fatal(err)
	}
	i := e.info("web")
	if i.DomID == id {
		t.Errorf("restored with the old domid %d", id)
	}
	if st, _, _ := e.L.DomainGetState(web, 0); st != stateRunning {
		t.Errorf("after restore: state %d", st)
	}
	// The image of a running domain cannot be restored again; a paused domain cannot be saved.
	txWantErr(t, e.L.DomainRestore(img), libvirt.ErrOperationInvalid, "domain 'web' is already active")
	if err := e.L.DomainSuspend(web); err != nil {
		t.Fatal(err)
	}
	txWantErr(t, e.L.DomainSave(web, img), libvirt.ErrOperationInvalid, "has to be running because libxenlight will suspend it")
	if err := e.L.DomainResume(web); err != nil {
		t.Fatal(err)
	}
	// Restore paused.
	if err := e.L.DomainSave(web, img); err != nil {
		t.Fatal(err)
	}
	if err := e.L.DomainRestoreFlags(img, nil, savePaused); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := e.L.DomainGetState(web, 0); st != statePaused {
		t.Errorf("after a paused restore: state %d", st)
	}
}

func TestSaveRestoreTransient(t *testing.T) {
	e := newTxEnv(t)
	tmp := e.add("tmp", "transient", true)
	img := filepath.Join(t.TempDir(), "tmp.save")
	if err := e.L.DomainSave(tmp, img); err != nil {
		t.Fatal(err)
	}
	e.eventually("tmp forgotten", func() bool { return e.get("tmp") == nil })
	if err := e.L.DomainRestore(img); err != nil {
		t.Fatal(err)
	}
	if o := e.get("tmp"); o == nil || o.Labels["virtxend.io/source-kind"] != "transient" || o.Status.State != "running" {
		t.Fatalf("restored transient domain: %+v", o)
	}
	if d, err := e.L.DomainLookupByName("tmp"); err != nil || d.UUID != tmp.UUID {
		t.Errorf("lookup %+v, %v", d, err)
	}
	txWantErr(t, e.L.DomainManagedSave(tmp, 0), libvirt.ErrOperationInvalid, "cannot do managed save for transient domain")
}

func TestSaveErrors(t *testing.T) {
	e := newTxEnv(t)
	web := e.add("web", "define", true)
	off := e.add("off", "define", false)
	dom0, err := e.L.DomainLookupByName("Domain-0")
	if err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("x"), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		code libvirt.ErrorNumber
		msg  string
	}{
		{"dxml", e.L.DomainSaveFlags(web, "/tmp/x", libvirt.OptString{"<domain/>"}, 0), libvirt.ErrArgumentUnsupported, "xml modification unsupported"},
		{"save flags", e.L.DomainSaveFlags(web, "/tmp/x", nil, savePaused), libvirt.ErrInvalidArg, "unsupported flags (0x4) in function libxlDomainSaveFlags"},
		{"dom0", e.L.DomainSave(dom0, "/tmp/x"), libvirt.ErrOperationInvalid, "Domain-0 does not support requested operation"},
		{"inactive", e.L.DomainSave(off, "/tmp/x"), libvirt.ErrOperationInvalid, "domain is not running"},
		{"no file", e.L.DomainRestore(filepath.Join(t.TempDir(), "none")), libvirt.ErrSystemError, "none': No such file or directory"},
		{"magic", e.L.DomainRestore(junk), libvirt.ErrInvalidArg, "image magic is incorrect"},
		{"restore flags", e.L.DomainRestoreFlags(junk, nil, 1), libvirt.ErrInvalidArg, "unsupported flags (0x1) in function libxlDomainRestoreFlags"},
		{"dump format", e.L.DomainCoreDumpWithFormat(web, "/tmp/x", 1, 0), libvirt.ErrOperationUnsupported, "unsupported dumpformat"},
		{"dump flags", e.L.DomainCoreDump(web, "/tmp/x", libvirt.DumpBypassCache), libvirt.ErrInvalidArg, "unsupported flags (0x4) in function libxlDomainCoreDump"},
		{"save to nowhere", e.L.DomainSave(web, "/nonexistent/dir/x"), libvirt.ErrSystemError, "ailed to create domain save file"},
	} {
		t.Run(tc.name, func(t *testing.T) { txWantErr(t, tc.err, tc.code, tc.msg) })
	}
	if st, _, _ := e.L.DomainGetState(web, 0); st != stateRunning {
		t.Errorf("web state %d after failed calls", st)
	}
}

func TestManagedSave(t *testing.T) {
	e := newTxEnv(t)
	web := e.add("web", "define", true)
	if n, err := e.L.DomainHasManagedSaveImage(web, 0); err != nil || n != 0 {
		t.Fatalf("has image %d, %v", n, err)
	}
	if err := e.L.DomainManagedSave(web, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.Facade.StateDir, "save", "web.save")); err != nil {
		t.Fatal(err)
	}
	if n, err := e.L.DomainHasManagedSaveImage(web, 0); err != nil || n != 1 {
		t.Fatalf("has image %d, %v", n, err)
	}
	doms, _, err := e.L.ConnectListAllDomains(1, listManagedSave)
	if err != nil || len(doms) != 1 || doms[0].Name != "web" {
		t.Errorf("list --managed-save: %+v, %v", doms, err)
	}
	// Starting restores the image, then removes it.
	if err := e.L.DomainCreate(web); err != nil {
		t.Fatal(err)
	}
	if st, reason, _ := e.L.DomainGetState(web, 0); st != stateRunning || reason != 1 {
		t.Errorf("after start: state %d reason %d", st, reason)
	}
	if n, _ := e.L.DomainHasManagedSaveImage(web, 0); n != 0 {
		t.Error("the image is still there after the restore")
	}
	// An image can be removed instead.
	if err := e.L.DomainManagedSave(web, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.L.DomainManagedSaveRemove(web, 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.L.DomainHasManagedSaveImage(web, 0); n != 0 {
		t.Error("the image is still there after managedsave-remove")
	}
}

func TestCoreDump(t *testing.T) {
	e := newTxEnv(t)
	web := e.add("web", "define", true)
	dump := filepath.Join(t.TempDir(), "web.core")
	if err := e.L.DomainCoreDump(web, dump, 0); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dump); err != nil || fi.Size() == 0 {
		t.Fatalf("dump: %v", err)
	}
	if st, _, _ := e.L.DomainGetState(web, 0); st != stateRunning {
		t.Errorf("state %d after dump", st)
	}
	if typ, _, _, _, _, _, _, _, _, _, _, _, err := e.L.DomainGetJobInfo(web); err != nil || typ != jobNone {
		t.Errorf("job %d, %v", typ, err)
	}
	if err := e.L.DomainCoreDumpWithFormat(web, dump, dumpRaw, dumpLive|dumpCrash); err != nil {
		t.Fatal(err)
	}
	if st, reason, _ := e.L.DomainGetState(web, 0); st != stateShutoff || reason != 3 {
		t.Errorf("state %d reason %d after a crash dump", st, reason)
	}
}
