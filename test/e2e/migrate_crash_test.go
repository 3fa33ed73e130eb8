package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// Crash safety of a migration: a daemon SIGKILLed in any phase, or a stream cut mid-way, leaves the guest running
// on exactly one of the two simulated hosts once the killed daemon is back, with the objects of both sides
// consistent and no migration left in either journal. The kill lands in its phase deterministically: the
// reconciler holds a migration at a point while state_dir/migrations/hold-POINT exists (controllers' hold
// points), and the simulated host's migrate-bandwidth injection keeps a stream in flight.

// smallGuest is the guest the crash tests migrate: 128 MiB, so an unthrottled stream is quick.
func smallGuest(name string) string {
	return strings.Replace(tuneXML(name), "<memory unit='MiB'>512</memory>", "<memory unit='MiB'>128</memory>", 1)
}

// migDir is an instance's migration journal.
func (i *instance) migDir() string { return filepath.Join(i.StateDir, "migrations") }

// journal returns the phases recorded in i's migration journal, role/phase by domain UUID.
func (i *instance) journal() map[string]string {
	out := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(i.migDir(), "*.json"))
	for _, f := range files {
		var e struct{ UUID, Role, Phase string }
		if b, err := os.ReadFile(f); err == nil && json.Unmarshal(b, &e) == nil {
			out[e.UUID] = e.Role + "/" + e.Phase
		}
	}
	return out
}

// hold makes i's reconciler stop migrations at point until release.
func (i *instance) hold(point string) {
	i.t.Helper()
	if err := os.MkdirAll(i.migDir(), 0o700); err != nil {
		i.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(i.migDir(), "hold-"+point), nil, 0o600); err != nil {
		i.t.Fatal(err)
	}
}

// release removes every hold of i.
func (i *instance) release() {
	holds, _ := filepath.Glob(filepath.Join(i.migDir(), "hold-*"))
	for _, h := range holds {
		_ = os.Remove(h)
	}
}

// waitHeld waits until a migration is held at point on i.
func (i *instance) waitHeld(point string) {
	i.t.Helper()
	i.Eventually("a migration held at "+point, 60*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(i.migDir(), "held-"+point))
		return err == nil
	})
}

// simRunning reports whether the simulated host of i runs (or has blocked) the guest named name, read from the
// host's own records: what the hardware does, daemon up or down.
func (i *instance) simRunning(name string) bool {
	files, _ := filepath.Glob(filepath.Join(i.StateDir, "sim", "domains", "*.json"))
	for _, f := range files {
		var r struct {
			Name  string      `json:"name"`
			State libxl.State `json:"state"`
		}
		b, err := os.ReadFile(f)
		if err != nil || json.Unmarshal(b, &r) != nil || r.Name != name {
			continue
		}
		if r.State == libxl.StateRunning || r.State == libxl.StateBlocked {
			return true
		}
	}
	return false
}

// watchRunning samples both hosts until stop and fails the test if the guest ever runs on both at once.
func watchRunning(t *testing.T, a, b *instance, name string) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			if a.simRunning(name) && b.simRunning(name) {
				t.Errorf("the guest %s runs on both hosts at once", name)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() { done.Store(true); wg.Wait() }
}

// bgVirsh runs virsh in the background; the returned channel gets its result.
func bgVirsh(t *testing.T, uri string, args ...string) <-chan result {
	t.Helper()
	needTool(t, "/usr/bin/virsh")
	ch := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "/usr/bin/virsh", append([]string{"-c", uri}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Env = append(os.Environ(), "LC_ALL=C", "LIBVIRT_DEFAULT_URI=")
		err := cmd.Run()
		r := result{Stdout: out.String(), Stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.Code = ee.ExitCode()
		} else if err != nil {
			r.Code, r.Stderr = -1, err.Error()
		}
		ch <- r
	}()
	return ch
}

// settled waits until neither journal records a migration and the guest runs on exactly one host, then checks
// it is the one wanted and that both sides' objects agree.
// settled waits until both journals are empty and checks where the guest runs; forgotten (a transient domain,
// or --undefinesource) says the source keeps no definition once the guest left it.
func settled(t *testing.T, src, dst *instance, name string, wantDst bool, forgotten ...bool) {
	t.Helper()
	src.Eventually("both journals empty and the guest running on one host", 90*time.Second, func() bool {
		return len(src.journal()) == 0 && len(dst.journal()) == 0 && src.simRunning(name) != dst.simRunning(name)
	})
	where := map[bool]string{true: "destination", false: "source"}
	if got := dst.simRunning(name); got != wantDst {
		t.Fatalf("the guest runs on the %s, want the %s", where[got], where[wantDst])
	}
	if wantDst && len(forgotten) > 0 && forgotten[0] {
		wantLines(t, "destination domstate", dst.MustVirsh("domstate", name), `^running$`)
		src.Eventually("the source forgetting the domain", 30*time.Second, func() bool {
			return !strings.Contains(src.MustVirsh("list", "--all", "--name"), name)
		})
		if _, err := os.Stat(filepath.Join(src.DefinesDir, name+".xml")); !os.IsNotExist(err) {
			t.Errorf("the source's definition file is still there (%v)", err)
		}
		return
	}
	if wantDst {
		wantLines(t, "destination domstate", dst.MustVirsh("domstate", name), `^running$`)
		// The source keeps its definition, off; the reason is migrated (confirmed) or, when the destination's
		// answer settled it, still migrated.
		wantLines(t, "source domstate", src.MustVirsh("domstate", "--reason", name), `^shut off \(migrated\)$`)
		if out := src.MustVirsh("list", "--name"); strings.Contains(out, name) {
			t.Errorf("the source lists the guest as active: %q", out)
		}
		return
	}
	wantLines(t, "source domstate", src.MustVirsh("domstate", name), `^running$`)
	if out := dst.MustVirsh("list", "--all", "--name"); strings.Contains(out, name) {
		t.Errorf("the destination still has an object for the guest: %q", out)
	}
}

func TestMigrateCrashEachPhase(t *testing.T) {
	type side int
	const (
		onSrc side = iota
		onDst
	)
	for _, tc := range []struct {
		name      string
		p2p       bool
		point     string // hold point, or "" for a throttled stream killed mid-transfer
		holdOn    side
		kill      side
		wantDst   bool
		transient bool // virsh create: the restarted source adopts the suspended guest
		undefine  bool // --undefinesource: the source that settles the migration forgets the definition
	}{
		{name: "p2p-prepared-kill-source", p2p: true, point: "send", holdOn: onSrc, kill: onSrc},
		{name: "p2p-prepared-kill-destination", p2p: true, point: "send", holdOn: onSrc, kill: onDst},
		{name: "p2p-sending-kill-source", p2p: true, kill: onSrc},
		{name: "p2p-sending-kill-destination", p2p: true, kill: onDst},
		{name: "p2p-sent-kill-source", p2p: true, point: "sent", holdOn: onSrc, kill: onSrc},
		{name: "p2p-sent-kill-destination", p2p: true, point: "sent", holdOn: onSrc, kill: onDst},
		{name: "p2p-received-kill-source", p2p: true, point: "received", holdOn: onDst, kill: onSrc},
		{name: "p2p-received-kill-destination", p2p: true, point: "received", holdOn: onDst, kill: onDst},
		{name: "p2p-finish-kill-source", p2p: true, point: "finish", holdOn: onDst, kill: onSrc, wantDst: true},
		{name: "p2p-finish-kill-destination", p2p: true, point: "finish", holdOn: onDst, kill: onDst, wantDst: true},
		{name: "p2p-confirm-kill-source", p2p: true, point: "confirm", holdOn: onSrc, kill: onSrc, wantDst: true},
		{name: "p2p-confirm-kill-destination", p2p: true, point: "confirm", holdOn: onSrc, kill: onDst, wantDst: true},
		{name: "direct-prepared-kill-source", point: "send", holdOn: onSrc, kill: onSrc},
		{name: "direct-sending-kill-destination", kill: onDst},
		{name: "direct-sent-kill-source", point: "sent", holdOn: onSrc, kill: onSrc},
		{name: "direct-received-kill-destination", point: "received", holdOn: onDst, kill: onDst},
		{name: "direct-finish-kill-source", point: "finish", holdOn: onDst, kill: onSrc, wantDst: true},
		{name: "direct-finish-kill-destination", point: "finish", holdOn: onDst, kill: onDst, wantDst: true},
		{name: "direct-confirm-kill-source", point: "confirm", holdOn: onSrc, kill: onSrc, wantDst: true},
		{name: "undefinesource-p2p-confirm-kill-source", p2p: true, point: "confirm", holdOn: onSrc, kill: onSrc, wantDst: true, undefine: true},
		{name: "undefinesource-direct-confirm-kill-source", point: "confirm", holdOn: onSrc, kill: onSrc, wantDst: true, undefine: true},
		{name: "transient-p2p-sending-kill-source", p2p: true, kill: onSrc, transient: true},
		{name: "transient-p2p-sent-kill-source", p2p: true, point: "sent", holdOn: onSrc, kill: onSrc, transient: true},
		{name: "transient-p2p-finish-kill-source", p2p: true, point: "finish", holdOn: onDst, kill: onSrc, wantDst: true, transient: true},
		{name: "transient-direct-confirm-kill-source", point: "confirm", holdOn: onSrc, kill: onSrc, wantDst: true, transient: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := migrationPair(t)
			if tc.transient {
				src.MustVirsh("create", src.xmlFile("vm.xml", smallGuest("vm")))
			} else {
				src.MustVirsh("define", src.xmlFile("vm.xml", smallGuest("vm")))
				src.MustVirsh("start", "vm")
			}
			uuid := strings.TrimSpace(src.MustVirsh("domuuid", "vm"))
			stop := watchRunning(t, src, dst, "vm")
			defer stop()
			held := map[side]*instance{onSrc: src, onDst: dst}
			if tc.point != "" {
				held[tc.holdOn].hold(tc.point)
			} else {
				src.inject("vm", "migrate-bandwidth", "1") // 1 MiB/s: the stream lasts minutes
			}
			args := []string{"migrate", "--live", "vm", dst.URI()}
			if tc.p2p {
				args = []string{"migrate", "--live", "--p2p", "vm", dst.URI()}
			}
			if tc.undefine {
				args = append([]string{args[0], "--undefinesource"}, args[1:]...)
			}
			done := bgVirsh(t, src.URI(), args...)
			if tc.point != "" {
				held[tc.holdOn].waitHeld(tc.point)
			} else {
				src.Eventually("the stream in flight", 60*time.Second, func() bool {
					return src.journal()[uuid] == "source/sending" && dst.journal()[uuid] == "destination/receiving"
				})
			}
			victim := held[tc.kill]
			victim.Kill()
			src.release()
			dst.release()
			victim.Start()
			r := <-done
			t.Logf("virsh migrate: exit %d %s", r.Code, strings.TrimSpace(r.Stderr))
			settled(t, src, dst, "vm", tc.wantDst, tc.transient || tc.undefine)
			if !tc.wantDst && r.Code == 0 {
				t.Errorf("virsh migrate succeeded but the guest stayed on the source")
			}
		})
	}
}

// TestMigrateStreamCut: the link breaks mid-transfer (the simulated host's migrate-cut), in each transport; the
// migration fails with both daemons up, the source runs on, the destination keeps nothing.
func TestMigrateStreamCut(t *testing.T) {
	for _, mode := range [][]string{{"--live"}, {"--live", "--p2p"}, {"--live", "--p2p", "--tunnelled"}} {
		t.Run(strings.Join(mode, ""), func(t *testing.T) {
			src, dst := migrationPair(t)
			src.MustVirsh("define", src.xmlFile("vm.xml", smallGuest("vm")))
			src.MustVirsh("start", "vm")
			uuid := strings.TrimSpace(src.MustVirsh("domuuid", "vm"))
			domid := strings.TrimSpace(src.MustVirsh("domid", "vm"))
			stop := watchRunning(t, src, dst, "vm")
			defer stop()
			src.inject("vm", "migrate-bandwidth", "1")
			done := bgVirsh(t, src.URI(), append(append([]string{"migrate"}, mode...), "vm", dst.URI())...)
			src.Eventually("the stream in flight", 60*time.Second, func() bool {
				return src.journal()[uuid] == "source/sending" && dst.journal()[uuid] == "destination/receiving"
			})
			src.inject("vm", "migrate-cut", "")
			r := <-done
			if r.Code == 0 {
				t.Fatalf("a migration whose stream was cut succeeded")
			}
			t.Logf("virsh migrate: %s", strings.TrimSpace(r.Stderr))
			settled(t, src, dst, "vm", false)
			// The guest is the same domain, never restarted.
			if got := strings.TrimSpace(src.MustVirsh("domid", "vm")); got != domid {
				t.Errorf("domid %s after the failed migration, was %s", got, domid)
			}
		})
	}
}

// TestMigrateClientKilled: virsh dies (SIGKILL) mid-transfer. Peer-to-peer, the source daemon drives the migration
// and finishes it; direct, nobody is left to call Finish, so the destination drops what it prepared when virsh's
// connection closes and the source resumes. Either way the guest runs on exactly one host.
func TestMigrateClientKilled(t *testing.T) {
	needTool(t, "/usr/bin/virsh")
	for _, tc := range []struct {
		name    string
		flags   []string
		wantDst bool
	}{
		{name: "p2p", flags: []string{"--live", "--p2p"}, wantDst: true},
		{name: "direct", flags: []string{"--live"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := migrationPair(t)
			src.MustVirsh("define", src.xmlFile("vm.xml", smallGuest("vm")))
			src.MustVirsh("start", "vm")
			uuid := strings.TrimSpace(src.MustVirsh("domuuid", "vm"))
			stop := watchRunning(t, src, dst, "vm")
			defer stop()
			src.inject("vm", "migrate-bandwidth", "1")
			cmd := exec.Command("/usr/bin/virsh", append(append([]string{"-c", src.URI(), "migrate"}, tc.flags...), "vm", dst.URI())...)
			cmd.Env = append(os.Environ(), "LC_ALL=C", "LIBVIRT_DEFAULT_URI=")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			src.Eventually("the stream in flight", 60*time.Second, func() bool {
				return src.journal()[uuid] == "source/sending" && dst.journal()[uuid] == "destination/receiving"
			})
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			src.inject("vm", "migrate-bandwidth", "0")
			settled(t, src, dst, "vm", tc.wantDst)
		})
	}
}
