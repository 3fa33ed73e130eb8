package defines

import (
	"os"
	"testing"
)

// TestInterruptedDeleteLeavesUndefined: Delete removes NAME.xml before the autostart link, so a crash between the
// two leaves the domain undefined with a dangling link; neither Load nor a new definition of the name then turns
// autostart on.
func TestInterruptedDeleteLeavesUndefined(t *testing.T) {
	tests := []struct {
		name  string
		after func(f *fixture)
	}{
		{"load removes the link", func(f *fixture) {
			f.load()
			if _, err := os.Lstat(f.s.AutostartPath("web")); !os.IsNotExist(err) {
				t.Errorf("the dangling autostart link is still there: %v", err)
			}
			if f.get("web") != nil {
				t.Error("the domain is still defined")
			}
		}},
		{"a new definition starts without autostart", func(f *fixture) {
			f.save(spec("web", "", "256Mi"))
			if f.s.Autostart("web") {
				t.Error("the new definition is autostarted through the old link")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.save(spec("web", "", "512Mi"))
			if err := f.s.SetAutostart("web", true); err != nil {
				t.Fatal(err)
			}
			// The crash: NAME.xml is gone, the link not yet.
			if err := os.Remove(f.s.Path("web")); err != nil {
				t.Fatal(err)
			}
			tc.after(f)
		})
	}
}
