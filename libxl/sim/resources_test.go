package sim

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

func TestHostInfo(t *testing.T) {
	h := newHost(t)
	info, err := h.HostInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Hostname != "simhost" || info.XenVersion.Major != 4 || info.XenVersion.Minor != 17 ||
		!strings.HasPrefix(info.Capabilities, "xen-3.0-x86_64 hvm-3.0-x86_32") || info.CPUs != 4 ||
		info.Nodes*info.CoresPer*info.ThreadsPer != 4 || info.TotalKiB != 4<<20 || info.FreeKiB != 3<<20 ||
		!info.HVM || info.BootID != testBootID || info.CPUModel == "" || info.CPUMHz == 0 {
		t.Fatalf("HostInfo = %+v", info)
	}
}

func TestBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no dir":          {},
		"dom0 too big":    {TotalMemKiB: 1 << 20, Dom0MemKiB: 1 << 20},
		"uneven numa":     {CPUs: 6, Nodes: 4},
		"negative cpus":   {CPUs: -2},
		"nodes over cpus": {CPUs: 4, Nodes: 3},
	} {
		t.Run(name, func(t *testing.T) {
			if name != "no dir" {
				o.StateDir = t.TempDir()
			}
			o.BootID = testBootID
			if h, err := New(o); err == nil {
				h.Close()
				t.Fatal("New accepted bad options")
			}
		})
	}
}

// TestMemoryAccounting: free memory is total minus what every domain holds; a create that does not fit fails.
func TestMemoryAccounting(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	free := func() uint64 {
		info, err := h.HostInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.FreeKiB
	}
	if f := free(); f != 3<<20 {
		t.Fatalf("free = %d", f)
	}
	// max_memkb is a ceiling, not a reservation: a domain holds its target.
	c := cfg("a", 2<<20, 1)
	c.BInfo.TargetMemkb = 1 << 20
	a := mustCreate(t, h, c, libxl.CreateOptions{})
	if f := free(); f != 2<<20 {
		t.Fatalf("free after a = %d", f)
	}
	mustCreate(t, h, cfg("b", 2<<20, 1), libxl.CreateOptions{})
	if f := free(); f != 0 {
		t.Fatalf("free after b = %d", f)
	}
	_, err := h.CreateDomain(ctx, cfg("c", 1, 1), libxl.CreateOptions{})
	wantErr(t, err, libxl.ErrNoMemory)
	if !strings.Contains(err.Error(), "can't allocate") {
		t.Fatalf("error %q does not read like Xen's", err)
	}
	// Ballooning down frees memory at once; ballooning up takes what is free, no more.
	if err := h.SetMemoryTarget(ctx, a, 512<<10); err != nil {
		t.Fatal(err)
	}
	if f := free(); f != 512<<10 {
		t.Fatalf("free after balloon down = %d", f)
	}
	if err := h.SetMemoryTarget(ctx, a, 2<<20); err != nil {
		t.Fatal(err)
	}
	info := mustInfo(t, h, a)
	if info.TargetKiB != 2<<20 || info.CurrentKiB != 1<<20 || free() != 0 {
		t.Fatalf("balloon up without free memory: %+v, free %d", info, free())
	}
	// A paused guest's balloon driver does not run until it is unpaused.
	if err := h.PauseDomain(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := h.SetMemoryTarget(ctx, a, 256<<10); err != nil {
		t.Fatal(err)
	}
	if info := mustInfo(t, h, a); info.TargetKiB != 256<<10 || info.CurrentKiB != 1<<20 {
		t.Fatalf("paused guest ballooned: %+v", info)
	}
	if err := h.UnpauseDomain(ctx, a); err != nil {
		t.Fatal(err)
	}
	if info := mustInfo(t, h, a); info.CurrentKiB != 256<<10 || free() != 768<<10 {
		t.Fatalf("unpaused guest did not balloon: %+v, free %d", info, free())
	}
}

func TestMemoryLimits(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	c := cfg("m", 256<<10, 1)
	c.BInfo.TargetMemkb = 128 << 10
	id := mustCreate(t, h, c, libxl.CreateOptions{})
	down := mustCreate(t, h, cfg("down", 1024, 1), libxl.CreateOptions{})
	if err := h.ShutdownDomain(ctx, down); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		op    func() error
		want  error
		max   uint64
		tgt   uint64
		domid libxl.DomID
	}{
		{"target above max", func() error { return h.SetMemoryTarget(ctx, id, 512<<10) }, libxl.ErrInvalid, 256 << 10, 128 << 10, id},
		{"target zero", func() error { return h.SetMemoryTarget(ctx, id, 0) }, libxl.ErrInvalid, 256 << 10, 128 << 10, id},
		{"target up to max", func() error { return h.SetMemoryTarget(ctx, id, 256<<10) }, nil, 256 << 10, 256 << 10, id},
		{"max below target", func() error { return h.SetMaxMemory(ctx, id, 200<<10) }, libxl.ErrInvalid, 256 << 10, 256 << 10, id},
		{"target down", func() error { return h.SetMemoryTarget(ctx, id, 100<<10) }, nil, 256 << 10, 100 << 10, id},
		{"max down to target", func() error { return h.SetMaxMemory(ctx, id, 100<<10) }, nil, 100 << 10, 100 << 10, id},
		{"max up", func() error { return h.SetMaxMemory(ctx, id, 1<<20) }, nil, 1 << 20, 100 << 10, id},
		{"target of shut down", func() error { return h.SetMemoryTarget(ctx, down, 512) }, libxl.ErrBadState, 1024, 1024, down},
		{"max of shut down", func() error { return h.SetMaxMemory(ctx, down, 4096) }, libxl.ErrBadState, 1024, 1024, down},
	} {
		err := tc.op()
		if tc.want == nil && err != nil || tc.want != nil && !errorsIs(err, tc.want) {
			t.Fatalf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		info := mustInfo(t, h, tc.domid)
		if info.MaxMemKiB != tc.max || info.TargetKiB != tc.tgt {
			t.Fatalf("%s: max %d target %d, want %d %d", tc.name, info.MaxMemKiB, info.TargetKiB, tc.max, tc.tgt)
		}
	}
}

func TestVcpus(t *testing.T) {
	clock := newFakeClock()
	h := newHost(t, func(o *Options) { o.Clock = clock.Now })
	ctx := context.Background()
	id := mustCreate(t, h, cfg("v", 1024, 4), libxl.CreateOptions{})

	for _, tc := range []struct {
		n    int
		want error
	}{{0, libxl.ErrInvalid}, {5, libxl.ErrInvalid}, {-1, libxl.ErrInvalid}, {2, nil}} {
		err := h.SetVcpusOnline(ctx, id, tc.n)
		if tc.want == nil && err != nil || tc.want != nil && !errorsIs(err, tc.want) {
			t.Fatalf("SetVcpusOnline(%d): %v, want %v", tc.n, err, tc.want)
		}
	}
	if info := mustInfo(t, h, id); info.OnlineVcpus != 2 || info.MaxVcpus != 4 {
		t.Fatalf("vcpus %d/%d", info.OnlineVcpus, info.MaxVcpus)
	}

	for _, tc := range []struct {
		name string
		vcpu int
		cpus []int
		want error
	}{
		{"vcpu out of range", 4, []int{0}, libxl.ErrInvalid},
		{"negative vcpu", -1, []int{0}, libxl.ErrInvalid},
		{"cpu out of range", 0, []int{4}, libxl.ErrInvalid},
		{"negative cpu", 0, []int{-1}, libxl.ErrInvalid},
		{"empty map", 0, nil, libxl.ErrInvalid},
		{"pin", 1, []int{3, 2, 3}, nil},
		{"pin offline vcpu", 3, []int{0}, nil},
	} {
		err := h.PinVcpu(ctx, id, tc.vcpu, tc.cpus)
		if tc.want == nil && err != nil || tc.want != nil && !errorsIs(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}

	clock.Advance(10 * time.Second)
	vc, err := h.VcpuInfo(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	all := []int{0, 1, 2, 3}
	want := []libxl.VcpuInfo{
		{ID: 0, Online: true, Running: true, CPUTime: 10 * time.Second, Affinity: all},
		{ID: 1, Online: true, Running: true, CPUTime: 10 * time.Second, Affinity: []int{2, 3}},
		{ID: 2, Affinity: all},
		{ID: 3, Affinity: []int{0}},
	}
	for i, w := range want {
		g := vc[i]
		if g.ID != w.ID || g.Online != w.Online || g.Running != w.Running || g.CPUTime != w.CPUTime ||
			!slices.Equal(g.Affinity, w.Affinity) || !slices.Contains(g.Affinity, g.CPU) {
			t.Fatalf("vcpu %d = %+v, want %+v", i, g, w)
		}
	}
	if ct := mustInfo(t, h, id).CPUTime; ct != 20*time.Second {
		t.Fatalf("domain cpu time %v, want 2 vcpus x 10s", ct)
	}

	// Paused domains burn no CPU; offline vcpus neither.
	if err := h.PauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if ct := mustInfo(t, h, id).CPUTime; ct != 20*time.Second {
		t.Fatalf("paused domain cpu time %v", ct)
	}
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := h.SetVcpusOnline(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if ct := mustInfo(t, h, id).CPUTime; ct != 21*time.Second {
		t.Fatalf("cpu time after 1s on 1 vcpu: %v", ct)
	}
	// Pinning to every cpu restores the default affinity.
	if err := h.PinVcpu(ctx, id, 1, all); err != nil {
		t.Fatal(err)
	}
	vc, _ = h.VcpuInfo(ctx, id)
	if !slices.Equal(vc[1].Affinity, all) {
		t.Fatalf("affinity %v", vc[1].Affinity)
	}
}

func TestVcpuOpsOnShutDomain(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	id := mustCreate(t, h, cfg("v", 1024, 2), libxl.CreateOptions{})
	if err := h.InjectCrash(id); err != nil {
		t.Fatal(err)
	}
	wantErr(t, h.SetVcpusOnline(ctx, id, 1), libxl.ErrBadState)
	wantErr(t, h.PinVcpu(ctx, id, 0, []int{1}), libxl.ErrBadState)
	if _, err := h.VcpuInfo(ctx, id); err != nil {
		t.Fatalf("VcpuInfo of a shut down domain: %v", err)
	}
}

func TestUserdata(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	id := mustCreate(t, h, cfg("u", 1024, 1), libxl.CreateOptions{})
	_, err := h.Userdata(ctx, id, "missing")
	wantErr(t, err, libxl.ErrNoUserdata)
	wantErr(t, h.SetUserdata(ctx, id, "", []byte("x")), libxl.ErrInvalid)
	wantErr(t, h.SetUserdata(ctx, id, "a/b", []byte("x")), libxl.ErrInvalid)

	blob := []byte("uid=1 gen=2")
	if err := h.SetUserdata(ctx, id, "virtxend", blob); err != nil {
		t.Fatal(err)
	}
	blob[0] = 'X' // the host keeps its own copy
	got, err := h.Userdata(ctx, id, "virtxend")
	if err != nil || string(got) != "uid=1 gen=2" {
		t.Fatalf("Userdata = %q, %v", got, err)
	}
	got[0] = 'Y'
	if again, _ := h.Userdata(ctx, id, "virtxend"); string(again) != "uid=1 gen=2" {
		t.Fatalf("caller changed stored userdata: %q", again)
	}
	// Empty data deletes, as libxl_userdata_store with datalen 0.
	if err := h.SetUserdata(ctx, id, "virtxend", nil); err != nil {
		t.Fatal(err)
	}
	_, err = h.Userdata(ctx, id, "virtxend")
	wantErr(t, err, libxl.ErrNoUserdata)
	// Keys are independent; storing again replaces.
	for _, kv := range [][2]string{{"k", "v0"}, {"other", "o"}, {"k", "v"}} {
		if err := h.SetUserdata(ctx, id, kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	for k, want := range map[string]string{"k": "v", "other": "o"} {
		if got, err := h.Userdata(ctx, id, k); err != nil || string(got) != want {
			t.Errorf("Userdata(%s) = %q, %v; want %q", k, got, err, want)
		}
	}
	// Userdata goes with the domain.
	if err := h.DestroyDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = h.Userdata(ctx, id, "k")
	wantErr(t, err, libxl.ErrNoDomain)
}
