package e2e

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"
)

// raceUUID is the UUID of the one domain the race test works on.
const raceUUID = "5a1e5a1e-0000-4000-8000-00000000ace5"

// raceOp is one call of the race test as its client saw it.
type raceOp struct {
	op         string // define, undefine, start or destroy
	start, ack time.Time
	err        error
}

// envInt reads a positive integer knob from the environment.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// lastSetter reports the value the last acknowledged call among ops left, where set says which value each op
// sets (ops not in set do not change it). The order in which replies reach the clients may differ from the
// order the daemon served the calls in: a successful call may be the last one only if no other successful call
// of the set began after it was acknowledged. It returns the values such candidates leave, and whether any call
// set the value at all.
func lastSetter(ops []raceOp, set map[string]bool) (values map[bool]bool, any bool) {
	var latestStart time.Time
	for _, o := range ops {
		if _, ok := set[o.op]; ok && o.err == nil && o.start.After(latestStart) {
			latestStart = o.start
		}
	}
	values = map[bool]bool{}
	for _, o := range ops {
		if v, ok := set[o.op]; ok && o.err == nil && !o.ack.Before(latestStart) {
			values[v], any = true, true
		}
	}
	return values, any
}

// raceState is the domain as clients see it.
type raceState struct{ exists, persistent, running bool }

func (i *instance) raceState(l *libvirt.Libvirt, name string) raceState {
	i.t.Helper()
	d, err := l.DomainLookupByName(name)
	if err != nil {
		var le libvirt.Error
		if errors.As(err, &le) && libvirt.ErrorNumber(le.Code) == libvirt.ErrNoDomain {
			return raceState{}
		}
		i.t.Fatalf("lookup %s: %v", name, err)
	}
	p, err := l.DomainIsPersistent(d)
	if err != nil {
		i.t.Fatalf("is persistent %s: %v", name, err)
	}
	a, err := l.DomainIsActive(d)
	if err != nil {
		i.t.Fatalf("is active %s: %v", name, err)
	}
	return raceState{exists: true, persistent: p == 1, running: a == 1}
}

// TestConcurrentLifecycleOneName has 50 clients define, undefine, start and destroy one domain at once, then
// kills the daemon with SIGKILL and starts it again, for several rounds: in memory before the kill, on disk and
// after the restart, the domain is what the last acknowledged call left, and a define that wrote its file never
// answers "Domain not found". VIRTXEND_RACE_SECONDS (default 3) and VIRTXEND_RACE_ROUNDS (default 3) bound it;
// the full run is 30 s × 20 rounds.
func TestConcurrentLifecycleOneName(t *testing.T) {
	const clients, name = 50, "racer"
	seconds := envInt(t, "VIRTXEND_RACE_SECONDS", 3)
	rounds := envInt(t, "VIRTXEND_RACE_ROUNDS", 3)
	i := newInstance(t)
	xml := fmt.Sprintf(`<domain type='xen'>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory unit='MiB'>8</memory>
  <vcpu>1</vcpu>
  <os><type>xen</type><kernel>/boot/vmlinuz</kernel></os>
</domain>`, name, raceUUID)
	wire := libvirt.Domain{Name: name, UUID: libvirt.UUID(uuid.MustParse(raceUUID)), ID: -1}
	file := filepath.Join(i.DefinesDir, name+".xml")
	seed := time.Now().UnixNano()
	t.Logf("seed %d, %d clients, %d s × %d rounds", seed, clients, seconds, rounds)

	prev := raceState{}
	for round := range rounds {
		i.Start()
		conns := make([]*libvirt.Libvirt, clients)
		for c := range conns {
			conns[c] = i.GoLibvirt()
		}
		deadline := time.Now().Add(time.Duration(seconds) * time.Second)
		var mu sync.Mutex
		var ops []raceOp
		var wg sync.WaitGroup
		for c, l := range conns {
			rng := rand.New(rand.NewSource(seed + int64(round*clients+c)))
			wg.Go(func() {
				for time.Now().Before(deadline) {
					o := raceOp{op: []string{"define", "undefine", "start", "destroy"}[rng.Intn(4)], start: time.Now()}
					switch o.op {
					case "define":
						_, o.err = l.DomainDefineXML(xml)
					case "undefine":
						o.err = l.DomainUndefine(wire)
					case "start":
						o.err = l.DomainCreate(wire)
					case "destroy":
						o.err = l.DomainDestroy(wire)
					}
					o.ack = time.Now()
					mu.Lock()
					ops = append(ops, o)
					mu.Unlock()
				}
			})
		}
		wg.Wait()

		// Every failure must be one libvirt gives for the state the call found.
		counts := map[string]int{}
		for _, o := range ops {
			if o.err == nil {
				counts[o.op+" ok"]++
				continue
			}
			var le libvirt.Error
			if !errors.As(o.err, &le) {
				t.Fatalf("round %d: %s: %v", round, o.op, o.err)
			}
			code := libvirt.ErrorNumber(le.Code)
			counts[fmt.Sprintf("%s err %d", o.op, code)]++
			switch {
			case o.op == "define":
				t.Errorf("round %d: define failed: %d %s", round, code, le.Message)
			case code == libvirt.ErrNoDomain, code == libvirt.ErrOperationInvalid, code == libvirt.ErrOperationTimeout:
			default:
				t.Errorf("round %d: %s failed: %d %s", round, o.op, code, le.Message)
			}
		}
		t.Logf("round %d: %d calls: %v", round, len(ops), counts)

		// What the last acknowledged calls left.
		want := prev
		if v, any := lastSetter(ops, map[string]bool{"define": true, "undefine": false}); any {
			if len(v) > 1 {
				t.Logf("round %d: replies to define and undefine crossed at the end: either is right", round)
			} else {
				want.persistent = v[true]
			}
		}
		if v, any := lastSetter(ops, map[string]bool{"start": true, "destroy": false}); any {
			if len(v) > 1 {
				t.Logf("round %d: replies to start and destroy crossed at the end: either is right", round)
			} else {
				want.running = v[true]
			}
		}
		check := func(when string, got raceState, persistentKnown, runningKnown bool) {
			t.Helper()
			if runningKnown && got.running != want.running {
				t.Fatalf("round %d, %s: running = %v, want %v (%+v)\n%s", round, when, got.running, want.running, got, tail(i.Log(), 40))
			}
			if persistentKnown && got.persistent != want.persistent {
				t.Fatalf("round %d, %s: persistent = %v, want %v (%+v)\n%s", round, when, got.persistent, want.persistent, got, tail(i.Log(), 40))
			}
			if got.exists != (got.persistent || got.running) {
				t.Fatalf("round %d, %s: %+v: an inactive transient domain", round, when, got)
			}
			_, err := os.Stat(file)
			if onDisk := err == nil; onDisk != got.persistent {
				t.Fatalf("round %d, %s: %s exists = %v, but persistent = %v", round, when, file, onDisk, got.persistent)
			}
		}
		pv, _ := lastSetter(ops, map[string]bool{"define": true, "undefine": false})
		rv, _ := lastSetter(ops, map[string]bool{"start": true, "destroy": false})
		l := i.GoLibvirt()
		before := i.raceState(l, name)
		check("after the clients", before, len(pv) <= 1, len(rv) <= 1)

		// Replies that crossed at the end leave either state right. A few more calls, one at a time, make the
		// last acknowledged call certain: each must answer as libvirt would in the state the previous left.
		rng := rand.New(rand.NewSource(seed + int64(round)))
		want = before
		for range 4 {
			op := []string{"define", "undefine", "start", "destroy"}[rng.Intn(4)]
			var err error
			switch op {
			case "define":
				_, err = l.DomainDefineXML(xml)
			case "undefine":
				err = l.DomainUndefine(wire)
			case "start":
				err = l.DomainCreate(wire)
			case "destroy":
				err = l.DomainDestroy(wire)
			}
			next, code := raceModel(want, op)
			var le libvirt.Error
			switch {
			case code == 0 && err != nil, code != 0 && (!errors.As(err, &le) || libvirt.ErrorNumber(le.Code) != code):
				t.Fatalf("round %d: %s in %+v: got %v, want code %d\n%s", round, op, want, err, code, tail(i.Log(), 40))
			}
			want = next
			if got := i.raceState(l, name); got != want {
				t.Fatalf("round %d: after %s: %+v, want %+v", round, op, got, want)
			}
		}
		before = i.raceState(l, name)
		check("after the last call", before, true, true)

		i.Kill()
		i.Start()
		l = i.GoLibvirt()
		var after raceState
		i.Eventually("the domain's state after the restart", 10*time.Second, func() bool {
			after = i.raceState(l, name)
			return after == before
		})
		check("after SIGKILL and restart", after, len(pv) <= 1, len(rv) <= 1)
		prev = after
		i.Stop()
	}
}

// raceModel is what op does to the domain in state s, as libvirt's libxl driver answers it: the next state and
// the error code (0 for success).
func raceModel(s raceState, op string) (raceState, libvirt.ErrorNumber) {
	switch {
	case op == "define":
		s.exists, s.persistent = true, true
		return s, 0
	case !s.exists:
		return s, libvirt.ErrNoDomain
	case op == "undefine" && !s.persistent:
		return s, libvirt.ErrOperationInvalid // cannot undefine transient domain
	case op == "undefine":
		s.persistent, s.exists = false, s.running
	case op == "start" && s.running, op == "destroy" && !s.running:
		return s, libvirt.ErrOperationInvalid
	case op == "start":
		s.running = true
	case op == "destroy":
		s.running, s.exists = false, s.persistent
	}
	return s, 0
}

// TestVirshCreateDestroySameNameOneSession runs 50 "create x.xml; destroy x" pairs in one virsh session: each
// destroy forgets the transient domain before it returns, so the next create of the name succeeds.
func TestVirshCreateDestroySameNameOneSession(t *testing.T) {
	i := startInstance(t)
	x := i.xmlFile("x.xml", lifecycleXML("x", "7d0a7b5c-5f0e-4a63-9c1e-2b3d4e5f6a7b"))
	var cmds []string
	for range 50 {
		cmds = append(cmds, "create "+x, "destroy x")
	}
	r := i.Virsh(strings.Join(cmds, "; "))
	if r.Code != 0 || strings.Contains(r.Stderr, "error") {
		t.Fatalf("virsh session: exit %d\nstderr: %s\ndaemon log:\n%s", r.Code, r.Stderr, tail(i.Log(), 30))
	}
	if got := strings.Count(r.Stdout, "Domain 'x' created from"); got != 50 {
		t.Errorf("%d creates reported, want 50:\n%s", got, r.Stdout)
	}
	if out := i.MustVirsh("list", "--all", "--name"); strings.Contains(out, "x\n") {
		t.Errorf("x still listed after the last destroy:\n%s", out)
	}
}

// TestNetworkInterfaceFailsAtOnce: without a libvirt network daemon to resolve it, a domain with <interface
// type='network'> cannot start. define accepts it, as libvirt does; start answers at once with libvirt's
// connection error naming the driver's socket, not after the job timeout; destroy of the inactive domain says at
// once that it is not running; create of it fails the same way and leaves no domain behind.
func TestNetworkInterfaceFailsAtOnce(t *testing.T) {
	empty := t.TempDir()
	i := startInstance(t, fmt.Sprintf("secondary_sock_dir = %q", empty))
	const u = "0e7d1c2b-3a49-4f5e-8d6c-7b8a9f0e1d2c"
	xml := fmt.Sprintf(`<domain type='xen'>
  <name>netguest</name>
  <uuid>%s</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type>xen</type><kernel>/boot/vmlinuz</kernel></os>
  <devices>
    <interface type='network'><source network='default'/></interface>
  </devices>
</domain>`, u)
	l := i.GoLibvirt()
	d, err := l.DomainDefineXML(xml)
	if err != nil {
		t.Fatalf("define: %v", err)
	}
	// The bound is a correctness bound, far below the 30 s of a job that is never answered.
	const bound = 10 * time.Second
	wantErr := func(what string, err error, took time.Duration, code libvirt.ErrorNumber, msg string) {
		t.Helper()
		var le libvirt.Error
		if !errors.As(err, &le) || libvirt.ErrorNumber(le.Code) != code || le.Message != msg {
			t.Errorf("%s: got %v, want error %d %q", what, err, code, msg)
		}
		if took > bound {
			t.Errorf("%s took %s: it must fail at once", what, took)
		}
	}
	noNetwork := "Failed to connect socket to '" + filepath.Join(empty, "virtnetworkd-sock") + "': No such file or directory"
	begin := time.Now()
	err = l.DomainCreate(d)
	wantErr("start", err, time.Since(begin), libvirt.ErrSystemError, noNetwork)

	begin = time.Now()
	err = l.DomainDestroy(d)
	wantErr("destroy", err, time.Since(begin), libvirt.ErrOperationInvalid, "Requested operation is not valid: domain is not running")

	// virsh prints the same.
	i.wantVirshError([]string{"start", "netguest"}, "error: Failed to start domain 'netguest'", noNetwork)

	if err := l.DomainUndefine(d); err != nil {
		t.Fatalf("undefine: %v", err)
	}
	begin = time.Now()
	_, err = l.DomainCreateXML(xml, 0)
	wantErr("create", err, time.Since(begin), libvirt.ErrSystemError, noNetwork)
	if _, err := l.DomainLookupByName("netguest"); err == nil {
		t.Error("a transient domain that failed to start is still there")
	}
}
