package specdir

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// TestEditedFileCostsOneDomain checks that a pass after an event on one file reads that file and compares that
// one domain with its file, however many domains the directory holds: the edit path must not grow with n.
func TestEditedFileCostsOneDomain(t *testing.T) {
	for _, n := range []int{10, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			st := newClient(t)
			f := &fixture{t: t, dir: t.TempDir(), c: &countingClient{Client: st}, rec: &recorder{}}
			f.l = New(f.dir, st, Options{Recorder: f.rec}) // the store itself: objects listed uncopied
			for i := range n {
				f.write(fmt.Sprintf("d%03d.yaml", i), domainYAML(fmt.Sprintf("d%03d", i), "", "64Mi"))
			}
			f.rescan()
			// The first rescan after loading compares every domain once and settles it.
			ctx := context.Background()
			if _, err := f.l.pass(ctx, true, nil); err != nil {
				t.Fatal(err)
			}

			edited := filepath.Join(f.dir, "d007.yaml")
			f.write("d007.yaml", domainYAML("d007", "", "128Mi"))
			if _, err := f.l.pass(ctx, true, map[string]bool{edited: true}); err != nil {
				t.Fatal(err)
			}
			// One claim resolved, one name applied: nothing visits the other domains.
			if w := f.l.work; w.read != 1 || w.merged != 1 || w.visited != 2 {
				t.Errorf("an edit among %d files read %d files, compared %d domains and visited %d claims and names, want 1, 1 and 2",
					n, w.read, w.merged, w.visited)
			}
			if got := f.mustGet("d007").Spec.Domain.Memory; got.String() != "128Mi" {
				t.Errorf("edited domain's memory %v, want 128Mi", got)
			}

			// A new file costs one read too, and a removed one none.
			f.write("new.yaml", domainYAML("new", "", "64Mi"))
			if _, err := f.l.pass(ctx, true, map[string]bool{filepath.Join(f.dir, "new.yaml"): true}); err != nil {
				t.Fatal(err)
			}
			if w := f.l.work; w.read != 1 || w.visited != 2 || f.get("new") == nil {
				t.Errorf("a new file among %d read %d files and visited %d claims and names (want 1, 2); object present: %v",
					n, w.read, w.visited, f.get("new") != nil)
			}
			if _, err := f.l.pass(ctx, true, nil); err != nil { // settles the new domain
				t.Fatal(err)
			}
			f.remove("d003.yaml")
			if _, err := f.l.pass(ctx, true, map[string]bool{filepath.Join(f.dir, "d003.yaml"): true}); err != nil {
				t.Fatal(err)
			}
			if w := f.l.work; w.read != 1 || w.merged != 0 || w.visited != 1 || f.get("d003") != nil {
				t.Errorf("a removal among %d read %d files, compared %d domains and visited %d names (want 1, 0, 1); object left: %v",
					n, w.read, w.merged, w.visited, f.get("d003") != nil)
			}

			// A periodic rescan stats every file but compares no unchanged domain, and visits none.
			if _, err := f.l.pass(ctx, true, nil); err != nil {
				t.Fatal(err)
			}
			if w := f.l.work; w.read != n || w.merged != 0 || w.visited != 0 {
				t.Errorf("a rescan of %d unchanged files stat'ed %d, compared %d domains and visited %d, want %d, 0 and 0",
					n, w.read, w.merged, w.visited, n)
			}
			// One edited behind the watcher's back is found by the rescan, at the cost of one domain.
			f.write("d009.yaml", domainYAML("d009", "", "256Mi"))
			if _, err := f.l.pass(ctx, true, nil); err != nil {
				t.Fatal(err)
			}
			if w := f.l.work; w.read != n+1 || w.merged != 1 || w.visited != 2 {
				t.Errorf("a rescan finding one edit among %d stat'ed %d, compared %d domains and visited %d, want %d, 1 and 2",
					n, w.read, w.merged, w.visited, n+1)
			}
			if got := f.mustGet("d009").Spec.Domain.Memory; got.String() != "256Mi" {
				t.Errorf("domain edited behind the watcher: memory %v, want 256Mi", got)
			}
		})
	}
}

// TestEventPassesAgreeWithFullPasses checks that the incremental passes after events resolve the claims as a
// full pass would, through files that claim the same names and UUIDs, files that stop parsing, removals, and a
// domain of another source holding a name and a UUID.
func TestEventPassesAgreeWithFullPasses(t *testing.T) {
	st := newClient(t)
	f := &fixture{t: t, dir: t.TempDir(), c: &countingClient{Client: st}, rec: &recorder{}}
	f.l = New(f.dir, st, Options{Recorder: f.rec})
	ctx := context.Background()
	other := &v1alpha1.XenDomain{}
	other.Name, other.Namespace = "w", v1alpha1.LocalNamespace
	other.Labels = map[string]string{v1alpha1.LabelSource: v1alpha1.SourceKindDefine}
	other.Spec.Domain.UUID = "33333333-3333-3333-3333-333333333333"
	if err := st.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	f.rescan()

	names := []string{"dx", "dy", "dz", "w"}
	uuids := []string{"", "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222", other.Spec.Domain.UUID}
	files := []string{"a.yaml", "b.yaml", "c.yaml", "d.yaml"}
	rnd := rand.New(rand.NewPCG(1, 2))
	for step := range 300 {
		file := files[rnd.IntN(len(files))]
		path := filepath.Join(f.dir, file)
		switch k := rnd.IntN(10); {
		case k < 2:
			if _, err := os.Stat(path); err == nil {
				f.remove(file)
			}
		case k < 3:
			f.write(file, "kind: [") // does not parse: the last good version stays
		default:
			doc := domainYAML(names[rnd.IntN(len(names))], uuids[rnd.IntN(len(uuids))], fmt.Sprintf("%dMi", 64+step))
			if rnd.IntN(3) == 0 {
				doc += "---\n" + domainYAML(names[rnd.IntN(len(names))], uuids[rnd.IntN(len(uuids))], "32Mi")
			}
			f.write(file, doc)
		}
		again, err := f.l.pass(ctx, true, map[string]bool{path: true})
		for i := 0; err == nil && again && i < 3; i++ {
			again, err = f.l.pass(ctx, true, map[string]bool{})
		}
		if err != nil {
			t.Fatal(err)
		}

		listed, err := f.l.list()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(listed, f.l.paths) {
			t.Fatalf("step %d: paths %v, the directory has %v", step, f.l.paths, listed)
		}
		all, err := f.l.listObjects(ctx)
		if err != nil {
			t.Fatal(err)
		}
		full := f.l.desired(f.l.paths, all)
		got := map[string]string{}
		for n, w := range f.l.wants {
			got[n] = w.path
		}
		want := map[string]string{}
		for n, w := range full {
			want[n] = w.path
		}
		if !maps.Equal(got, want) {
			t.Fatalf("step %d: event passes resolved %v, a full pass %v", step, got, want)
		}
		stored := map[string]bool{}
		for _, o := range all {
			if o.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindFile {
				stored[o.Name] = true
			}
		}
		for n := range want {
			if !stored[n] && !f.l.pending[n] {
				t.Errorf("step %d: %q is wanted but not stored, and not pending", step, n)
			}
		}
		for n := range stored {
			if want[n] == "" && !f.l.pending[n] {
				t.Errorf("step %d: %q is stored but no file wants it", step, n)
			}
		}
		if p, ok := f.l.File("w"); ok {
			t.Fatalf("step %d: the define domain w is owned by %s", step, p)
		}
	}
}

// TestEventPassFollowsUUIDChains checks that an edit re-resolves the claims linked to the edited one by a UUID:
// a file that lost its UUID to another wins it once that other file lets it go.
func TestEventPassFollowsUUIDChains(t *testing.T) {
	st := newClient(t)
	f := &fixture{t: t, dir: t.TempDir(), c: &countingClient{Client: st}, rec: &recorder{}}
	f.l = New(f.dir, st, Options{Recorder: f.rec})
	const u1, u2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	f.write("a.yaml", domainYAML("dx", u1, "64Mi"))
	f.write("b.yaml", domainYAML("dy", u1, "64Mi"))
	f.rescan()
	if f.get("dx") == nil || f.get("dy") != nil {
		t.Fatalf("dx stored: %v, dy stored: %v; want dx only", f.get("dx") != nil, f.get("dy") != nil)
	}
	f.write("a.yaml", domainYAML("dx", u2, "64Mi"))
	ctx := context.Background()
	again, err := f.l.pass(ctx, true, map[string]bool{filepath.Join(f.dir, "a.yaml"): true})
	for i := 0; err == nil && again && i < 3; i++ {
		again, err = f.l.pass(ctx, true, map[string]bool{})
	}
	if err != nil {
		t.Fatal(err)
	}
	if f.get("dx") == nil || f.get("dy") == nil || f.mustGet("dy").DomainUUID() != u1 {
		t.Errorf("after dx moved to another uuid: dx stored %v, dy stored %v; want both, dy with %s", f.get("dx") != nil, f.get("dy") != nil, u1)
	}
}

// TestEventPassRetriesLostClaims checks that a claim that lost to a domain of another source is applied by the
// next pass once that domain is gone, though its file did not change.
func TestEventPassRetriesLostClaims(t *testing.T) {
	st := newClient(t)
	f := &fixture{t: t, dir: t.TempDir(), c: &countingClient{Client: st}, rec: &recorder{}}
	f.l = New(f.dir, st, Options{Recorder: f.rec})
	ctx := context.Background()
	other := &v1alpha1.XenDomain{}
	other.Name, other.Namespace = "dw", v1alpha1.LocalNamespace
	other.Labels = map[string]string{v1alpha1.LabelSource: v1alpha1.SourceKindDefine}
	if err := st.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	f.write("c.yaml", domainYAML("dw", "", "64Mi"))
	f.rescan()
	if src := f.mustGet("dw").Labels[v1alpha1.LabelSource]; src != v1alpha1.SourceKindDefine {
		t.Fatalf("dw is from %q, want the define to keep it", src)
	}
	if err := st.Delete(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.pass(ctx, true, map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	if o := f.get("dw"); o == nil || o.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindFile {
		t.Errorf("dw after the define went: %v, want the file's", o)
	}
}

// TestWatchedRescanListsOnly checks that a periodic rescan while the directory is watched stats no file, yet
// finds a new file and a removed one, and that the full rescan every fullRescan-th time stats them all.
func TestWatchedRescanListsOnly(t *testing.T) {
	st := newClient(t)
	f := &fixture{t: t, dir: t.TempDir(), c: &countingClient{Client: st}, rec: &recorder{}}
	f.l = New(f.dir, st, Options{Recorder: f.rec})
	const n = 50
	for i := range n {
		f.write(fmt.Sprintf("d%03d.yaml", i), domainYAML(fmt.Sprintf("d%03d", i), "", "64Mi"))
	}
	f.rescan()
	ctx := context.Background()
	f.l.watched = true
	f.write("new.yaml", domainYAML("new", "", "64Mi"))
	f.remove("d001.yaml")
	if _, err := f.l.pass(ctx, true, nil); err != nil {
		t.Fatal(err)
	}
	if w := f.l.work; w.read != 2 || w.visited != 3 || f.get("new") == nil || f.get("d001") != nil {
		t.Errorf("a watched rescan stat'ed or read %d files and visited %d (want 2 and 3: a claim and two names); new stored %v, d001 stored %v",
			w.read, w.visited, f.get("new") != nil, f.get("d001") != nil)
	}
	for f.l.rescans%fullRescan != fullRescan-1 {
		if _, err := f.l.pass(ctx, true, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.l.pass(ctx, true, nil); err != nil { // the full one
		t.Fatal(err)
	}
	if w := f.l.work; w.read != n {
		t.Errorf("the full rescan stat'ed %d files, want %d", w.read, n)
	}
}

// TestPassesKeepNoObjects checks that no pass keeps the objects it decoded (the files' content is enough to
// decode them again when a domain changes), and that a full pass after the reconciler wrote every domain's
// status compares none of them with its file: a status write changes neither spec, labels nor annotations.
func TestPassesKeepNoObjects(t *testing.T) {
	const n = 50
	st := newClient(t)
	f := &fixture{t: t, dir: t.TempDir(), c: &countingClient{Client: st}, rec: &recorder{}}
	f.l = New(f.dir, st, Options{Recorder: f.rec})
	for i := range n {
		f.write(fmt.Sprintf("d%03d.yaml", i), domainYAML(fmt.Sprintf("d%03d", i), "", "64Mi"))
	}
	f.rescan()
	f.rescan() // compares every domain once and settles it
	held := func() int {
		k := 0
		for _, fs := range f.l.files {
			if fs.objs != nil {
				k++
			}
		}
		return k
	}
	if k := held(); k != 0 {
		t.Fatalf("%d of %d files keep their objects after a pass", k, n)
	}
	ctx := context.Background()
	for i := range n {
		o := f.mustGet(fmt.Sprintf("d%03d", i))
		o.Status.State = v1alpha1.StateRunning
		if err := st.Status().Update(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	f.rescan()
	if w := f.l.work; w.merged != 0 {
		t.Errorf("a full pass after %d status writes compared %d domains with their files, want 0", n, w.merged)
	}
	// An edit still reaches its domain: the edited file is decoded, and only it.
	f.write("d007.yaml", domainYAML("d007", "", "128Mi"))
	f.rescan()
	if got := f.mustGet("d007").Spec.Domain.Memory; got.String() != "128Mi" || f.l.work.merged != 1 {
		t.Errorf("edited domain's memory %v after a pass comparing %d domains, want 128Mi and 1", got, f.l.work.merged)
	}
	if k := held(); k != 0 {
		t.Errorf("%d files keep their objects after the edit's pass", k)
	}
	// A change made to the stored spec by someone else is put back from the file, decoded again.
	o := f.mustGet("d009")
	o.Spec.Domain.Memory = resource.MustParse("1Gi")
	if err := st.Update(ctx, o); err != nil {
		t.Fatal(err)
	}
	f.rescan()
	if got := f.mustGet("d009").Spec.Domain.Memory; got.String() != "64Mi" {
		t.Errorf("a spec changed in the store is %v after a full pass, want the file's 64Mi", got)
	}
}
