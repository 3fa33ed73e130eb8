package defines

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/store"
	"github.com/virtxend/virtxend/test/libvirtsrc"
)

// corpus returns the directory of libvirt's xl.cfg test data, whose domain XML is what libvirt writes.
func corpus(tb testing.TB) string { return libvirtsrc.Path(tb, "tests/xlconfigdata") }

func newClient(t testing.TB) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(s, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

type event struct{ name, typ, reason, msg string }

type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) Event(name, typ, reason, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{name, typ, reason, msg})
}

func (r *recorder) find(reason, sub string) *event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.events {
		if r.events[i].reason == reason && strings.Contains(r.events[i].msg, sub) {
			return &r.events[i]
		}
	}
	return nil
}

type fixture struct {
	t   *testing.T
	s   *Store
	c   client.Client
	rec *recorder
}

func newFixture(t *testing.T) *fixture {
	rec := &recorder{}
	return &fixture{t: t, s: New(t.TempDir(), Options{Recorder: rec, Defaults: domxml.Defaults{HostArch: "x86_64"}}), c: newClient(t), rec: rec}
}

func (f *fixture) load() {
	f.t.Helper()
	if err := f.s.Load(context.Background(), f.c); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) get(name string) *v1alpha1.XenDomain {
	f.t.Helper()
	var o v1alpha1.XenDomain
	err := f.c.Get(context.Background(), types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: name}, &o)
	if client.IgnoreNotFound(err) != nil {
		f.t.Fatal(err)
	}
	if err != nil {
		return nil
	}
	return &o
}

func (f *fixture) save(spec *v1alpha1.DomainSpec) {
	f.t.Helper()
	if err := f.s.Save(spec); err != nil {
		f.t.Fatal(err)
	}
}

func spec(name, uuid, memory string) *v1alpha1.DomainSpec {
	return &v1alpha1.DomainSpec{
		Name: name, UUID: uuid, Memory: resource.MustParse(memory),
		OS: v1alpha1.OS{Type: "linux", Kernel: "/boot/vmlinuz"},
	}
}

// entries lists a directory's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestSaveLoadRoundTrip(t *testing.T) {
	f := newFixture(t)
	web := spec("web", "6A1D2C3E-7F40-4B5A-9C61-2E8F0D4B7A10", "512Mi")
	f.save(web)

	data, err := os.ReadFile(f.s.Path("web"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE") || !strings.Contains(string(data), "virsh edit web\n") ||
		!strings.Contains(string(data), "<domain type=") || !strings.Contains(string(data), "<uuid>6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10</uuid>") || strings.Contains(string(data), " id=") {
		t.Errorf("file:\n%s", data)
	}
	if fi, _ := os.Stat(f.s.Path("web")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if got := entries(t, f.s.Dir()); len(got) != 1 || got[0] != "web.xml" {
		t.Errorf("directory holds %v: a temporary file was left", got)
	}

	f.load()
	o := f.get("web")
	if o == nil {
		t.Fatal("not loaded")
	}
	if o.Spec.Domain.UUID != "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10" {
		t.Errorf("uuid %q", o.Spec.Domain.UUID)
	}
	if o.Spec.RunStrategy != v1alpha1.RunStrategyManual || o.Spec.Autostart || o.Labels[v1alpha1.LabelSource] != "define" ||
		o.Annotations[v1alpha1.AnnotationSource] != "define:"+f.s.Path("web") {
		t.Errorf("object %+v %v %v", o.Spec, o.Labels, o.Annotations)
	}
	if o.Spec.Domain.Memory.Cmp(resource.MustParse("512Mi")) != 0 || o.Spec.Domain.OS.Kernel != "/boot/vmlinuz" {
		t.Errorf("domain %+v", o.Spec.Domain)
	}
	// What Load builds is what Object builds for the facade.
	want := f.s.Object(&o.Spec.Domain)
	if !equality.Semantic.DeepEqual(want.Spec, o.Spec) || string(want.UID) != o.Spec.Domain.UUID {
		t.Errorf("Object and Load disagree:\n%+v\n%+v", want.Spec, o.Spec)
	}

	// A second Load of unchanged files writes nothing; a changed file updates the spec.
	rv := o.ResourceVersion
	f.load()
	if f.get("web").ResourceVersion != rv {
		t.Error("unchanged definition rewritten")
	}
	f.save(spec("web", "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10", "1Gi"))
	f.load()
	if m := f.get("web").Spec.Domain.Memory; m.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("memory %s after redefine", m.String())
	}
}

// TestObjectUIDIsDomainUUID checks the identity contract with the reconciler, which adopts running domains
// by the UID in their ownership marker: metadata.uid is the domain UUID, the same after a daemon restart. It
// needs the store to keep a UID set by its caller on Create.
func TestObjectUIDIsDomainUUID(t *testing.T) {
	f := newFixture(t)
	f.save(spec("web", "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10", "512Mi"))
	f.save(spec("db", "", "512Mi"))
	for range 2 { // two daemon runs
		f.c = newClient(t)
		f.load()
		if uid := f.get("web").UID; uid != "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10" {
			t.Errorf("web: uid %q, want the domain uuid", uid)
		}
		if uid := f.get("db").UID; string(uid) != nameUUID("db") {
			t.Errorf("db: uid %q, want the name-based uuid %s", uid, nameUUID("db"))
		}
	}
}

func TestSaveWithoutUUID(t *testing.T) {
	f := newFixture(t)
	s := spec("web", "", "512Mi")
	f.save(s)
	if s.UUID != nameUUID("web") {
		t.Fatalf("uuid %q", s.UUID)
	}
	f.load()
	if o := f.get("web"); o.Spec.Domain.UUID != nameUUID("web") {
		t.Fatalf("uuid %q", o.Spec.Domain.UUID)
	}
}

func TestSaveRejectsBadNames(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"", ".", "..", "a/b", "a\nb"} {
		if err := f.s.Save(spec(n, "", "1Gi")); err == nil {
			t.Errorf("Save(%q) succeeded", n)
		}
	}
	if err := f.s.Save(spec("a--b", "", "1Gi")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(f.s.Path("a--b"))
	if c, _, _ := strings.Cut(string(data), "-->"); strings.Count(c, "--") != 1 { // only <!--
		t.Errorf("'--' inside the comment:\n%s", data)
	}
}

func TestCrashLeftoversAreCleaned(t *testing.T) {
	f := newFixture(t)
	f.save(spec("web", "", "512Mi"))
	// A crash between the write and the rename leaves a truncated temporary file, never a truncated web.xml.
	stale := filepath.Join(f.s.Dir(), tempPrefix+"db.xml-12345"+tempSuffix)
	if err := os.WriteFile(stale, []byte("<domain type='xen'><na"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(f.s.Dir(), "autostart"), 0o755); err != nil {
		t.Fatal(err)
	}
	staleLink := filepath.Join(f.s.Dir(), "autostart", tempPrefix+"web.xml-1-1"+tempSuffix)
	if err := os.Symlink(f.s.Path("web"), staleLink); err != nil {
		t.Fatal(err)
	}
	f.load()
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Error("stale temporary file not removed")
	}
	if _, err := os.Lstat(staleLink); !os.IsNotExist(err) {
		t.Error("stale temporary link not removed")
	}
	if f.get("db") != nil || f.get("web") == nil {
		t.Error("wrong objects")
	}
}

func TestSaveFailureLeavesNothing(t *testing.T) {
	f := newFixture(t)
	f.save(spec("web", "", "512Mi"))
	// The rename cannot replace a directory: Save fails after writing its temporary file.
	if err := os.Mkdir(f.s.Path("db"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Save(spec("db", "", "1Gi")); err == nil {
		t.Fatal("Save over a directory succeeded")
	}
	if got := entries(t, f.s.Dir()); len(got) != 2 {
		t.Errorf("directory holds %v: the temporary file was left", got)
	}
}

func TestAutostart(t *testing.T) {
	f := newFixture(t)
	if err := f.s.SetAutostart("web", true); err == nil {
		t.Error("autostart of an undefined domain succeeded")
	}
	f.save(spec("web", "", "512Mi"))
	if f.s.Autostart("web") {
		t.Fatal("autostart before SetAutostart")
	}
	for range 2 { // idempotent
		if err := f.s.SetAutostart("web", true); err != nil {
			t.Fatal(err)
		}
	}
	target, err := os.Readlink(f.s.AutostartPath("web"))
	if err != nil || target != f.s.Path("web") || !filepath.IsAbs(target) {
		t.Fatalf("link -> %q (%v), want the absolute %q", target, err, f.s.Path("web"))
	}
	if !f.s.Autostart("web") {
		t.Fatal("Autostart false after SetAutostart")
	}
	if got := entries(t, filepath.Join(f.s.Dir(), "autostart")); len(got) != 1 {
		t.Errorf("autostart holds %v", got)
	}
	f.load()
	if !f.get("web").Spec.Autostart {
		t.Error("object not autostarted")
	}
	// Redefining replaces the file; the link still resolves to it.
	f.save(spec("web", "", "1Gi"))
	if !f.s.Autostart("web") {
		t.Error("autostart lost by a redefine")
	}

	if err := f.s.SetAutostart("web", false); err != nil {
		t.Fatal(err)
	}
	if f.s.Autostart("web") {
		t.Fatal("still autostarted")
	}
	if err := f.s.SetAutostart("web", false); err != nil {
		t.Fatal(err)
	}
	f.load()
	if f.get("web").Spec.Autostart {
		t.Error("object still autostarted")
	}

	// Links made by hand: a relative one to the file counts (libvirt compares inodes), one elsewhere does not.
	if err := os.Symlink("../web.xml", f.s.AutostartPath("web")); err != nil {
		t.Fatal(err)
	}
	if !f.s.Autostart("web") {
		t.Error("relative link not honoured")
	}
	other := filepath.Join(t.TempDir(), "web.xml")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.s.AutostartPath("web")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, f.s.AutostartPath("web")); err != nil {
		t.Fatal(err)
	}
	if f.s.Autostart("web") {
		t.Error("link to another file honoured")
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	f.save(spec("web", "", "512Mi"))
	if err := f.s.SetAutostart("web", true); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Delete("web"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f.s.Path("web"), f.s.AutostartPath("web")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there", p)
		}
	}
	if err := f.s.Delete("web"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestLoadBadFile(t *testing.T) {
	f := newFixture(t)
	f.save(spec("web", "", "512Mi"))
	f.save(spec("db", "", "2Gi"))
	f.load()
	dbRV := f.get("db").ResourceVersion

	// web.xml breaks; other.xml never parsed; named.xml holds another name.
	if err := os.WriteFile(f.s.Path("web"), []byte("<domain type='xen'><name>web</name>"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.s.Path("other"), []byte("not xml"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(f.s.Path("db"))
	if err := os.WriteFile(f.s.Path("named"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	f.load()
	web := f.get("web")
	if web == nil || web.Spec.Domain.Memory.Cmp(resource.MustParse("512Mi")) != 0 {
		t.Fatalf("web lost its last good definition: %+v", web)
	}
	if !strings.Contains(web.Annotations[v1alpha1.AnnotationSourceError], "web.xml") {
		t.Errorf("annotations %v", web.Annotations)
	}
	if f.get("db").ResourceVersion != dbRV || f.get("other") != nil || f.get("named") != nil {
		t.Error("other objects disturbed")
	}
	for _, n := range []string{"web.xml", "other.xml", "named.xml"} {
		if f.rec.find(ReasonParseError, n) == nil {
			t.Errorf("no ParseError event for %s", n)
		}
	}
	// Fixed: the annotation goes.
	f.save(spec("web", "", "512Mi"))
	f.load()
	if _, ok := f.get("web").Annotations[v1alpha1.AnnotationSourceError]; ok {
		t.Error("source-error annotation kept after the fix")
	}
}

func TestLoadRemovesUndefined(t *testing.T) {
	f := newFixture(t)
	f.save(spec("stopped", "", "512Mi"))
	f.save(spec("running", "", "512Mi"))
	f.load()
	// The reconciler reports the running one as running.
	run := f.get("running")
	id := int32(7)
	run.Status.DomID = &id
	if err := f.c.Status().Update(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"stopped", "running"} {
		if err := os.Remove(f.s.Path(n)); err != nil {
			t.Fatal(err)
		}
	}
	f.load()
	if f.get("stopped") != nil {
		t.Error("stopped domain not removed")
	}
	run = f.get("running")
	if run == nil || run.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindTransient || run.Annotations[v1alpha1.AnnotationSource] != "" {
		t.Fatalf("running domain: %+v", run)
	}
	// A transient domain is no longer the define source's business.
	f.load()
	if f.get("running") == nil {
		t.Error("transient domain removed")
	}
	// Its definition coming back makes it persistent again.
	f.save(spec("running", "", "1Gi"))
	f.load()
	if run = f.get("running"); run.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindDefine ||
		run.Spec.Domain.Memory.Cmp(resource.MustParse("1Gi")) != 0 || run.Annotations[v1alpha1.AnnotationSource] == "" {
		t.Fatalf("redefined domain: %+v", run)
	}
}

func TestLoadConflicts(t *testing.T) {
	f := newFixture(t)
	file := f.s.Object(spec("web", "", "1Gi"))
	file.Labels[v1alpha1.LabelSource] = v1alpha1.SourceKindFile
	if err := f.c.Create(context.Background(), file); err != nil {
		t.Fatal(err)
	}
	f.save(spec("web", "", "512Mi"))
	f.save(spec("twin", nameUUID("web"), "512Mi"))
	f.load()
	if o := f.get("web"); o.Labels[v1alpha1.LabelSource] != "file" || o.Spec.Domain.Memory.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Error("file object touched")
	}
	if f.get("twin") != nil {
		t.Error("twin created with a uuid already in use")
	}
	if f.rec.find(ReasonConflict, "file domain") == nil || f.rec.find(ReasonConflict, "twin") == nil {
		t.Errorf("events %+v", f.rec.events)
	}
}

// TestLoadLibvirtFiles loads definitions as libvirt writes them: the conformance corpus's domain XML, under
// libvirt's header, one per NAME.xml.
func TestLoadLibvirtFiles(t *testing.T) {
	files := []string{"test-paravirt-cmdline.xml", "test-fullvirt-ovmf.xml", "test-pvh-type.xml", "test-channel-unix.xml",
		"test-new-disk.xml", "test-fullvirt-vnuma.xml", "test-fullvirt-multiserial.xml", "test-paravirt-maxvcpus.xml"}
	f := newFixture(t)
	nameRe := regexp.MustCompile(`<name>[^<]*</name>`)
	uuidRe := regexp.MustCompile(`<uuid>[^<]*</uuid>`)
	for i, fn := range files {
		data, err := os.ReadFile(filepath.Join(corpus(t), fn))
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(fn, "test-"), ".xml")
		x := nameRe.ReplaceAllString(string(data), "<name>"+name+"</name>")
		x = uuidRe.ReplaceAllString(x, fmt.Sprintf("<uuid>c7a5fdb2-cdaf-9455-926a-d65c16db%04d</uuid>", i))
		x = "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\nOVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n  virsh edit " +
			name + "\nor other application using the libvirt API.\n-->\n\n" + x
		if err := os.WriteFile(f.s.Path(name), []byte(x), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(f.s.Dir(), "autostart"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(f.s.Path("pvh-type"), f.s.AutostartPath("pvh-type")); err != nil {
		t.Fatal(err)
	}
	f.load()
	for i, fn := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(fn, "test-"), ".xml")
		o := f.get(name)
		if o == nil {
			t.Errorf("%s not loaded: %+v", fn, f.rec.find(ReasonParseError, name))
			continue
		}
		if want := fmt.Sprintf("c7a5fdb2-cdaf-9455-926a-d65c16db%04d", i); o.Spec.Domain.UUID != want {
			t.Errorf("%s: uuid %s", name, o.Spec.Domain.UUID)
		}
		if o.Spec.Autostart != (name == "pvh-type") {
			t.Errorf("%s: autostart %v", name, o.Spec.Autostart)
		}
		// What we save, libvirt's format, loads back to the same definition.
		g := newFixture(t)
		d := o.Spec.Domain.DeepCopy()
		g.save(d)
		g.load()
		if back := g.get(name); back == nil || !equality.Semantic.DeepEqual(back.Spec.Domain, o.Spec.Domain) {
			t.Errorf("%s: save/load changed the definition", name)
		}
	}
}
