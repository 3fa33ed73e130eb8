package sim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// TestGuestsOutliveDaemon: a second Host on the same directory (a restarted daemon) finds every guest as the
// first left it.
func TestGuestsOutliveDaemon(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	opts := testOptions(dir)
	opts.Clock = clock.Now
	ctx := context.Background()

	h1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	run := mustCreate(t, h1, cfg("run", 64<<10, 2), libxl.CreateOptions{Userdata: map[string][]byte{"virtxend": []byte("uid-run")}})
	paused := mustCreate(t, h1, cfg("paused", 64<<10, 1), libxl.CreateOptions{Paused: true})
	crashed := mustCreate(t, h1, cfg("crashed", 64<<10, 1), libxl.CreateOptions{})
	gone := mustCreate(t, h1, cfg("gone", 64<<10, 1), libxl.CreateOptions{})
	if err := h1.InjectCrash(crashed); err != nil {
		t.Fatal(err)
	}
	if err := h1.DestroyDomain(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := h1.SetMemoryTarget(ctx, run, 32<<10); err != nil {
		t.Fatal(err)
	}
	if err := h1.SetMemoryTarget(ctx, 0, 768<<10); err != nil {
		t.Fatal(err)
	}
	if err := h1.PinVcpu(ctx, run, 1, []int{3}); err != nil {
		t.Fatal(err)
	}
	if err := h1.AttachDevice(ctx, run, diskDev("xvdb")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	before, err := h1.ListDomains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h1.Close(); err != nil {
		t.Fatal(err)
	}

	// The guests keep running while no daemon watches.
	clock.Advance(5 * time.Second)
	h2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	after, err := h2.ListDomains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("after restart %d domains, before %d", len(after), len(before))
	}
	for i, b := range before {
		a := after[i]
		wantCPU := b.CPUTime
		if b.State == libxl.StateRunning {
			wantCPU += time.Duration(b.OnlineVcpus) * 5 * time.Second
		}
		b.CPUTime = wantCPU
		if a.DomID != b.DomID || a.UUID != b.UUID || a.Name != b.Name || a.State != b.State ||
			a.ShutdownReason != b.ShutdownReason || a.CurrentKiB != b.CurrentKiB || a.TargetKiB != b.TargetKiB ||
			a.MaxMemKiB != b.MaxMemKiB || a.OnlineVcpus != b.OnlineVcpus || a.CPUTime != b.CPUTime ||
			!a.Created.Equal(b.Created) {
			t.Fatalf("domain %d after restart:\n %+v\nwant\n %+v", b.DomID, a, b)
		}
	}
	if st := mustInfo(t, h2, paused).State; st != libxl.StatePaused {
		t.Fatalf("paused domain is %s", st)
	}
	if ud, err := h2.Userdata(ctx, run, "virtxend"); err != nil || string(ud) != "uid-run" {
		t.Fatalf("userdata after restart: %q, %v", ud, err)
	}
	vc, _ := h2.VcpuInfo(ctx, run)
	if len(vc[1].Affinity) != 1 || vc[1].Affinity[0] != 3 {
		t.Fatalf("affinity after restart: %v", vc[1].Affinity)
	}
	wantErr(t, h2.AttachDevice(ctx, run, diskDev("xvdb")), libxl.ErrDevExists)
	// The destroyed domain's domid is not handed out again.
	if id := mustCreate(t, h2, cfg("next", 1024, 1), libxl.CreateOptions{}); id != gone+1 {
		t.Fatalf("domid after restart = %d, want %d", id, gone+1)
	}
	// The restarted daemon drives the old guests as its own.
	if err := h2.UnpauseDomain(ctx, paused); err != nil {
		t.Fatal(err)
	}
	if err := h2.DestroyDomain(ctx, crashed); err != nil {
		t.Fatal(err)
	}
}

func TestDomidNotReusedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	h1, err := New(testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	var last libxl.DomID
	for _, n := range []string{"a", "b", "c"} {
		last = mustCreate(t, h1, cfg(n, 1024, 1), libxl.CreateOptions{})
	}
	// Destroy the newest: only host.json remembers that its domid was used.
	if err := h1.DestroyDomain(ctx, last); err != nil {
		t.Fatal(err)
	}
	h1.Close()
	h2, err := New(testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if id := mustCreate(t, h2, cfg("d", 1024, 1), libxl.CreateOptions{}); id != last+1 {
		t.Fatalf("domid %d, want %d", id, last+1)
	}
}

func TestDomidWrap(t *testing.T) {
	h := newHost(t)
	h.mu.Lock()
	h.nextID = domidFirstReserved - 1
	h.mu.Unlock()
	a := mustCreate(t, h, cfg("a", 1024, 1), libxl.CreateOptions{})
	b := mustCreate(t, h, cfg("b", 1024, 1), libxl.CreateOptions{})
	if a != domidFirstReserved-1 || b != 1 {
		t.Fatalf("domids around the wrap: %d, %d", a, b)
	}
	// 1 is in use now, so the rover skips it.
	h.mu.Lock()
	h.nextID = 1
	h.mu.Unlock()
	if c := mustCreate(t, h, cfg("c", 1024, 1), libxl.CreateOptions{}); c != 2 {
		t.Fatalf("domid after wrap = %d, want 2", c)
	}
}

func TestStateDirLocked(t *testing.T) {
	dir := t.TempDir()
	h1, err := New(testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(testOptions(dir))
	wantErr(t, err, ErrStateDirBusy)
	h1.Close()
	h2, err := New(testOptions(dir))
	if err != nil {
		t.Fatalf("New after the owner closed: %v", err)
	}
	h2.Close()
}

// TestHostReboot: state from another boot belongs to guests that died with the host.
func TestHostReboot(t *testing.T) {
	dir := t.TempDir()
	h1, err := New(testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, h1, cfg("a", 1024, 1), libxl.CreateOptions{})
	h1.Close()
	opts := testOptions(dir)
	opts.BootID = "another-boot"
	h2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	list, _ := h2.ListDomains(context.Background())
	if len(list) != 1 || list[0].DomID != 0 {
		t.Fatalf("after host reboot: %+v", list)
	}
	if id := mustCreate(t, h2, cfg("a", 1024, 1), libxl.CreateOptions{}); id != 1 {
		t.Fatalf("first domid of the new boot = %d", id)
	}
}

// TestPendingShutdownSurvivesRestart: a guest asked to shut down acts on it whether or not a daemon watches.
func TestPendingShutdownSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	opts := testOptions(dir)
	opts.ShutdownDelay = time.Hour
	h1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	due := mustCreate(t, h1, cfg("due", 1024, 1), libxl.CreateOptions{})
	later := mustCreate(t, h1, cfg("later", 1024, 1), libxl.CreateOptions{})
	if err := h1.ShutdownDomain(ctx, due); err != nil {
		t.Fatal(err)
	}
	h1.SetShutdownDelay(30 * time.Millisecond)
	if err := h1.RebootDomain(ctx, later); err != nil {
		t.Fatal(err)
	}
	h1.Close()

	// The first request came due while no daemon ran.
	clock := newFakeClock()
	clock.t = time.Now().Add(2 * time.Hour)
	opts.Clock = clock.Now
	h2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if info := mustInfo(t, h2, due); info.State != libxl.StateShutdown || info.ShutdownReason != libxl.ShutdownPoweroff {
		t.Fatalf("due: %+v", info)
	}
	if info := mustInfo(t, h2, later); info.State != libxl.StateShutdown || info.ShutdownReason != libxl.ShutdownReboot {
		t.Fatalf("later: %+v", info)
	}
	h2.Close()

	// A request still pending at restart completes under the new daemon.
	opts.Clock = nil
	opts.ShutdownDelay = 30 * time.Millisecond
	h3, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h3.Close()
	id := mustCreate(t, h3, cfg("third", 1024, 1), libxl.CreateOptions{})
	h3.SetShutdownDelay(time.Hour)
	if err := h3.ShutdownDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	h3.Close()
	h4, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h4.Close()
	if info := mustInfo(t, h4, id); info.State != libxl.StateRunning {
		t.Fatalf("request an hour away completed early: %+v", info)
	}
}

func TestCorruptStateFile(t *testing.T) {
	dir := t.TempDir()
	h1, err := New(testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, h1, cfg("a", 1024, 1), libxl.CreateOptions{})
	h1.Close()
	// A leftover temp file of an interrupted write is ignored.
	tmp := filepath.Join(dir, domainsDir, "1.json.tmp")
	if err := os.WriteFile(tmp, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	h2, err := New(testOptions(dir))
	if err != nil {
		t.Fatalf("New with a stale temp file: %v", err)
	}
	mustInfo(t, h2, id)
	h2.Close()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("stale temp file left: %v", err)
	}
	// A damaged state file is an error that names it, not a silently lost guest.
	if err := os.WriteFile(filepath.Join(dir, domainsDir, "1.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = New(testOptions(dir))
	if err == nil {
		t.Fatal("New accepted a corrupt state file")
	}
	t.Log(err)
}

func TestSyncedState(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Sync = true
	h1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, h1, cfg("durable", 1024, 1), libxl.CreateOptions{})
	if err := h1.PauseDomain(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	h1.Close()
	h2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if st := mustInfo(t, h2, id).State; st != libxl.StatePaused {
		t.Fatalf("state %s", st)
	}
}

// The credit-scheduler weight a domain was built with, or was given later, is what the host reports, before and
// after a daemon restart; out-of-range values are refused.
func TestSchedParams(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	h1, err := New(testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	plain := mustCreate(t, h1, cfg("plain", 1024, 1), libxl.CreateOptions{})
	weighted := cfg("weighted", 1024, 1)
	weighted.BInfo.SchedParams.Weight = 1024
	heavy := mustCreate(t, h1, weighted, libxl.CreateOptions{})
	if p, err := h1.SchedParams(ctx, plain); err != nil || p != (libxl.SchedParams{Weight: libxl.DefaultSchedWeight}) {
		t.Fatalf("plain: %+v, %v", p, err)
	}
	if p, _ := h1.SchedParams(ctx, heavy); p.Weight != 1024 {
		t.Fatalf("weighted: %+v", p)
	}
	if err := h1.SetSchedParams(ctx, plain, libxl.SchedParams{Weight: 512, Cap: 50}); err != nil {
		t.Fatal(err)
	}
	// A KeepSchedParam field keeps its value.
	if err := h1.SetSchedParams(ctx, heavy, libxl.SchedParams{Weight: libxl.KeepSchedParam, Cap: 100}); err != nil {
		t.Fatal(err)
	}
	if p, _ := h1.SchedParams(ctx, heavy); p != (libxl.SchedParams{Weight: 1024, Cap: 100}) {
		t.Fatalf("weighted after cap=100: %+v", p)
	}
	// The cap is at most 100 per vcpu (the test domains have one vcpu).
	for _, bad := range []libxl.SchedParams{{Weight: 0}, {Weight: 65536}, {Weight: 256, Cap: -2}, {Weight: 256, Cap: 101}} {
		if err := h1.SetSchedParams(ctx, plain, bad); !errors.Is(err, libxl.ErrInvalid) {
			t.Errorf("SetSchedParams(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := h1.SchedParams(ctx, 999); !errors.Is(err, libxl.ErrNoDomain) {
		t.Errorf("SchedParams of a missing domain: %v", err)
	}
	h1.Close()
	h2, err := New(testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if p, err := h2.SchedParams(ctx, plain); err != nil || p != (libxl.SchedParams{Weight: 512, Cap: 50}) {
		t.Fatalf("after a restart: %+v, %v", p, err)
	}
}
