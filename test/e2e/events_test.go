package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startVirshEvent runs `virsh event --all --loop --timeout N` in the background; wait returns what it printed
// and its exit code once it ends.
func (i *instance) startVirshEvent(timeout string, extra ...string) (wait func() (string, int)) {
	i.t.Helper()
	needTool(i.t, "/usr/bin/virsh")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	args := append([]string{"-c", i.URI(), "event", "--loop", "--timeout", timeout}, extra...)
	cmd := exec.CommandContext(ctx, "/usr/bin/virsh", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LIBVIRT_DEFAULT_URI=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		i.t.Fatal(err)
	}
	i.t.Cleanup(cancel)
	return func() (string, int) {
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return out.String(), code
	}
}

// TestVirshEventAll: virsh event --all registers every event id and prints the lifecycle (and reboot) events
// another virsh causes, in order.
func TestVirshEventAll(t *testing.T) {
	i := startInstance(t)
	wait := i.startVirshEvent("6", "--all")
	// virsh registers its 27 callbacks within milliseconds; give it ample time before acting.
	time.Sleep(time.Second)
	i.MustVirsh("define", i.xmlFile("ev.xml", lifecycleXML("ev", "6695eb01-f6a4-8304-79aa-97f2502e193f")))
	i.MustVirsh("start", "ev")
	i.MustVirsh("suspend", "ev")
	i.MustVirsh("resume", "ev")
	id := strings.TrimSpace(i.MustVirsh("domid", "ev"))
	i.MustVirsh("reboot", "ev")
	i.Eventually("ev rebooted", 10*time.Second, func() bool {
		now := strings.TrimSpace(i.Virsh("domid", "ev").Stdout)
		return now != id && now != "-" && now != ""
	})
	i.MustVirsh("destroy", "ev")
	i.MustVirsh("undefine", "ev")
	out, code := wait()
	want := []string{
		"event 'lifecycle' for domain 'ev': Defined Added",
		"event 'lifecycle' for domain 'ev': Started Booted",
		"event 'lifecycle' for domain 'ev': Suspended Paused",
		"event 'lifecycle' for domain 'ev': Resumed Unpaused",
		"event 'lifecycle' for domain 'ev': Stopped Shutdown",
		"event 'lifecycle' for domain 'ev': Started Booted",
		"event 'reboot' for domain 'ev'",
		"event 'lifecycle' for domain 'ev': Stopped Destroyed",
		"event 'lifecycle' for domain 'ev': Undefined Removed",
		"event loop timed out",
	}
	rest := out
	for _, w := range want {
		k := strings.Index(rest, w)
		if k < 0 {
			t.Fatalf("virsh event output lacks %q (in order):\n%s", w, out)
		}
		rest = rest[k+len(w):]
	}
	if code != 0 {
		t.Errorf("virsh event exit %d after receiving events:\n%s", code, out)
	}
	if !strings.Contains(out, "events received: 9") {
		t.Errorf("event count:\n%s", out)
	}
}

// TestVirshEventFiltered: a callback for one domain and one event hears only those.
func TestVirshEventFiltered(t *testing.T) {
	i := startInstance(t)
	i.MustVirsh("define", i.xmlFile("a.xml", lifecycleXML("a", "aaaaaaaa-0000-4000-8000-000000000001")))
	i.MustVirsh("define", i.xmlFile("b.xml", lifecycleXML("b", "bbbbbbbb-0000-4000-8000-000000000002")))
	wait := i.startVirshEvent("4", "--domain", "a", "--event", "lifecycle")
	time.Sleep(time.Second)
	i.MustVirsh("start", "b")
	i.MustVirsh("start", "a")
	i.MustVirsh("destroy", "b")
	i.MustVirsh("destroy", "a")
	out, _ := wait()
	if strings.Contains(out, "domain 'b'") {
		t.Errorf("events of another domain:\n%s", out)
	}
	for _, w := range []string{"event 'lifecycle' for domain 'a': Started Booted", "event 'lifecycle' for domain 'a': Stopped Destroyed", "events received: 2"} {
		if !strings.Contains(out, w) {
			t.Errorf("virsh event lacks %q:\n%s", w, out)
		}
	}
}

// TestVirshEventTimeoutNoEvents: with nothing happening, virsh event times out as against libvirt (trace 37).
func TestVirshEventTimeoutNoEvents(t *testing.T) {
	i := startInstance(t)
	out, code := i.startVirshEvent("1", "--all")()
	if code != 1 || !strings.Contains(out, "event loop timed out") || !strings.Contains(out, "events received: 0") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
