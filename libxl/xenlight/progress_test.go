//go:build xenlight

package xenlight

import (
	"testing"

	"github.com/virtxend/virtxend/libxl"
)

// TestSendProgress feeds the reports libxc writes during a live save of a 1,024-page guest (two pre-copy
// rounds, the suspension, the last round) and checks what the job sees after each.
func TestSendProgress(t *testing.T) {
	h := &Hypervisor{pageKiB: 4}
	var got []libxl.MigrationProgress
	end := h.progressFor(func(p libxl.MigrationProgress) { got = append(got, p) })
	other := h.progressFor(func(libxl.MigrationProgress) { t.Error("a second send got the first one's reports") })
	s := h.progress.Load()
	const page = 4096
	steps := []struct {
		doing       string
		done, total uint64
		want        libxl.MigrationProgress
	}{
		{"Frames iteration 0", 0, 1024, libxl.MigrationProgress{Iteration: 1, Processed: 0, Remaining: 1024 * page, Total: 1024 * page}},
		{"Frames iteration 0", 1024, 1024, libxl.MigrationProgress{Iteration: 1, Processed: 1024 * page, Remaining: 0, Total: 1024 * page}},
		{"Frames iteration 1", 10, 40, libxl.MigrationProgress{Iteration: 2, Processed: 1034 * page, Remaining: 30 * page, Total: 1024 * page}},
		{"Frames iteration 1", 40, 40, libxl.MigrationProgress{Iteration: 2, Processed: 1064 * page, Remaining: 0, Total: 1024 * page}},
		{"Domain now suspended", 0, 0, libxl.MigrationProgress{Iteration: 2, Processed: 1064 * page, Remaining: 0, Total: 1024 * page, Suspended: true}},
		{"Frames iteration 2", 5, 5, libxl.MigrationProgress{Iteration: 3, Processed: 1069 * page, Remaining: 0, Total: 1024 * page, Suspended: true}},
		{"Checkpointed save", 1, 1, libxl.MigrationProgress{}}, // not a copy round: no report
	}
	for i, st := range steps {
		n := len(got)
		s.step(st.doing, st.done, st.total)
		if st.want == (libxl.MigrationProgress{}) {
			if len(got) != n {
				t.Errorf("step %d (%q): reported %+v", i, st.doing, got[len(got)-1])
			}
			continue
		}
		if len(got) != n+1 || got[n] != st.want {
			t.Fatalf("step %d (%q %d/%d): got %+v, want %+v", i, st.doing, st.done, st.total, got[n:], st.want)
		}
	}
	other()
	if h.progress.Load() != s {
		t.Fatal("the second send's end took the first one's registration")
	}
	end()
	if h.progress.Load() != nil {
		t.Fatal("the registration outlived its send")
	}
	if h.progressFor(nil)(); h.progress.Load() != nil {
		t.Fatal("a send without a callback registered one")
	}
}
