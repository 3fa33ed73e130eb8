package specdir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

func TestPassCreatesObjects(t *testing.T) {
	f := newFixture(t)
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	f.write("batch.xml", xmlBatch)
	f.write("db.json", `{"apiVersion":"virtxend.io/v1alpha1","kind":"XenDomain","metadata":{"name":"db","labels":{"tier":"data"}},`+
		`"spec":{"runStrategy":"Manual","domain":{"memory":"2Gi","os":{"type":"hvm"}}}}`)
	f.rescan()
	select {
	case <-f.l.Synced():
	default:
		t.Fatal("Synced not closed after the first pass")
	}
	if n := f.count(); n != 3 {
		t.Fatalf("%d objects, want 3", n)
	}
	web := f.mustGet("web")
	if web.Spec.Domain.UUID != uuidWeb || web.Labels[v1alpha1.LabelSource] != "file" ||
		web.Annotations[v1alpha1.AnnotationSource] != "file:"+filepath.Join(f.dir, "web.yaml") {
		t.Errorf("web: uid %q labels %v annotations %v", web.UID, web.Labels, web.Annotations)
	}
	db := f.mustGet("db")
	if db.Spec.Domain.UUID != NameUUID("db") || db.Spec.RunStrategy != v1alpha1.RunStrategyManual ||
		db.Labels["tier"] != "data" {
		t.Errorf("db: uid %q spec %+v labels %v", db.UID, db.Spec, db.Labels)
	}
	if p, ok := f.l.File("batch"); !ok || p != filepath.Join(f.dir, "batch.xml") {
		t.Errorf("File(batch) = %q, %v", p, ok)
	}
	if ev := find(f.rec.take(), ReasonLoaded, "web.yaml"); ev == nil || ev.name != "web" {
		t.Errorf("no SpecLoaded event for web")
	}

	// A second pass over an unchanged directory writes nothing.
	f.c.reset()
	f.rescan()
	if w := f.c.writes(); w != 0 {
		t.Fatalf("%d writes on an unchanged directory", w)
	}
}

// TestObjectUIDIsDomainUUID checks the identity contract with the reconciler, which adopts running domains
// by the UID in their ownership marker: metadata.uid is the domain UUID, the same after a daemon restart. It
// needs the store to keep a UID set by its caller on Create.
func TestObjectUIDIsDomainUUID(t *testing.T) {
	for range 2 { // two daemon runs
		f := newFixture(t)
		f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
		f.write("db.yaml", domainYAML("db", "", "512Mi"))
		f.rescan()
		if uid := f.mustGet("web").UID; string(uid) != uuidWeb {
			t.Errorf("web: uid %q, want the domain uuid %s", uid, uuidWeb)
		}
		if uid := f.mustGet("db").UID; string(uid) != NameUUID("db") {
			t.Errorf("db: uid %q, want the name-based uuid %s", uid, NameUUID("db"))
		}
	}
}

func TestBadFileKeepsLastGoodVersion(t *testing.T) {
	f := newFixture(t)
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	f.write("db.yaml", domainYAML("db", uuidDB, "2Gi"))
	f.rescan()
	dbBefore := f.mustGet("db")
	f.rec.take()

	f.write("web.yaml", strings.Replace(domainYAML("web", uuidWeb, "1Gi"), "memory:", "memroy:", 1))
	f.rescan()
	web := f.mustGet("web")
	if web.Spec.Domain.Memory.Cmp(resource.MustParse("512Mi")) != 0 {
		t.Errorf("web memory %s: the last good spec was not kept", web.Spec.Domain.Memory.String())
	}
	srcErr := web.Annotations[v1alpha1.AnnotationSourceError]
	if !strings.Contains(srcErr, "web.yaml") || !strings.Contains(srcErr, "spec.domain.memroy") {
		t.Errorf("source-error annotation %q", srcErr)
	}
	if db := f.mustGet("db"); db.ResourceVersion != dbBefore.ResourceVersion {
		t.Errorf("db was written although its file did not change")
	}
	evs := f.rec.take()
	if ev := find(evs, ReasonParseError, "memroy"); ev == nil || ev.name != "web" || ev.typ != EventTypeWarning {
		t.Errorf("no ParseError event for web: %+v", evs)
	}

	// The same error is reported once, and rescans write nothing more.
	f.c.reset()
	f.rescan()
	if w := f.c.writes(); w != 0 {
		t.Errorf("%d writes while the file stays broken", w)
	}
	if evs := f.rec.take(); len(evs) != 0 {
		t.Errorf("error reported again: %+v", evs)
	}

	// Fixing the file clears the annotation and applies the new spec.
	f.write("web.yaml", domainYAML("web", uuidWeb, "1Gi"))
	f.rescan()
	web = f.mustGet("web")
	if _, ok := web.Annotations[v1alpha1.AnnotationSourceError]; ok {
		t.Errorf("source-error annotation still set: %v", web.Annotations)
	}
	if web.Spec.Domain.Memory.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("web memory %s, want 1Gi", web.Spec.Domain.Memory.String())
	}
	if find(f.rec.take(), ReasonParseFixed, "web.yaml") == nil {
		t.Errorf("no ParseFixed event")
	}
}

func TestFileThatNeverParsed(t *testing.T) {
	f := newFixture(t)
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	f.write("bad.yaml", "kind: [")
	f.rescan()
	if n := f.count(); n != 1 {
		t.Fatalf("%d objects, want 1", n)
	}
	if ev := find(f.rec.take(), ReasonParseError, "bad.yaml"); ev == nil || ev.name != "" {
		t.Errorf("no ParseError event for bad.yaml")
	}
}

func TestRenameAndMoveWriteNothing(t *testing.T) {
	f := newFixture(t)
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	f.write("two.yaml", domainYAML("a", "", "1Gi")+"---\n"+domainYAML("b", "", "1Gi"))
	f.rescan()
	f.c.reset()

	for _, mv := range [][2]string{{"web.yaml", "web-renamed.yaml"}, {"two.yaml", "00-first.yml"}, {"web-renamed.yaml", "zz.yaml"}} {
		if err := os.Rename(filepath.Join(f.dir, mv[0]), filepath.Join(f.dir, mv[1])); err != nil {
			t.Fatal(err)
		}
		f.rescan()
	}
	// Split a file in two, and merge two files into one: the same set of domains.
	f.remove("00-first.yml")
	f.write("a.yaml", domainYAML("a", "", "1Gi"))
	f.write("b.yaml", domainYAML("b", "", "1Gi"))
	f.rescan()
	if w := f.c.writes(); w != 0 {
		t.Fatalf("%d store writes for renames", w)
	}
	if p, _ := f.l.File("web"); p != filepath.Join(f.dir, "zz.yaml") {
		t.Errorf("File(web) = %q", p)
	}
}

func TestTwoFilesOneName(t *testing.T) {
	f := newFixture(t)
	f.write("a.yaml", domainYAML("web", "", "512Mi"))
	f.write("b.yaml", domainYAML("web", "", "1Gi"))
	f.rescan()
	if m := f.mustGet("web").Spec.Domain.Memory; m.Cmp(resource.MustParse("512Mi")) != 0 {
		t.Errorf("memory %s: a.yaml should win", m.String())
	}
	ev := find(f.rec.take(), ReasonConflict, "b.yaml")
	if ev == nil || !strings.Contains(ev.msg, "a.yaml") {
		t.Fatalf("no conflict event naming both files")
	}
	f.rescan()
	if evs := f.rec.take(); len(evs) != 0 {
		t.Errorf("conflict reported again: %+v", evs)
	}

	// When the winner goes, the other file takes over.
	f.remove("a.yaml")
	f.rescan()
	if m := f.mustGet("web").Spec.Domain.Memory; m.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("memory %s: b.yaml should have taken over", m.String())
	}
	if d := f.c.deletes.Load(); d != 0 {
		t.Errorf("%d deletes: the domain should have been updated in place", d)
	}
}

func TestTwoNamesOneUUID(t *testing.T) {
	f := newFixture(t)
	f.write("a.yaml", domainYAML("web", uuidWeb, "512Mi"))
	f.write("b.yaml", domainYAML("web2", uuidWeb, "512Mi"))
	f.rescan()
	if f.get("web") == nil || f.get("web2") != nil {
		t.Fatal("want web only")
	}
	if find(f.rec.take(), ReasonConflict, uuidWeb) == nil {
		t.Error("no conflict event for the uuid")
	}
}

func TestFileRemovedDeletesObject(t *testing.T) {
	f := newFixture(t)
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	f.write("db.yaml", domainYAML("db", uuidDB, "2Gi"))
	f.rescan()
	f.c.reset()
	f.remove("web.yaml")
	f.rescan()
	if f.c.deletes.Load() != 1 || f.get("web") != nil || f.get("db") == nil {
		t.Fatalf("deletes %d; web %v", f.c.deletes.Load(), f.get("web") != nil)
	}
	if find(f.rec.take(), ReasonRemoved, "") == nil {
		t.Error("no SpecRemoved event")
	}
}

func TestObjectBeingDeletedIsNotDeletedAgain(t *testing.T) {
	f := newFixture(t)
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	f.rescan()
	// A finalizer keeps the object while the reconciler shuts the domain down.
	web := f.mustGet("web")
	web.Finalizers = []string{"virtxend.io/domain"}
	if err := f.c.Update(context.Background(), web); err != nil {
		t.Fatal(err)
	}
	f.remove("web.yaml")
	f.rescan()
	if f.mustGet("web").DeletionTimestamp == nil {
		t.Fatal("not being deleted")
	}
	f.c.reset()
	// Re-adding the file while the old domain is still going: wait, then create.
	f.write("web.yaml", domainYAML("web", uuidWeb, "1Gi"))
	f.rescan()
	if w := f.c.writes(); w != 0 {
		t.Fatalf("%d writes while the object is being deleted", w)
	}
	web = f.mustGet("web")
	web.Finalizers = nil
	if err := f.c.Update(context.Background(), web); err != nil {
		t.Fatal(err)
	}
	f.rescan()
	if m := f.mustGet("web").Spec.Domain.Memory; m.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Fatalf("memory %s after re-adding", m.String())
	}
}

func TestUUIDChangeReplacesObject(t *testing.T) {
	f := newFixture(t)
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	f.rescan()
	f.write("web.yaml", domainYAML("web", uuidDB, "512Mi"))
	f.rescan() // deletes the old object
	f.rescan() // creates the new one
	if web := f.mustGet("web"); web.Spec.Domain.UUID != uuidDB {
		t.Fatalf("uuid %s, want %s", web.Spec.Domain.UUID, uuidDB)
	}
	if find(f.rec.take(), ReasonReplaced, "web.yaml") == nil {
		t.Error("no SpecReplaced event")
	}
}

func TestOtherSourceWins(t *testing.T) {
	f := newFixture(t)
	def := &v1alpha1.XenDomain{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: v1alpha1.LocalNamespace, UID: "11111111-2222-3333-4444-555555555555",
			Labels: map[string]string{v1alpha1.LabelSource: v1alpha1.SourceKindDefine},
		},
		Spec: v1alpha1.XenDomainSpec{RunStrategy: v1alpha1.RunStrategyManual, Domain: v1alpha1.DomainSpec{
			Name: "web", UUID: "11111111-2222-3333-4444-555555555555", Memory: resource.MustParse("1Gi"),
		}},
	}
	if err := f.c.Create(context.Background(), def); err != nil {
		t.Fatal(err)
	}
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	f.write("other.yaml", domainYAML("other", "11111111-2222-3333-4444-555555555555", "512Mi"))
	f.c.reset()
	f.rescan()
	if w := f.c.writes(); w != 0 {
		t.Fatalf("%d writes: a define must not be touched", w)
	}
	evs := f.rec.take()
	if ev := find(evs, ReasonConflict, "web.yaml"); ev == nil || ev.name != "web" || !strings.Contains(ev.msg, "define") {
		t.Errorf("no conflict event for web: %+v", evs)
	}
	if find(evs, ReasonConflict, "other.yaml") == nil {
		t.Errorf("no conflict event for the uuid of other: %+v", evs)
	}
}

func TestIgnoredEntries(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{".web.yaml", "web.yaml~", ".web.yaml.swp", "#web.yaml#", "README", "web.cfg.bak"} {
		f.write(n, domainYAML("x"+fmt.Sprint(len(n)), "", "1Gi"))
	}
	if err := os.Mkdir(filepath.Join(f.dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(f.dir, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink to a regular file counts; a dangling one does not.
	target := filepath.Join(t.TempDir(), "real.yaml")
	if err := os.WriteFile(target, []byte(domainYAML("linked", "", "1Gi")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(f.dir, "linked.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent", filepath.Join(f.dir, "dangling.yaml")); err != nil {
		t.Fatal(err)
	}
	f.write("empty.yaml", "") // being written: silently skipped
	f.rescan()
	if n := f.count(); n != 1 || f.get("linked") == nil {
		t.Fatalf("%d objects, want only linked", n)
	}
	if evs := f.rec.take(); len(evs) != 1 || evs[0].reason != ReasonLoaded {
		t.Errorf("events: %+v", evs)
	}
}

func TestMissingDirectory(t *testing.T) {
	f := newFixture(t)
	f.l = New(filepath.Join(f.dir, "missing"), f.c, Options{})
	f.rescan()
	if n := f.count(); n != 0 {
		t.Fatal(n)
	}
}

func TestPausedFollowsFileChangesOnly(t *testing.T) {
	f := newFixture(t)
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	f.rescan()
	// The facade pauses the domain (virsh suspend).
	web := f.mustGet("web")
	web.Spec.Paused = true
	if err := f.c.Update(context.Background(), web); err != nil {
		t.Fatal(err)
	}
	f.write("web.yaml", domainYAML("web", uuidWeb, "1Gi"))
	f.rescan()
	if web := f.mustGet("web"); !web.Spec.Paused || web.Spec.Domain.Memory.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Fatalf("paused %v memory %s", web.Spec.Paused, web.Spec.Domain.Memory.String())
	}
	// The file says paused: true, then false: the file wins when it changes.
	f.write("web.yaml", strings.Replace(domainYAML("web", uuidWeb, "1Gi"), "spec:\n", "spec:\n  paused: true\n", 1))
	f.rescan()
	f.write("web.yaml", domainYAML("web", uuidWeb, "1Gi"))
	f.rescan()
	if f.mustGet("web").Spec.Paused {
		t.Fatal("still paused after the file unpaused it")
	}
}

func TestLabelsDroppedFromFileAreRemoved(t *testing.T) {
	f := newFixture(t)
	f.write("web.yaml", strings.Replace(domainYAML("web", uuidWeb, "512Mi"), "  name: web\n", "  name: web\n  labels: {tier: web}\n", 1))
	f.rescan()
	if f.mustGet("web").Labels["tier"] != "web" {
		t.Fatal("label not applied")
	}
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	f.rescan()
	web := f.mustGet("web")
	if _, ok := web.Labels["tier"]; ok || web.Labels[v1alpha1.LabelSource] != "file" {
		t.Fatalf("labels %v", web.Labels)
	}
}

// TestWatchPicksUpNewFile checks that fsnotify, not the periodic rescan, applies a new file.
func TestWatchPicksUpNewFile(t *testing.T) {
	f := newFixture(t)
	f.l = New(f.dir, f.c, Options{Rescan: time.Hour, Recorder: f.rec})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.l.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-f.l.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("not synced")
	}
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	waitFor(t, 10*time.Second, func() bool { return f.get("web") != nil })
	f.remove("web.yaml")
	waitFor(t, 10*time.Second, func() bool { return f.get("web") == nil })
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkInitialScan1000(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		name := fmt.Sprintf("dom%04d", i)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(domainYAML(name, "", "256Mi")), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		c := newClient(b)
		l := New(dir, c, Options{})
		b.StartTimer()
		if err := l.Rescan(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		var list v1alpha1.XenDomainList
		if err := c.List(context.Background(), &list); err != nil || len(list.Items) != 1000 {
			b.Fatalf("%d objects, %v", len(list.Items), err)
		}
		b.StartTimer()
	}
}

// TestListLargeDirectory: a directory larger than one getdents buffer is listed whole and sorted, as os.ReadDir
// sees it, and a listing of known files returns the known path strings, allocating only the list.
func TestListLargeDirectory(t *testing.T) {
	f := newFixture(t)
	for i := range 3000 {
		if err := os.WriteFile(filepath.Join(f.dir, fmt.Sprintf("domain-with-a-long-name-%05d.yaml", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.write("notes.txt", "")
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range ents {
		if relevant(e.Name()) {
			want = append(want, filepath.Join(f.dir, e.Name()))
		}
	}
	got, err := f.l.list()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d paths, os.ReadDir %d (first %.3q, want %.3q)", len(got), len(want), got, want)
	}
	f.l.paths = got
	again, err := f.l.list()
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if unsafe.StringData(again[i]) != unsafe.StringData(got[i]) {
			t.Fatalf("%s listed again as a new string", again[i])
		}
	}
	// The list itself, the buffer and the directory's descriptor; nothing per file.
	if n := testing.AllocsPerRun(5, func() { _, _ = f.l.list() }); n > 3 {
		t.Errorf("a listing of %d known files allocates %.0f times", len(got), n)
	}
}
