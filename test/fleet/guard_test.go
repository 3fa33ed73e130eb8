package fleet

import (
	"strings"
	"testing"
	"time"
)

// TestMoveWhileRunning: spec.nodeName may not leave the node whose host runs the domain (it holds the object: its
// finalizer, status.nodeName); once the domain is shut off there, the move is admitted and the domain starts on the
// new host. At no point does it run on both.
func TestMoveWhileRunning(t *testing.T) {
	a, b := hosts(t)
	apply(t, domainYAML("runner", "host-a", "Always"))
	eventually(t, "runner running on host-a, held by host-a", time.Minute, func() bool {
		out, _ := kubectlOut(shared.admin, "get", "xendomain", "runner", "-o", "jsonpath={.status.nodeName}/{.status.state}")
		return a.state("runner") == "running" && out == "host-a/running"
	}, a)
	never := func() {
		t.Helper()
		if a.state("runner") == "running" && b.state("runner") == "running" {
			t.Fatalf("runner runs on both hosts")
		}
	}
	move := `{"spec":{"nodeName":"host-b"}}`
	// The policy takes effect once the API server has loaded it: wait for the refusal of a dry run.
	var refusal string
	eventually(t, "the move refused (dry run)", time.Minute, func() bool {
		var err error
		refusal, err = kubectlOut(shared.admin, "patch", "xendomain", "runner", "--dry-run=server", "--type=merge", "-p", move)
		return err != nil
	})
	if !strings.Contains(refusal, "while its domain is on node host-a") {
		t.Errorf("refusal: %s", refusal)
	}
	if out, err := kubectlOut(shared.admin, "patch", "xendomain", "runner", "--type=merge", "-p", move); err == nil {
		t.Fatalf("moving a running domain was admitted: %s", out)
	} else {
		t.Logf("move while running: %s", strings.TrimSpace(out))
	}
	if s := b.state("runner"); s != "" {
		t.Fatalf("host-b lists runner (%s) after a refused move", s)
	}
	// Stopping the domain releases it; the move is admitted then, and it starts on host-b only.
	kubectl(t, "patch", "xendomain", "runner", "--type=merge", "-p", `{"spec":{"runStrategy":"Halted"}}`)
	eventually(t, "runner shut off on host-a and released", time.Minute, func() bool {
		never()
		out, _ := kubectlOut(shared.admin, "get", "xendomain", "runner", "-o", "jsonpath={.status.nodeName}/{.status.state}/{.metadata.finalizers}")
		return a.state("runner") == "shut off" && out == "/shutoff/"
	}, a)
	kubectl(t, "patch", "xendomain", "runner", "--type=merge", "-p", `{"spec":{"nodeName":"host-b","runStrategy":"Always"}}`)
	eventually(t, "runner running on host-b, held by host-b", time.Minute, func() bool {
		never()
		out, _ := kubectlOut(shared.admin, "get", "xendomain", "runner", "-o", "jsonpath={.status.nodeName}/{.status.state}")
		return b.state("runner") == "running" && out == "host-b/running"
	}, b)
	eventually(t, "runner gone from host-a", time.Minute, func() bool { never(); return a.state("runner") == "" }, a)
	kubectl(t, "delete", "xendomain", "runner", "--timeout=120s")
}
