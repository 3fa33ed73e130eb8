//go:build xenlight

package xenlight

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/go-logr/logr/testr"
	"sigs.k8s.io/yaml"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
	"github.com/virtxend/virtxend/test/testenv"
)

// mockEnv is set in the test binary re-executed with testdata/mock.c preloaded.
const mockEnv = "VIRTXEND_XENLIGHT_MOCK"

// withMockedXen runs the calling test again in a child process with testdata/mock.c LD_PRELOADed (fake libxc and
// xenstore handles, a fixed host), as libvirt's tests run libxl: it returns true in that child, false in the
// parent once the child has passed. It skips where there is no C compiler.
func withMockedXen(t *testing.T) bool {
	t.Helper()
	if os.Getenv(mockEnv) != "" {
		return true
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		testenv.Missing(t, "a C compiler to build the Xen mock (Debian package gcc)", "apt-get install gcc")
	}
	so := filepath.Join(t.TempDir(), "libmock.so")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", so, "testdata/mock.c").CombinedOutput(); err != nil {
		t.Fatalf("cannot build the Xen mock: %v\n%s", err, out) // a broken mock must not pass as a skip
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), mockEnv+"=1", "LD_PRELOAD="+so)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("with the Xen mock preloaded: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("with the Xen mock preloaded:\n%s", out)
	}
	return false
}

func openMocked(t *testing.T) (*Hypervisor, *string) {
	t.Helper()
	var cmdline string
	h, err := New(Options{
		Log:          testr.NewWithOptions(t, testr.Options{Verbosity: 1}),
		Autoballoon:  func(c string) bool { cmdline = c; return !strings.Contains(c, "dom0_mem=") },
		ScanInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h, &cmdline
}

// TestMockedHost opens libxenlight through New against the mock and checks what reaches Go through the cgo
// bridge: host facts, Domain-0, the error mapping of the guards, the event stream and Close.
func TestMockedHost(t *testing.T) {
	if !withMockedXen(t) {
		return
	}
	h, cmdline := openMocked(t)
	ctx := context.Background()

	info, err := h.HostInfo(ctx)
	if err != nil {
		t.Fatalf("HostInfo: %v", err)
	}
	want := libxl.HostInfo{
		XenVersion:   libxl.Version{Major: 4, Minor: 17, Micro: 3},
		Capabilities: "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64",
		CPUMHz:       2400, Nodes: 3, Sockets: 1, CoresPer: 4, ThreadsPer: 1, CPUs: 4,
		TotalKiB: 4 << 20, FreeKiB: 2 << 20, HVM: true, Scheduler: "credit2",
		NUMA: []libxl.NUMANode{
			{ID: 0, MemKiB: 3 << 20, FreeKiB: 3 << 19, Distances: []int{10, 21, 22}},
			{ID: 1, MemKiB: 1 << 20, FreeKiB: 1 << 19, Distances: []int{21, 10, 23}},
		},
		CPUPlaces: []libxl.CPUPlace{{CPU: 0, Core: 0, Node: 0}, {CPU: 1, Core: 1, Node: 0}, {CPU: 2, Core: 2, Node: 1}},
	}
	got := info
	got.Hostname, got.CPUModel, got.BootID = "", "", ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HostInfo = %+v\nwant %+v", got, want)
	}
	if info.BootID == "" || info.Hostname == "" {
		t.Errorf("HostInfo lacks the boot id or hostname: %+v", info)
	}
	if *cmdline != "placeholder dom0_mem=1024M,max:1024M loglvl=all" || h.Autoballoon() {
		t.Errorf("autoballoon decided on %q: %v", *cmdline, h.Autoballoon())
	}

	doms, err := h.ListDomains(ctx)
	if err != nil {
		t.Fatalf("ListDomains: %v", err)
	}
	if len(doms) != 1 {
		t.Fatalf("ListDomains = %+v", doms)
	}
	d0 := doms[0]
	if d0.DomID != 0 || d0.Name != "Domain-0" || d0.UUID != "00000000-0000-0000-0000-000000000000" ||
		d0.State != libxl.StateRunning || d0.Type != libxl.DomainTypePV || d0.TargetKiB != 1<<20 ||
		d0.MaxMemKiB != 1<<20 || d0.CurrentKiB != 1<<20 || d0.MaxVcpus != 4 || d0.OnlineVcpus != 4 ||
		d0.CPUTime != 5*time.Second {
		t.Errorf("Domain-0 = %+v", d0)
	}
	if one, err := h.DomainInfo(ctx, 0); err != nil || one != d0 {
		t.Errorf("DomainInfo(0) = %+v, %v", one, err)
	}
	// Scheduler parameters go through get-modify-set: the scheduler the get reported stays.
	if err := h.SetSchedParams(ctx, 0, libxl.SchedParams{Weight: 512, Cap: 10}); err != nil {
		t.Errorf("SetSchedParams: %v", err)
	}
	if p, err := h.SchedParams(ctx, 0); err != nil || p != (libxl.SchedParams{Weight: 512, Cap: 10}) {
		t.Errorf("SchedParams(0) = %+v, %v", p, err)
	}
	if err := h.SetSchedParams(ctx, 0, libxl.SchedParams{Weight: libxl.KeepSchedParam, Cap: 20}); err != nil {
		t.Errorf("SetSchedParams(cap only): %v", err)
	}
	if p, err := h.SchedParams(ctx, 0); err != nil || p != (libxl.SchedParams{Weight: 512, Cap: 20}) {
		t.Errorf("SchedParams(0) after the cap alone = %+v, %v; want the weight kept", p, err)
	}

	errs := []struct {
		name string
		err  error
		want error
	}{
		{"info of a missing domain", second(h.DomainInfo(ctx, 42)), libxl.ErrNoDomain},
		{"scheduler of a missing domain", second(h.SchedParams(ctx, 42)), libxl.ErrNoDomain},
		{"weight out of range", h.SetSchedParams(ctx, 0, libxl.SchedParams{Weight: 70000}), libxl.ErrInvalid},
		{"destroy Domain-0", h.DestroyDomain(ctx, 0), libxl.ErrDom0},
		{"shutdown Domain-0", h.ShutdownDomain(ctx, 0), libxl.ErrDom0},
		{"pause Domain-0", h.PauseDomain(ctx, 0), libxl.ErrDom0},
		{"save Domain-0", h.SaveDomain(ctx, 0, os.Stdout), libxl.ErrDom0},
		{"console of Domain-0", second(h.ConsolePath(ctx, 0, libxl.ConsolePV, 0)), libxl.ErrDom0},
		{"attach to Domain-0", h.AttachDevice(ctx, 0, libxl.Device{}), libxl.ErrDom0},
		{"pause a missing domain", h.PauseDomain(ctx, 42), libxl.ErrNoDomain},
		{"memory of a missing domain", h.SetMemoryTarget(ctx, 42, 1024), libxl.ErrNoDomain},
		{"vcpus of Domain-0 beyond max", h.SetVcpusOnline(ctx, 0, 9), libxl.ErrInvalid},
		{"pin a vcpu Domain-0 lacks", h.PinVcpu(ctx, 0, 7, []int{0}), libxl.ErrInvalid},
		{"create from nothing", second(h.CreateDomain(ctx, nil, libxl.CreateOptions{})), libxl.ErrInvalid},
		{"restore without a config", second(h.RestoreDomain(ctx, nil, os.Stdin, libxl.CreateOptions{})), libxl.ErrInvalid},
		{"bad userdata key", h.SetUserdata(ctx, 0, "a/b", []byte("x")), libxl.ErrInvalid},
	}
	for _, e := range errs {
		if !errors.Is(e.err, e.want) {
			t.Errorf("%s: %v, want %v", e.name, e.err, e.want)
		}
	}

	// libxl leaves SIGCHLD to us: os/exec still reaps its own children.
	if out, err := exec.Command("sh", "-c", "echo child").Output(); err != nil || string(out) != "child\n" {
		t.Errorf("os/exec with libxl open: %q, %v", out, err)
	}

	evctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := h.Events(evctx)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // a few pump iterations and scans
	select {
	case ev := <-events:
		t.Errorf("unexpected event on a host with Domain-0 alone: %+v", ev)
	default:
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, ok := <-events; ok {
		t.Error("event stream still open after Close")
	}
	if _, err := h.ListDomains(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("ListDomains after Close = %v, want ErrClosed", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestMockedConfigs hands every sample configuration to libxl's own parser through the adapter's path
// (libxl_domain_config_from_json, then libxl_domain_config_to_json): libxl must accept the JSON the Go side
// prints and print the very same text. The samples are the libxl 4.17 corpus under libxl/testdata and the
// shipped specs of config/samples built with libxl.Build.
func TestMockedConfigs(t *testing.T) {
	if !withMockedXen(t) {
		return
	}
	h, _ := openMocked(t)
	defer h.Close()
	n := 0
	check := func(name string, cfg *libxl.DomainConfig) {
		t.Helper()
		n++
		ours, err := cfg.LibxlJSON()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		theirs, err := h.Canonical(cfg)
		if err != nil {
			t.Errorf("%s: libxl rejects our configuration: %v\n%s", name, err, ours)
			return
		}
		if !bytes.Equal(theirs, ours) {
			t.Errorf("%s: libxl prints it differently:\nours:\n%s\nlibxl:\n%s", name, ours, theirs)
		}
	}
	files, _ := filepath.Glob("../testdata/libxl417*/*.json")
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cfg libxl.DomainConfig
		if err := cfg.UnmarshalJSON(in); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		check(f, &cfg)
	}
	samples, _ := filepath.Glob("../../config/samples/*")
	for _, f := range samples {
		cfg, err := buildSample(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		check(f, cfg)
	}
	if len(files) == 0 || len(samples) == 0 {
		t.Errorf("found %d corpus files and %d samples", len(files), len(samples))
	}
	t.Logf("libxl parsed and printed %d configurations as we print them", n)

	// libxl's own messages reach the logger given with SetLogger.
	var mu sync.Mutex
	var logged []string
	h.SetLogger(funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, args)
	}, funcr.Options{Verbosity: 2}))
	bad := &libxl.DomainConfig{CInfo: libxl.DomainCreateInfo{Type: "bogus", Name: "bad"}}
	if _, err := h.Canonical(bad); !errors.Is(err, libxl.ErrInvalid) {
		t.Errorf("Canonical of an unknown domain type = %v, want ErrInvalid", err)
	}
	mu.Lock()
	if all := strings.Join(logged, "\n"); !strings.Contains(all, "libxl__object_from_json") {
		t.Errorf("libxl's parse error did not reach the logger: %q", all)
	}
	mu.Unlock()
	if _, err := h.CreateDomain(context.Background(), bad, libxl.CreateOptions{}); !errors.Is(err, libxl.ErrInvalid) {
		t.Errorf("CreateDomain of an unknown domain type = %v, want ErrInvalid", err)
	}
}

// buildSample turns a shipped spec (a XenDomain YAML or a libvirt domain XML) into the libxl configuration the
// daemon would start it with.
func buildSample(path string) (*libxl.DomainConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var spec *v1alpha1.DomainSpec
	if strings.HasSuffix(path, ".xml") {
		if spec, err = domxml.Parse(data); err != nil {
			return nil, err
		}
	} else {
		var obj v1alpha1.XenDomain
		if err := yaml.Unmarshal(data, &obj); err != nil {
			return nil, err
		}
		spec = &obj.Spec.Domain
		if spec.Name == "" {
			spec.Name = obj.Name
		}
	}
	if err := domxml.ApplyDefaults(spec, domxml.Defaults{}); err != nil {
		return nil, err
	}
	facts := libxl.DefaultHostFacts()
	facts.CheckEmulator = func(string) error { return nil }
	facts.EmulatorType = func(string) libxl.DeviceModelVersion { return libxl.DeviceModelQemuXen }
	res, err := libxl.Build(spec, facts)
	if err != nil {
		return nil, err
	}
	return res.Config, nil
}

// TestMockedEvents drives the event path without a hypervisor: libxl events handed to the C hook exactly as
// libxl hands them (vx_deliver), and the scanner finding guests that appear, pause and vanish in the mock.
func TestMockedEvents(t *testing.T) {
	if !withMockedXen(t) {
		return
	}
	doms := filepath.Join(t.TempDir(), "domains")
	setDoms := func(s string) {
		t.Helper()
		if err := os.WriteFile(doms, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setDoms("7 0\n")
	t.Setenv("VXMOCK_DOMAINS", doms)
	h, _ := openMocked(t)
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := h.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	token := func(id libxl.DomID) uint64 {
		h.reg.mu.Lock()
		defer h.reg.mu.Unlock()
		if w := h.reg.doms[id]; w != nil {
			return w.token
		}
		return 0
	}
	uuid7 := [16]byte{15: 7}
	next := func(what string) libxl.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatalf("no event: waiting for %s", what)
		}
		return libxl.Event{}
	}

	tok := token(7)
	if tok == 0 {
		t.Fatal("the guest present at start is not watched")
	}
	h.deliver(rawEvent{Type: eventDomainShutdown, DomID: 7, Reason: 3, UUID: uuid7, Token: tok + 100}) // stale
	h.deliver(rawEvent{Type: eventDomainShutdown, DomID: 7, Reason: 3, UUID: uuid7, Token: tok})
	ev := next("the shutdown")
	want := libxl.Event{Type: libxl.EventShutdown, DomID: 7, UUID: "00000000-0000-0000-0000-000000000007",
		Name: "guest-7", State: libxl.StateShutdown, Reason: libxl.ShutdownCrash, Time: ev.Time}
	if ev != want {
		t.Errorf("shutdown event = %+v\nwant %+v", ev, want)
	}

	setDoms("7 1\n9 0\n")
	got := map[libxl.EventType]libxl.Event{}
	for len(got) < 2 {
		ev := next("the pause of 7 and the creation of 9")
		got[ev.Type] = ev
	}
	if ev := got[libxl.EventStateChanged]; ev.DomID != 7 || ev.State != libxl.StatePaused || ev.Name != "guest-7" {
		t.Errorf("state change = %+v", ev)
	}
	if ev := got[libxl.EventCreated]; ev.DomID != 9 || ev.State != libxl.StateRunning || ev.Name != "guest-9" {
		t.Errorf("creation = %+v", ev)
	}

	// libxl reports the death of a domain that is dying (it may linger, holding memory): reported once, and the
	// scanner does not take the lingering domain for a new one.
	setDoms("7 2\n9 0\n")
	h.deliver(rawEvent{Type: eventDomainDeath, DomID: 7, Reason: -1, UUID: uuid7, Token: tok})
	if ev := next("the death of 7"); ev.Type != libxl.EventDeath || ev.DomID != 7 || ev.Name != "guest-7" || ev.State != libxl.StateDying {
		t.Errorf("death event = %+v", ev)
	}
	if token(7) != 0 {
		t.Error("a dead domain is still watched")
	}
	h.deliver(rawEvent{Type: eventDomainDeath, DomID: 7, Reason: -1, UUID: uuid7, Token: tok}) // reported already
	select {
	case ev := <-events:
		t.Errorf("unexpected event after the death of 7: %+v", ev)
	case <-time.After(200 * time.Millisecond): // a few scans
	}

	setDoms("")
	if ev := next("the death of 9, noticed by the scanner"); ev.Type != libxl.EventDeath || ev.DomID != 9 || ev.Name != "guest-9" {
		t.Errorf("vanished domain = %+v", ev)
	}
	select {
	case ev := <-events:
		t.Errorf("unexpected event %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := h.DomainInfo(context.Background(), 9); !errors.Is(err, libxl.ErrNoDomain) {
		t.Errorf("DomainInfo of the vanished domain = %v", err)
	}
}
