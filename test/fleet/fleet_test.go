package fleet

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestObjectsLandOnTheirNodes: objects created with kubectl run on their node only; virsh on each host shows its
// own; kubectl get -o wide shows node, state, domid and readiness; describe shows the transition events.
func TestObjectsLandOnTheirNodes(t *testing.T) {
	a, b := hosts(t)
	apply(t, domainYAML("web-a", "host-a", "Always")+"---\n"+domainYAML("web-b", "host-b", "Always"))
	eventually(t, "web-a running on host-a", time.Minute, func() bool { return a.state("web-a") == "running" }, a)
	eventually(t, "web-b running on host-b", time.Minute, func() bool { return b.state("web-b") == "running" }, b)
	if s := a.state("web-b"); s != "" {
		t.Errorf("host-a lists web-b (%s)", s)
	}
	if s := b.state("web-a"); s != "" {
		t.Errorf("host-b lists web-a (%s)", s)
	}
	if out := a.MustVirsh(t, "list", "--all"); !strings.Contains(out, "web-a") || strings.Contains(out, "web-b") {
		t.Errorf("virsh list on host-a:\n%s", out)
	}
	eventually(t, "status through the API (kubectl get -o wide)", time.Minute, func() bool {
		out, _ := kubectlOut(shared.admin, "get", "xendomains", "-o", "wide")
		return rowHas(out, "web-a", "host-a", "running", "True") && rowHas(out, "web-b", "host-b", "running", "True")
	}, a, b)
	wide := kubectl(t, "get", "xendomains", "-o", "wide")
	t.Logf("kubectl get xendomains -o wide:\n%s", wide)
	for _, col := range []string{"NODE", "STATE", "ID", "READY"} {
		if !strings.Contains(wide, col) {
			t.Errorf("kubectl get -o wide lacks column %s", col)
		}
	}
	eventually(t, "a Started event (kubectl describe)", time.Minute, func() bool {
		out, _ := kubectlOut(shared.admin, "describe", "xendomain", "web-a")
		return strings.Contains(out, "Started")
	}, a)
	if gen := kubectl(t, "get", "xendomain", "web-a", "-o", "jsonpath={.metadata.generation}/{.status.observedGeneration}/{.metadata.finalizers}"); !strings.HasPrefix(gen, "1/1/") || !strings.Contains(gen, "virtxend.io/domain") {
		t.Errorf("generation/observedGeneration/finalizers of web-a: %s", gen)
	}
}

func rowHas(table, name string, words ...string) bool {
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != name {
			continue
		}
		for _, w := range words {
			if !strings.Contains(l, w) {
				return false
			}
		}
		return true
	}
	return false
}

// TestVirshOnFleetHost: lifecycle calls become actions on the object; definition edits are refused naming it.
func TestVirshOnFleetHost(t *testing.T) {
	a, _ := hosts(t)
	apply(t, domainYAML("man-a", "host-a", "Manual"))
	eventually(t, "man-a listed on host-a", time.Minute, func() bool { return a.state("man-a") == "shut off" }, a)
	a.MustVirsh(t, "start", "man-a")
	if s := a.state("man-a"); s != "running" {
		t.Fatalf("after virsh start: %s", s)
	}
	if out := kubectl(t, "get", "xendomain", "man-a", "-o", "jsonpath={.spec.action.verb}/{.status.lastAction.verb}"); out != "Start/Start" {
		t.Errorf("the start is not recorded on the object as an action: %q", out)
	}
	a.MustVirsh(t, "suspend", "man-a")
	if s := a.state("man-a"); s != "paused" {
		t.Errorf("after virsh suspend: %s", s)
	}
	a.MustVirsh(t, "resume", "man-a")
	a.MustVirsh(t, "destroy", "man-a")
	if s := a.state("man-a"); s != "shut off" {
		t.Errorf("after virsh destroy: %s", s)
	}
	xml := a.MustVirsh(t, "dumpxml", "man-a")
	path := t.TempDir() + "/man-a.xml"
	writeFile(t, path, strings.Replace(xml, "<memory unit='KiB'>65536</memory>", "<memory unit='KiB'>131072</memory>", 1))
	for _, args := range [][]string{{"define", path}, {"undefine", "man-a"}, {"autostart", "man-a"}, {"setmaxmem", "man-a", "128M", "--config"}} {
		out, err := a.Virsh(args...)
		if err == nil || !strings.Contains(out, "default/man-a") {
			t.Errorf("virsh %s: want a refusal naming default/man-a, got err=%v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := a.Virsh("create", path); err == nil || !strings.Contains(out, "spec.nodeName") {
		t.Errorf("virsh create: want a refusal, got err=%v\n%s", err, out)
	}
}

// TestNodeIsolation: node A's identity may not touch node B's objects (status, spec, delete), nor edit its own
// objects' definitions, nor create objects.
func TestNodeIsolation(t *testing.T) {
	a, _ := hosts(t)
	apply(t, domainYAML("iso-b", "host-b", "Halted"))
	eventually(t, "iso-b has a status", time.Minute, func() bool {
		out, _ := kubectlOut(shared.admin, "get", "xendomain", "iso-b", "-o", "jsonpath={.status.state}")
		return out == "shutoff"
	})
	try := func(what string, args ...string) {
		t.Helper()
		// The policy takes effect once the API server has loaded it: wait for the refusal, never for a success.
		var out string
		eventually(t, "node A refused: "+what, time.Minute, func() bool {
			var err error
			out, err = kubectlOut(a.Kubeconfig, args...)
			return err != nil && (strings.Contains(out, "Forbidden") || strings.Contains(out, "forbidden") || strings.Contains(out, "denied"))
		})
		t.Logf("%s: %s", what, strings.TrimSpace(out))
	}
	try("status of node B's object", "patch", "xendomain", "iso-b", "--subresource=status", "--type=merge", "-p", `{"status":{"state":"running"}}`)
	try("spec of node B's object", "patch", "xendomain", "iso-b", "--type=merge", "-p", `{"spec":{"runStrategy":"Always"}}`)
	try("move node B's object to itself", "patch", "xendomain", "iso-b", "--type=merge", "-p", `{"spec":{"nodeName":"host-a"}}`)
	try("delete node B's object", "delete", "xendomain", "iso-b", "--wait=false")
	apply(t, domainYAML("iso-a", "host-a", "Halted"))
	try("the definition of its own object", "patch", "xendomain", "iso-a", "--type=merge", "-p", `{"spec":{"domain":{"memory":"128Mi"}}}`)
	try("create an object", "create", "-f", writeTemp(t, domainYAML("iso-new", "host-a", "Halted")))
	if out, err := kubectlOut(a.Kubeconfig, "patch", "xendomain", "iso-a", "--type=merge", "-p", `{"spec":{"paused":true}}`); err != nil {
		t.Errorf("node A may write the lifecycle fields of its own object: %v\n%s", err, out)
	}
	kubectl(t, "delete", "xendomain", "iso-a", "iso-b")
}

// TestMoveBetweenNodes: an object moved from A to B by editing spec.nodeName while stopped starts on B only.
func TestMoveBetweenNodes(t *testing.T) {
	a, b := hosts(t)
	apply(t, domainYAML("mover", "host-a", "Halted"))
	eventually(t, "mover listed on host-a", time.Minute, func() bool { return a.state("mover") == "shut off" }, a)
	kubectl(t, "patch", "xendomain", "mover", "--type=merge", "-p", `{"spec":{"nodeName":"host-b","runStrategy":"Always"}}`)
	eventually(t, "mover running on host-b", time.Minute, func() bool { return b.state("mover") == "running" }, b)
	eventually(t, "mover gone from host-a", time.Minute, func() bool { return a.state("mover") == "" }, a)
	if out := a.MustVirsh(t, "list", "--all"); strings.Contains(out, "mover") {
		t.Errorf("host-a still lists mover:\n%s", out)
	}
	if st, _ := kubectlOut(shared.admin, "get", "xendomain", "mover", "-o", "jsonpath={.spec.nodeName}/{.status.state}"); st != "host-b/running" {
		t.Errorf("mover: %s", st)
	}
}

// TestDeleteShutsDown: deleting an object shuts its domain down through the finalizer before the object goes.
func TestDeleteShutsDown(t *testing.T) {
	a, _ := hosts(t)
	apply(t, domainYAML("gone", "host-a", "Always"))
	eventually(t, "gone running", time.Minute, func() bool { return a.state("gone") == "running" }, a)
	kubectl(t, "delete", "xendomain", "gone", "--timeout=120s")
	if s := a.state("gone"); s != "" {
		t.Errorf("after kubectl delete returned, host-a still has gone (%s)", s)
	}
}

// TestDeletedWhileDaemonDown: an object deleted while its daemon is down is shut down when the daemon returns.
func TestDeletedWhileDaemonDown(t *testing.T) {
	a, _ := hosts(t)
	apply(t, domainYAML("late", "host-a", "Always"))
	eventually(t, "late running", time.Minute, func() bool { return a.state("late") == "running" }, a)
	a.Stop(syscall.SIGTERM)
	kubectl(t, "delete", "xendomain", "late", "--wait=false")
	if out := kubectl(t, "get", "xendomain", "late", "-o", "jsonpath={.metadata.deletionTimestamp}"); out == "" {
		t.Fatal("the object went without its finalizer being run")
	}
	a.Start(t)
	eventually(t, "late shut down and its object gone", 2*time.Minute, func() bool {
		_, err := kubectlOut(shared.admin, "get", "xendomain", "late")
		return err != nil && a.state("late") == ""
	}, a)
}

// TestSIGKILL: a daemon killed with SIGKILL leaves its domains running; restarted, it adopts them.
func TestSIGKILL(t *testing.T) {
	_, b := hosts(t)
	apply(t, domainYAML("survivor", "host-b", "Always"))
	eventually(t, "survivor running", time.Minute, func() bool { return b.state("survivor") == "running" }, b)
	id := strings.TrimSpace(b.MustVirsh(t, "domid", "survivor"))
	b.Stop(syscall.SIGKILL)
	b.Start(t)
	if s := b.state("survivor"); s != "running" {
		t.Fatalf("after SIGKILL and restart: %q", s)
	}
	if got := strings.TrimSpace(b.MustVirsh(t, "domid", "survivor")); got != id {
		t.Errorf("domid %s after the restart, was %s: the guest was restarted", got, id)
	}
	eventually(t, "survivor adopted (status written)", time.Minute, func() bool {
		out, _ := kubectlOut(shared.admin, "get", "xendomain", "survivor", "-o", "jsonpath={.status.domid}/{.status.state}")
		return out == id+"/running"
	}, b)
}

// TestAPIServerDown: with the API server killed for 60 s, 20 running domains keep running untouched, a daemon
// restarted meanwhile serves virsh views of them, and status catches up once the API server is back.
func TestAPIServerDown(t *testing.T) {
	a, _ := hosts(t)
	var m strings.Builder
	names := make([]string, 20)
	for i := range names {
		names[i] = "outage-" + string(rune('a'+i))
		if i > 0 {
			m.WriteString("---\n")
		}
		m.WriteString(domainYAML(names[i], "host-a", "Always"))
	}
	apply(t, m.String())
	ids := map[string]string{}
	eventually(t, "20 domains running", 2*time.Minute, func() bool {
		for _, n := range names {
			if a.state(n) != "running" {
				return false
			}
		}
		return true
	}, a)
	for _, n := range names {
		ids[n] = strings.TrimSpace(a.MustVirsh(t, "domid", n))
	}
	apiserver := shared.env.ControlPlane.APIServer
	killAPIServer(t)
	if err := apiserver.Stop(); err != nil { // reaps the killed process
		t.Fatalf("stop the API server: %v", err)
	}
	down := time.Now()
	a.Stop(syscall.SIGTERM) // a restart while the API server is away
	a.Start(t)
	for time.Since(down) < 60*time.Second {
		out := a.MustVirsh(t, "list")
		for _, n := range names {
			if !rowHas(out, ids[n], n, "running") {
				t.Fatalf("during the outage, %s is not listed running with domid %s:\n%s", n, ids[n], out)
			}
		}
		time.Sleep(5 * time.Second)
	}
	if err := apiserver.Start(); err != nil {
		t.Fatalf("start the API server again: %v", err)
	}
	eventually(t, "status caught up after the outage", 2*time.Minute, func() bool {
		out, err := kubectlOut(shared.admin, "get", "xendomains", "-o", "wide")
		if err != nil {
			return false
		}
		for _, n := range names {
			if !rowHas(out, n, "running", ids[n]) {
				return false
			}
		}
		return true
	}, a)
	for _, n := range names {
		if got := strings.TrimSpace(a.MustVirsh(t, "domid", n)); got != ids[n] {
			t.Errorf("%s: domid %s after the outage, was %s", n, got, ids[n])
		}
	}
	if strings.Contains(a.Log(), "Degraded") {
		t.Logf("log mentions Degraded:\n%s", tail(a.Log(), 20))
	}
	kubectl(t, "delete", "xendomains", "--all", "--timeout=180s")
}
