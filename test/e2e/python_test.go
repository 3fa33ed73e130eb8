package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/test/testenv"
)

// pythonLifecycle drives a domain through libvirt-python and reports what it saw as JSON. Lifecycle events
// come from the default event loop implementation, as applications use it.
const pythonLifecycle = `
import json, sys, threading, libvirt

libvirt.virEventRegisterDefaultImpl()
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()

uri, xml = sys.argv[1], sys.argv[2]
conn = libvirt.open(uri)
events, done = [], threading.Event()
def on_lifecycle(conn, dom, event, detail, opaque):
    events.append([dom.name(), event, detail])
    if event == libvirt.VIR_DOMAIN_EVENT_UNDEFINED:
        done.set()
cb = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle, None)

out = {"type": conn.getType(), "uri": conn.getURI()}
dom = conn.defineXML(xml)
out["persistent"] = dom.isPersistent()
dom.create()
out["active"] = dom.isActive()
out["id"] = dom.ID()
out["state"] = dom.state()
out["xml_has_id"] = ("id='%d'" % dom.ID()) in dom.XMLDesc(0)
dom.suspend()
out["paused"] = dom.state()
dom.resume()
dom.destroy()
out["after_destroy"] = dom.state()
dom.undefine()
try:
    conn.lookupByName("py")
    out["lookup_error"] = None
except libvirt.libvirtError as e:
    out["lookup_error"] = e.get_error_code()
try:
    conn.lookupByName("Domain-0").destroy()
except libvirt.libvirtError as e:
    out["dom0_error"] = [e.get_error_code(), e.get_error_message()]
done.wait(10)
conn.domainEventDeregisterAny(cb)
out["events"] = events
conn.close()
print(json.dumps(out))
`

func TestPythonLibvirtLifecycle(t *testing.T) {
	needTool(t, "/usr/bin/python3")
	if r := run(t, "/usr/bin/python3", "-c", "import libvirt"); r.Code != 0 {
		testenv.Missing(t, "python3-libvirt ("+strings.TrimSpace(r.Stderr)+")", "make test-deps")
	}
	i := startInstance(t)
	r := run(t, "/usr/bin/python3", "-c", pythonLifecycle, i.URI(), lifecycleXML("py", "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"))
	if r.Code != 0 {
		t.Fatalf("python exit %d\nstdout: %s\nstderr: %s\ndaemon log:\n%s", r.Code, r.Stdout, r.Stderr, tail(i.Log(), 30))
	}
	var got struct {
		Type, URI    string
		Persistent   int
		Active       int
		ID           int
		State        []int
		XMLHasID     bool `json:"xml_has_id"`
		Paused       []int
		AfterDestroy []int `json:"after_destroy"`
		LookupError  *int  `json:"lookup_error"`
		Dom0Error    []any `json:"dom0_error"`
		Events       [][]any
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatalf("python output %q: %v", r.Stdout, err)
	}
	if got.Type != "Xen" || got.Persistent != 1 || got.Active != 1 || got.ID <= 0 || !got.XMLHasID {
		t.Errorf("python saw %+v", got)
	}
	if len(got.State) != 2 || got.State[0] != 1 || got.State[1] != 1 {
		t.Errorf("state after create %v, want running/booted", got.State)
	}
	if len(got.Paused) != 2 || got.Paused[0] != 3 || got.Paused[1] != 1 {
		t.Errorf("state after suspend %v, want paused/user", got.Paused)
	}
	if len(got.AfterDestroy) != 2 || got.AfterDestroy[0] != 5 || got.AfterDestroy[1] != 2 {
		t.Errorf("state after destroy %v, want shutoff/destroyed", got.AfterDestroy)
	}
	if got.LookupError == nil || *got.LookupError != 42 {
		t.Errorf("lookup of an undefined domain: %v, want VIR_ERR_NO_DOMAIN", got.LookupError)
	}
	if len(got.Dom0Error) != 2 || got.Dom0Error[0] != float64(55) || !strings.Contains(got.Dom0Error[1].(string), "Domain-0 does not support") {
		t.Errorf("destroy of Domain-0: %v", got.Dom0Error)
	}
	// DEFINED/ADDED, STARTED/BOOTED, SUSPENDED/PAUSED, RESUMED/UNPAUSED, STOPPED/DESTROYED, UNDEFINED/REMOVED.
	want := [][2]float64{{0, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 1}, {1, 0}}
	if len(got.Events) != len(want) {
		t.Fatalf("events %v, want %v", got.Events, want)
	}
	for k, w := range want {
		ev := got.Events[k]
		if ev[0] != "py" || ev[1] != w[0] || ev[2] != w[1] {
			t.Errorf("event %d: %v, want %v", k, ev, w)
		}
	}
}
