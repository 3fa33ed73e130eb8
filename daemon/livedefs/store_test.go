package livedefs

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
)

func def(uuid, name string, memMiB int64) *controllers.LiveDefinition {
	return &controllers.LiveDefinition{UUID: uuid, UID: types.UID("uid-" + name), Object: name, Source: v1alpha1.SourceKindTransient,
		DomID: 7, Domain: v1alpha1.DomainSpec{Name: name, UUID: uuid, Memory: *resource.NewQuantity(memMiB<<20, resource.BinarySI)}}
}

func TestPutReopenDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "live")
	s, err := Open(dir, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	a := def("0a4e0a1c-6c43-4d1a-9a57-2a2a1d1e0001", "a", 64)
	if err := s.PutLive(a); err != nil {
		t.Fatal(err)
	}
	a.Domain.Name = "changed after put" // the store keeps its own copy
	got := s.Live("0A4E0A1C-6C43-4D1A-9A57-2A2A1D1E0001")
	if got == nil || got.Domain.Name != "a" {
		t.Fatalf("Live after Put: %+v", got)
	}
	got.Domain.Name = "changed by a reader"
	if s.Live(a.UUID).Domain.Name != "a" {
		t.Fatal("a reader changed the stored definition")
	}
	// A crash mid-write leaves a temporary file: it is ignored and removed; a broken file is ignored.
	if err := os.WriteFile(filepath.Join(dir, ".x.json-1.tmp"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if l := s2.LiveList(); len(l) != 1 || l[0].Domain.Memory.Value() != 64<<20 || l[0].DomID != 7 || l[0].UID != "uid-a" {
		t.Fatalf("after reopen: %+v", l)
	}
	if _, err := os.Stat(filepath.Join(dir, ".x.json-1.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
	if err := s2.DeleteLive(a.UUID); err != nil {
		t.Fatal(err)
	}
	if err := s2.DeleteLive(a.UUID); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if s2.Live(a.UUID) != nil {
		t.Fatal("deleted definition still there")
	}
	if _, err := os.Stat(filepath.Join(dir, a.UUID+".json")); !os.IsNotExist(err) {
		t.Fatalf("file left: %v", err)
	}
	if err := s2.PutLive(def("../x", "x", 1)); err == nil {
		t.Fatal("a uuid with a path in it was stored")
	}
}

// TestOpenReadsEveryFile: Open decodes the files on every processor; each definition comes back under its own
// UUID, and a file named after another UUID than the one it holds is ignored.
func TestOpenReadsEveryFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "live")
	s, err := Open(dir, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	uuid := func(i int) string { return fmt.Sprintf("0a4e0a1c-6c43-4d1a-9a57-%012d", i) }
	for i := range n {
		if err := s.PutLive(def(uuid(i), fmt.Sprintf("d%d", i), int64(1+i))); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, uuid(0)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, uuid(n)+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if l := s2.LiveList(); len(l) != n {
		t.Fatalf("%d definitions after reopen, want %d", len(l), n)
	}
	for i := range n {
		d := s2.Live(uuid(i))
		if d == nil || d.Domain.Name != fmt.Sprintf("d%d", i) || d.Domain.Memory.Value() != int64(1+i)<<20 {
			t.Fatalf("definition %d after reopen: %+v", i, d)
		}
	}
	if s2.Live(uuid(n)) != nil {
		t.Fatal("a file named after another UUID was read")
	}
}

// TestBootSharesWhatEqualsTheLiveSpec checks that a stored definition's boot spec shares the fields equal to the
// live spec's (one copy in memory), keeps its own where they differ, and reads back as written.
func TestBootSharesWhatEqualsTheLiveSpec(t *testing.T) {
	s, err := Open(t.TempDir(), logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	d := &controllers.LiveDefinition{UUID: "u1", UID: "uid", Boot: &v1alpha1.DomainSpec{}}
	d.Domain.Name, d.Boot.Name = "a", "a"
	d.Domain.Devices.Disks = []v1alpha1.Disk{{Device: "disk"}}
	d.Boot.Devices.Disks = []v1alpha1.Disk{{Device: "disk"}}
	d.Domain.SecLabels = []v1alpha1.SecLabel{{Model: "live"}}
	d.Boot.SecLabels = []v1alpha1.SecLabel{{Model: "boot"}}
	if err := s.PutLive(d); err != nil {
		t.Fatal(err)
	}
	for _, got := range []*controllers.LiveDefinition{s.LiveList()[0], mustOpen(t, s.Dir()).LiveList()[0]} {
		if &got.Boot.Devices.Disks[0] != &got.Domain.Devices.Disks[0] {
			t.Error("equal disks are two copies")
		}
		if got.Boot.SecLabels[0].Model != "boot" || got.Domain.SecLabels[0].Model != "live" {
			t.Errorf("different fields mixed up: boot %v, live %v", got.Boot.SecLabels, got.Domain.SecLabels)
		}
	}
	if c := s.Live("u1"); &c.Boot.Devices.Disks[0] == &c.Domain.Devices.Disks[0] {
		t.Error("Live returned a copy whose boot and live specs share their disks")
	}
}

// TestBootKeptOnceWhenOnlyRuntimeDiffers checks that a boot spec that is the live one without what only the
// running domain has (its pty paths, the interface names made at start) is not kept a second time in memory, and
// that Live, the file and a reopened store all still give it exactly; a boot that differs in more is kept.
func TestBootKeptOnceWhenOnlyRuntimeDiffers(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	port := uint32(0)
	boot := v1alpha1.DomainSpec{Name: "a", UUID: "u1", Memory: resource.MustParse("1Gi"), Devices: v1alpha1.Devices{
		Interfaces: []v1alpha1.Interface{{Type: "bridge"}, {Type: "bridge", Target: "mine"}},
		Consoles:   []v1alpha1.Chardev{{Type: "pty", Target: &v1alpha1.ChardevTarget{Type: "xen", Port: &port}}},
	}}
	live := *boot.DeepCopy()
	live.Devices.Interfaces[0].Target = "vif7.0"
	live.Devices.Consoles[0].Sources = []v1alpha1.ChardevSource{{Path: "/dev/pts/3"}}
	if err := s.PutLive(&controllers.LiveDefinition{UUID: "u1", UID: "uid", DomID: 7, Domain: live, Boot: boot.DeepCopy()}); err != nil {
		t.Fatal(err)
	}
	for i, st := range []*Store{s, mustOpen(t, dir)} {
		if l := st.LiveList()[0]; l.Boot != nil || !reflect.DeepEqual(l.BootSpec(), &boot) {
			t.Errorf("store %d: listed boot %v, derived %+v; want nil and %+v", i, l.Boot, l.BootSpec(), boot)
		}
		got := st.Live("u1")
		if !reflect.DeepEqual(got.Boot, &boot) || !reflect.DeepEqual(got.Domain, live) {
			t.Errorf("store %d: Live gave boot %+v, live %+v", i, got.Boot, got.Domain)
		}
		if &got.Boot.Devices.Interfaces[0] == &got.Domain.Devices.Interfaces[0] || got.Boot.Devices.Interfaces[1].Target != "mine" {
			t.Errorf("store %d: Live's boot shares with its live spec, or lost a name: %+v", i, got.Boot.Devices.Interfaces)
		}
	}
	// A boot that waits for a restart (more memory) is not derivable: it is kept.
	boot.Memory = resource.MustParse("2Gi")
	if err := s.PutLive(&controllers.LiveDefinition{UUID: "u1", UID: "uid", DomID: 7, Domain: live, Boot: boot.DeepCopy()}); err != nil {
		t.Fatal(err)
	}
	for i, st := range []*Store{s, mustOpen(t, dir)} {
		if l := st.LiveList()[0]; l.Boot == nil || !reflect.DeepEqual(st.Live("u1").Boot, &boot) {
			t.Errorf("store %d: boot %+v, want %+v", i, l.Boot, boot)
		}
	}
}

func mustOpen(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestShareWithObjectSpec: with ShareWith, a stored definition shares the values equal to its object's spec (one
// copy of a running domain's disks in memory) and keeps its own where they differ (its console's pty); a
// definition read back at Open shares them once Reshare ran; an object of another UID shares nothing; and Live
// still returns a copy that shares nothing with either.
func TestShareWithObjectSpec(t *testing.T) {
	dir := t.TempDir()
	port := uint32(0)
	obj := v1alpha1.DomainSpec{Name: "a", UUID: "u1", Memory: resource.MustParse("1Gi"), Devices: v1alpha1.Devices{
		Disks:    []v1alpha1.Disk{{Device: "disk", Target: v1alpha1.DiskTarget{Dev: "xvda"}}},
		Consoles: []v1alpha1.Chardev{{Type: "pty", Target: &v1alpha1.ChardevTarget{Type: "xen", Port: &port}}},
	}}
	specs := func(name string, uid types.UID) *v1alpha1.DomainSpec {
		if name == "a" && uid == "uid" {
			return &obj
		}
		return nil
	}
	live := *obj.DeepCopy()
	live.Devices.Consoles[0].Sources = []v1alpha1.ChardevSource{{Path: "/dev/pts/3"}}
	d := &controllers.LiveDefinition{UUID: "u1", UID: "uid", Object: "a", DomID: 7, Domain: live, Boot: obj.DeepCopy()}

	check := func(what string, s *Store, shared bool) {
		t.Helper()
		l := s.LiveList()[0]
		if got := &l.Domain.Devices.Disks[0] == &obj.Devices.Disks[0]; got != shared {
			t.Errorf("%s: disks shared with the object's spec: %v, want %v", what, got, shared)
		}
		if &l.Domain.Devices.Consoles[0] == &obj.Devices.Consoles[0] || l.Domain.Devices.Consoles[0].Sources[0].Path != "/dev/pts/3" {
			t.Errorf("%s: the console, which differs, is shared or lost its pty: %+v", what, l.Domain.Devices.Consoles)
		}
		c := s.Live("u1")
		if !reflect.DeepEqual(c.Domain, live) || !reflect.DeepEqual(c.Boot, &obj) {
			t.Errorf("%s: Live gave %+v, boot %+v", what, c.Domain, c.Boot)
		}
		if &c.Domain.Devices.Disks[0] == &obj.Devices.Disks[0] {
			t.Errorf("%s: Live's copy shares the object's disks", what)
		}
	}
	s := mustOpen(t, dir)
	s.ShareWith(specs)
	if err := s.PutLive(d); err != nil {
		t.Fatal(err)
	}
	check("written", s, true)
	r := mustOpen(t, dir)
	r.ShareWith(specs)
	check("read back", r, false)
	r.Reshare()
	check("read back and reshared", r, true)

	other := mustOpen(t, dir)
	other.ShareWith(func(string, types.UID) *v1alpha1.DomainSpec { return nil })
	other.Reshare()
	check("without an object", other, false)
}
