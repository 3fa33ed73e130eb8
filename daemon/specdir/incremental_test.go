package specdir

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
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
			// The first pass after loading compares every domain once and settles it.
			ctx := context.Background()
			if _, err := f.l.pass(ctx, true, map[string]bool{}); err != nil {
				t.Fatal(err)
			}

			edited := filepath.Join(f.dir, "d007.yaml")
			f.write("d007.yaml", domainYAML("d007", "", "128Mi"))
			if _, err := f.l.pass(ctx, true, map[string]bool{edited: true}); err != nil {
				t.Fatal(err)
			}
			if w := f.l.work; w.read != 1 || w.merged != 1 {
				t.Errorf("an edit among %d files read %d files and compared %d domains, want 1 and 1", n, w.read, w.merged)
			}
			if got := f.mustGet("d007").Spec.Domain.Memory; got.String() != "128Mi" {
				t.Errorf("edited domain's memory %v, want 128Mi", got)
			}

			// A new file costs one read too, and a removed one none.
			f.write("new.yaml", domainYAML("new", "", "64Mi"))
			if _, err := f.l.pass(ctx, true, map[string]bool{filepath.Join(f.dir, "new.yaml"): true}); err != nil {
				t.Fatal(err)
			}
			if w := f.l.work; w.read != 1 || f.get("new") == nil {
				t.Errorf("a new file among %d read %d files (want 1); object present: %v", n, w.read, f.get("new") != nil)
			}
			if _, err := f.l.pass(ctx, true, map[string]bool{}); err != nil { // settles the new domain
				t.Fatal(err)
			}
			f.remove("d003.yaml")
			if _, err := f.l.pass(ctx, true, map[string]bool{filepath.Join(f.dir, "d003.yaml"): true}); err != nil {
				t.Fatal(err)
			}
			if w := f.l.work; w.read != 1 || w.merged != 0 || f.get("d003") != nil {
				t.Errorf("a removal among %d read %d files and compared %d domains (want 1, 0); object left: %v",
					n, w.read, w.merged, f.get("d003") != nil)
			}

			// A periodic rescan stats every file but compares no unchanged domain.
			if _, err := f.l.pass(ctx, true, nil); err != nil {
				t.Fatal(err)
			}
			if w := f.l.work; w.read != n || w.merged != 0 {
				t.Errorf("a rescan of %d unchanged files stat'ed %d and compared %d domains, want %d and 0", n, w.read, w.merged, n)
			}
		})
	}
}
