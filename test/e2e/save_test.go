package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVirshSaveRestore(t *testing.T) {
	i := startInstance(t)
	i.defineAndStart("vm")
	id := strings.TrimSpace(i.MustVirsh("domid", "vm"))
	img := filepath.Join(i.Dir, "vm.save")

	if out := i.MustVirsh("save", "vm", img); !strings.Contains(out, "Domain 'vm' saved to "+img) {
		t.Fatalf("save: %q", out)
	}
	if st := i.domstate("vm"); st != "shut off" {
		t.Fatalf("after save: %q", st)
	}
	wantLines(t, "domstate --reason", i.MustVirsh("domstate", "--reason", "vm"), `^shut off \(saved\)$`)
	if out := i.MustVirsh("restore", img); !strings.Contains(out, "Domain restored from "+img) {
		t.Fatalf("restore: %q", out)
	}
	if st := i.domstate("vm"); st != "running" {
		t.Fatalf("after restore: %q", st)
	}
	if now := strings.TrimSpace(i.MustVirsh("domid", "vm")); now == id {
		t.Errorf("restored with the old domid %s", id)
	}
	i.wantVirshError([]string{"restore", img}, "domain 'vm' is already active")

	// A transient domain is forgotten when saved, and comes back from its image.
	i.MustVirsh("create", i.xmlFile("tmp.xml", tuneXML("tmp")))
	timg := filepath.Join(i.Dir, "tmp.save")
	i.MustVirsh("save", "tmp", timg)
	if r := i.Virsh("domstate", "tmp"); r.Code == 0 {
		t.Errorf("a saved transient domain is still there: %s", r.Stdout)
	}
	i.MustVirsh("restore", timg)
	if st := i.domstate("tmp"); st != "running" {
		t.Errorf("restored transient domain: %q", st)
	}
	wantLines(t, "dominfo tmp", i.MustVirsh("dominfo", "tmp"), `^Persistent: +no$`)
}

func TestVirshManagedSave(t *testing.T) {
	i := startInstance(t)
	i.defineAndStart("vm")

	if out := i.MustVirsh("managedsave", "vm"); !strings.Contains(out, "Domain 'vm' state saved by libvirt") {
		t.Fatalf("managedsave: %q", out)
	}
	if _, err := os.Stat(filepath.Join(i.StateDir, "save", "vm.save")); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "dominfo", i.MustVirsh("dominfo", "vm"), `^State: +shut off$`, `^Managed save: +yes$`)
	wantLines(t, "list --managed-save", i.MustVirsh("list", "--all", "--managed-save"), `^ -\s+vm\s+saved$`)
	if out := i.MustVirsh("list", "--all", "--with-managed-save", "--name"); strings.TrimSpace(out) != "vm" {
		t.Errorf("list --with-managed-save: %q", out)
	}
	if out := i.MustVirsh("list", "--all", "--without-managed-save", "--name"); strings.Contains(out, "vm") {
		t.Errorf("list --without-managed-save: %q", out)
	}
	if out := i.MustVirsh("start", "vm"); !strings.Contains(out, "Domain 'vm' started") {
		t.Fatalf("start: %q", out)
	}
	wantLines(t, "dominfo", i.MustVirsh("dominfo", "vm"), `^State: +running$`, `^Managed save: +no$`)
	if _, err := os.Stat(filepath.Join(i.StateDir, "save", "vm.save")); !os.IsNotExist(err) {
		t.Errorf("the image outlived the restore: %v", err)
	}

	i.MustVirsh("managedsave", "vm")
	if out := i.MustVirsh("managedsave-remove", "vm"); !strings.Contains(out, "Removed managedsave image for domain 'vm'") {
		t.Errorf("managedsave-remove: %q", out)
	}
	wantLines(t, "dominfo", i.MustVirsh("dominfo", "vm"), `^Managed save: +no$`)

	i.MustVirsh("create", i.xmlFile("tmp.xml", tuneXML("tmp")))
	i.wantVirshError([]string{"managedsave", "tmp"}, "cannot do managed save for transient domain")
}

func TestVirshDump(t *testing.T) {
	i := startInstance(t)
	i.defineAndStart("vm")
	core := filepath.Join(i.Dir, "vm.core")
	if out := i.MustVirsh("dump", "vm", core); !strings.Contains(out, "Domain 'vm' dumped to "+core) {
		t.Fatalf("dump: %q", out)
	}
	if fi, err := os.Stat(core); err != nil || fi.Size() == 0 {
		t.Fatalf("core file: %v", err)
	}
	if st := i.domstate("vm"); st != "running" {
		t.Errorf("after dump: %q", st)
	}
	i.MustVirsh("dump", "--crash", "vm", core)
	wantLines(t, "domstate --reason", i.MustVirsh("domstate", "--reason", "vm"), `^shut off \(crashed\)$`)
	i.wantVirshError([]string{"dump", "Domain-0", core}, "Domain-0 does not support requested operation")
}
