package sim

import (
	"context"
	"testing"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

func TestDom0AlwaysExists(t *testing.T) {
	h := newHost(t)
	list, err := h.ListDomains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("fresh host lists %d domains, want Domain-0 only", len(list))
	}
	d0 := list[0]
	if d0.DomID != 0 || d0.Name != "Domain-0" || d0.UUID != "00000000-0000-0000-0000-000000000000" ||
		d0.State != libxl.StateRunning || d0.CurrentKiB != 1<<20 || d0.MaxVcpus != 4 || d0.OnlineVcpus != 4 {
		t.Fatalf("Domain-0 = %+v", d0)
	}
}

func TestCreateDefaultsAndDomids(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	bare := &libxl.DomainConfig{CInfo: libxl.DomainCreateInfo{Type: libxl.DomainTypeHVM, Name: "bare"}}
	id := mustCreate(t, h, bare, libxl.CreateOptions{})
	if id != 1 {
		t.Fatalf("first domid = %d, want 1", id)
	}
	info := mustInfo(t, h, id)
	if info.MaxMemKiB != defaultMemKiB || info.TargetKiB != defaultMemKiB || info.CurrentKiB != defaultMemKiB ||
		info.MaxVcpus != 1 || info.OnlineVcpus != 1 || info.State != libxl.StateRunning ||
		info.Type != libxl.DomainTypeHVM || !validUUID(info.UUID) || info.Created.IsZero() {
		t.Fatalf("defaults: %+v", info)
	}

	// Domids are never reused: destroying the newest and creating again moves on.
	id2 := mustCreate(t, h, cfg("b", 1024, 1), libxl.CreateOptions{})
	if err := h.DestroyDomain(ctx, id2); err != nil {
		t.Fatal(err)
	}
	id3 := mustCreate(t, h, cfg("c", 1024, 1), libxl.CreateOptions{})
	if id2 != 2 || id3 != 3 {
		t.Fatalf("domids %d, %d; want 2, 3", id2, id3)
	}

	// Paused creation, with userdata in place at once.
	idp := mustCreate(t, h, cfg("p", 1024, 2), libxl.CreateOptions{Paused: true,
		Userdata: map[string][]byte{"virtxend": []byte("uid-1")}})
	if st := mustInfo(t, h, idp).State; st != libxl.StatePaused {
		t.Fatalf("paused create: state %s", st)
	}
	if b, err := h.Userdata(ctx, idp, "virtxend"); err != nil || string(b) != "uid-1" {
		t.Fatalf("userdata = %q, %v", b, err)
	}
}

func TestCreateFailures(t *testing.T) {
	h := newHost(t)
	mustCreate(t, h, cfg("taken", 1024, 1), libxl.CreateOptions{})
	bad := func(f func(c *libxl.DomainConfig)) *libxl.DomainConfig {
		c := cfg("x", 1024, 1)
		f(c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  *libxl.DomainConfig
		opts libxl.CreateOptions
		want error
	}{
		{"nil config", nil, libxl.CreateOptions{}, libxl.ErrInvalid},
		{"no name", bad(func(c *libxl.DomainConfig) { c.CInfo.Name = "" }), libxl.CreateOptions{}, libxl.ErrInvalid},
		{"name in use", cfg("taken", 1024, 1), libxl.CreateOptions{}, libxl.ErrInvalid},
		{"name of dom0", cfg("Domain-0", 1024, 1), libxl.CreateOptions{}, libxl.ErrInvalid},
		{"no type", bad(func(c *libxl.DomainConfig) { c.CInfo.Type = "" }), libxl.CreateOptions{}, libxl.ErrInvalid},
		{"bad type", bad(func(c *libxl.DomainConfig) { c.CInfo.Type = "kvm" }), libxl.CreateOptions{}, libxl.ErrInvalid},
		{"bad uuid", bad(func(c *libxl.DomainConfig) { c.CInfo.UUID = "nope" }), libxl.CreateOptions{}, libxl.ErrInvalid},
		{"target above max", bad(func(c *libxl.DomainConfig) { c.BInfo.TargetMemkb = 2048 }), libxl.CreateOptions{}, libxl.ErrInvalid},
		{"too many vcpus", bad(func(c *libxl.DomainConfig) { c.BInfo.MaxVcpus = 1000 }), libxl.CreateOptions{}, libxl.ErrInvalid},
		{"avail beyond max", bad(func(c *libxl.DomainConfig) { c.BInfo.AvailVcpus = libxl.Bitmap{0, 1} }), libxl.CreateOptions{}, libxl.ErrInvalid},
		{"out of memory", cfg("big", 4<<20, 1), libxl.CreateOptions{}, libxl.ErrNoMemory},
		{"bad userdata key", cfg("ud", 1024, 1), libxl.CreateOptions{Userdata: map[string][]byte{"a/b": {1}}}, libxl.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.CreateDomain(context.Background(), tc.cfg, tc.opts)
			wantErr(t, err, tc.want)
		})
	}
	list, _ := h.ListDomains(context.Background())
	if len(list) != 2 {
		t.Fatalf("failed creates left domains behind: %+v", list)
	}
}

func TestAvailVcpus(t *testing.T) {
	h := newHost(t)
	c := cfg("v", 1024, 4)
	c.BInfo.AvailVcpus = libxl.Bitmap{0, 2}
	id := mustCreate(t, h, c, libxl.CreateOptions{})
	vc, err := h.VcpuInfo(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(vc) != 4 || !vc[0].Online || vc[1].Online || !vc[2].Online || vc[3].Online {
		t.Fatalf("vcpus %+v", vc)
	}
}

func TestDestroy(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	ev := subscribe(t, h)
	id := mustCreate(t, h, cfg("d", 1<<20, 1), libxl.CreateOptions{})
	if err := h.DestroyDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, ev, libxl.EventDeath, id); e.Name != "d" {
		t.Fatalf("death event %+v", e)
	}
	wantErr(t, h.DestroyDomain(ctx, id), libxl.ErrNoDomain)
	_, err := h.DomainInfo(ctx, id)
	wantErr(t, err, libxl.ErrNoDomain)
	// The memory came back, and the name is free again.
	info, _ := h.HostInfo(ctx)
	if info.FreeKiB != 3<<20 {
		t.Fatalf("free after destroy = %d", info.FreeKiB)
	}
	mustCreate(t, h, cfg("d", 1<<20, 1), libxl.CreateOptions{})
}

func TestPauseUnpause(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	ev := subscribe(t, h)
	id := mustCreate(t, h, cfg("p", 1024, 1), libxl.CreateOptions{})
	down := mustCreate(t, h, cfg("down", 1024, 1), libxl.CreateOptions{})
	if err := h.ShutdownDomain(ctx, down); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		domid libxl.DomID
		op    func(context.Context, libxl.DomID) error
		want  error
		state libxl.State
	}{
		{"unpause running", id, h.UnpauseDomain, libxl.ErrBadState, libxl.StateRunning},
		{"pause running", id, h.PauseDomain, nil, libxl.StatePaused},
		{"pause paused", id, h.PauseDomain, libxl.ErrBadState, libxl.StatePaused},
		{"unpause paused", id, h.UnpauseDomain, nil, libxl.StateRunning},
		{"pause shut down", down, h.PauseDomain, libxl.ErrBadState, libxl.StateShutdown},
		{"unpause shut down", down, h.UnpauseDomain, libxl.ErrBadState, libxl.StateShutdown},
		{"pause unknown", 99, h.PauseDomain, libxl.ErrNoDomain, 0},
		{"unpause unknown", 99, h.UnpauseDomain, libxl.ErrNoDomain, 0},
		{"pause dom0", 0, h.PauseDomain, libxl.ErrDom0, libxl.StateRunning},
	}
	for _, s := range steps {
		err := s.op(ctx, s.domid)
		if s.want == nil && err != nil || s.want != nil && !errorsIs(err, s.want) {
			t.Fatalf("%s: error %v, want %v", s.name, err, s.want)
		}
		if s.want == libxl.ErrNoDomain {
			continue
		}
		if st := mustInfo(t, h, s.domid).State; st != s.state {
			t.Fatalf("%s: state %s, want %s", s.name, st, s.state)
		}
		if s.want == nil {
			if e := waitEvent(t, ev, libxl.EventStateChanged, id); e.State != s.state {
				t.Fatalf("%s: event state %s", s.name, e.State)
			}
		}
	}
}

func TestShutdownTakesGuestTime(t *testing.T) {
	h := newHost(t, func(o *Options) { o.ShutdownDelay = 30 * time.Millisecond })
	ctx := context.Background()
	ev := subscribe(t, h)
	id := mustCreate(t, h, cfg("s", 1024, 1), libxl.CreateOptions{})
	start := time.Now()
	if err := h.ShutdownDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The request is delivered; the guest is not down yet (it has 30ms of work).
	if st := mustInfo(t, h, id).State; st != libxl.StateRunning {
		t.Fatalf("state right after the request: %s", st)
	}
	e := waitEvent(t, ev, libxl.EventShutdown, id)
	if e.Reason != libxl.ShutdownPoweroff || e.State != libxl.StateShutdown {
		t.Fatalf("shutdown event %+v", e)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("guest shut down after %v, before its delay", el)
	}
	info := mustInfo(t, h, id)
	if info.State != libxl.StateShutdown || info.ShutdownReason != libxl.ShutdownPoweroff {
		t.Fatalf("after shutdown: %+v", info)
	}
	// A shut-down domain still exists and still holds its memory until destroyed.
	if hi, _ := h.HostInfo(ctx); hi.FreeKiB != 3<<20-1024 {
		t.Fatalf("free = %d", hi.FreeKiB)
	}
	wantErr(t, h.ShutdownDomain(ctx, id), libxl.ErrBadState)
	wantErr(t, h.RebootDomain(ctx, id), libxl.ErrBadState)
	if err := h.DestroyDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestRebootImmediate(t *testing.T) {
	h := newHost(t)
	ev := subscribe(t, h)
	id := mustCreate(t, h, cfg("r", 1024, 1), libxl.CreateOptions{})
	if err := h.RebootDomain(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, ev, libxl.EventShutdown, id); e.Reason != libxl.ShutdownReboot {
		t.Fatalf("reboot event %+v", e)
	}
	if info := mustInfo(t, h, id); info.State != libxl.StateShutdown || info.ShutdownReason != libxl.ShutdownReboot {
		t.Fatalf("after reboot %+v", info)
	}
}

func TestShutdownWaitsForPausedGuest(t *testing.T) {
	h := newHost(t, func(o *Options) { o.ShutdownDelay = 20 * time.Millisecond })
	ctx := context.Background()
	ev := subscribe(t, h)
	id := mustCreate(t, h, cfg("ps", 1024, 1), libxl.CreateOptions{Paused: true})
	if err := h.ShutdownDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The guest cannot act while paused: no timer runs for it.
	h.mu.Lock()
	d := h.doms[id]
	armed, pending := d.timer != nil, d.pending != nil
	h.mu.Unlock()
	if armed || !pending {
		t.Fatalf("paused guest: timer armed %v, request pending %v", armed, pending)
	}
	// A second request replaces the reason.
	if err := h.RebootDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, ev, libxl.EventShutdown, id); e.Reason != libxl.ShutdownReboot {
		t.Fatalf("event %+v", e)
	}
}

func TestShutdownZeroDelayPausedCompletesOnUnpause(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	id := mustCreate(t, h, cfg("z", 1024, 1), libxl.CreateOptions{Paused: true})
	if err := h.ShutdownDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := mustInfo(t, h, id).State; st != libxl.StatePaused {
		t.Fatalf("state %s", st)
	}
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := mustInfo(t, h, id).State; st != libxl.StateShutdown {
		t.Fatalf("state after unpause %s", st)
	}
}

func TestSetShutdownDelay(t *testing.T) {
	h := newHost(t)
	h.SetShutdownDelay(time.Hour)
	id := mustCreate(t, h, cfg("slow", 1024, 1), libxl.CreateOptions{})
	if err := h.ShutdownDomain(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if st := mustInfo(t, h, id).State; st != libxl.StateRunning {
		t.Fatalf("state %s", st)
	}
	// Destroying a domain with a pending request stops its timer for good.
	if err := h.DestroyDomain(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

func TestInjectCrash(t *testing.T) {
	h := newHost(t)
	ev := subscribe(t, h)
	id := mustCreate(t, h, cfg("c", 1024, 1), libxl.CreateOptions{Paused: true})
	if err := h.InjectCrash(id); err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, ev, libxl.EventShutdown, id)
	if e.Reason != libxl.ShutdownCrash || e.State != libxl.StateShutdown {
		t.Fatalf("crash event %+v", e)
	}
	if info := mustInfo(t, h, id); info.State != libxl.StateShutdown || info.ShutdownReason != libxl.ShutdownCrash {
		t.Fatalf("after crash %+v", info)
	}
	wantErr(t, h.InjectCrash(id), libxl.ErrBadState)
	wantErr(t, h.InjectCrash(77), libxl.ErrNoDomain)
	wantErr(t, h.InjectCrash(0), libxl.ErrDom0)
}

func TestDom0RefusesLifecycle(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	path := t.TempDir() + "/img"
	for name, op := range map[string]func() error{
		"destroy":  func() error { return h.DestroyDomain(ctx, 0) },
		"shutdown": func() error { return h.ShutdownDomain(ctx, 0) },
		"reboot":   func() error { return h.RebootDomain(ctx, 0) },
		"pause":    func() error { return h.PauseDomain(ctx, 0) },
		"unpause":  func() error { return h.UnpauseDomain(ctx, 0) },
		"save":     func() error { return savePath(h, ctx, 0, path) },
		"coredump": func() error { return h.CoreDump(ctx, 0, path) },
		"attach":   func() error { return h.AttachDevice(ctx, 0, diskDev("xvdb")) },
		"detach":   func() error { return h.DetachDevice(ctx, 0, diskDev("xvdb")) },
		"console": func() error {
			_, err := h.ConsolePath(ctx, 0, libxl.ConsolePV, 0)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) { wantErr(t, op(), libxl.ErrDom0) })
	}
	// Resource operations work on Domain-0, as on Xen.
	if err := h.SetMemoryTarget(ctx, 0, 512<<10); err != nil {
		t.Fatal(err)
	}
	if err := h.SetUserdata(ctx, 0, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := h.PinVcpu(ctx, 0, 0, []int{0}); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownDomain: every operation that takes a domid fails with ErrNoDomain for a domid that never existed.
func TestUnknownDomain(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	const id = libxl.DomID(42)
	path := t.TempDir() + "/img"
	ops := map[string]func() error{
		"info":       func() error { _, err := h.DomainInfo(ctx, id); return err },
		"destroy":    func() error { return h.DestroyDomain(ctx, id) },
		"shutdown":   func() error { return h.ShutdownDomain(ctx, id) },
		"reboot":     func() error { return h.RebootDomain(ctx, id) },
		"pause":      func() error { return h.PauseDomain(ctx, id) },
		"unpause":    func() error { return h.UnpauseDomain(ctx, id) },
		"memtarget":  func() error { return h.SetMemoryTarget(ctx, id, 1024) },
		"maxmem":     func() error { return h.SetMaxMemory(ctx, id, 1024) },
		"vcpus":      func() error { return h.SetVcpusOnline(ctx, id, 1) },
		"pin":        func() error { return h.PinVcpu(ctx, id, 0, []int{0}) },
		"vcpuinfo":   func() error { _, err := h.VcpuInfo(ctx, id); return err },
		"save":       func() error { return savePath(h, ctx, id, path) },
		"coredump":   func() error { return h.CoreDump(ctx, id, path) },
		"attach":     func() error { return h.AttachDevice(ctx, id, diskDev("xvdb")) },
		"detach":     func() error { return h.DetachDevice(ctx, id, diskDev("xvdb")) },
		"console":    func() error { _, err := h.ConsolePath(ctx, id, libxl.ConsolePV, 0); return err },
		"setuser":    func() error { return h.SetUserdata(ctx, id, "k", []byte("v")) },
		"getuser":    func() error { _, err := h.Userdata(ctx, id, "k"); return err },
		"crash":      func() error { return h.InjectCrash(id) },
		"print":      func() error { return h.GuestPrint(id, "x") },
		"domainconf": func() error { _, err := h.DomainConfig(id); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) { wantErr(t, op(), libxl.ErrNoDomain) })
	}
}

func TestClosedHost(t *testing.T) {
	h := newHost(t)
	ch := subscribe(t, h)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("event stream open after Close")
	}
	_, err := h.ListDomains(context.Background())
	wantErr(t, err, ErrClosed)
	_, err = h.CreateDomain(context.Background(), cfg("x", 1024, 1), libxl.CreateOptions{})
	wantErr(t, err, ErrClosed)
	_, err = h.Events(context.Background())
	wantErr(t, err, ErrClosed)
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCanceledContext(t *testing.T) {
	h := newHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.CreateDomain(ctx, cfg("x", 1024, 1), libxl.CreateOptions{})
	wantErr(t, err, context.Canceled)
}
