package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestSmokeVirshList: the daemon starts from a private directory, runs a dropped-in spec, and virsh lists it on
// both sockets.
func TestSmokeVirshList(t *testing.T) {
	i := startInstance(t)
	i.WriteSpec("web.yaml", pvSpec("web", 64, "Always"))
	i.Eventually("web running", 10*time.Second, func() bool {
		return strings.Contains(i.Virsh("list").Stdout, "web")
	})
	out := i.MustVirsh("list", "--all")
	for _, want := range []string{"Domain-0", "web", "running"} {
		if !strings.Contains(out, want) {
			t.Errorf("virsh list --all lacks %q:\n%s", want, out)
		}
	}
	needTool(t, "/usr/bin/virsh")
	ro := run(t, "/usr/bin/virsh", "-r", "-c", i.RO(), "list")
	if ro.Code != 0 || !strings.Contains(ro.Stdout, "web") {
		t.Fatalf("read-only list: %+v", ro)
	}
}
