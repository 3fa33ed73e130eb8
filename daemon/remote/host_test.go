package remote

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/daemon/store"
	"github.com/virtxend/virtxend/libxl"
	"github.com/virtxend/virtxend/libxl/sim"
)

// hostEnv is a facade over a simulated host, served on a read-write and a read-only Unix socket.
type hostEnv struct {
	t            *testing.T
	HV           *sim.Host
	Facade       *Facade
	Sock, SockRO string
}

// hostSimOptions is a two-node host with hyperthreads: 8 cpus, 4 per node, 2 cores of 2 threads per socket.
func hostSimOptions(t *testing.T) sim.Options {
	return sim.Options{
		StateDir: t.TempDir(), Hostname: "xenhost.example.org", BootID: "boot-1",
		TotalMemKiB: 16 << 20, Dom0MemKiB: 2 << 20, CPUs: 8, Nodes: 2, ShutdownDelay: -1,
	}
}

// startHostEnv wires a facade as daemon.wire does, with the parts the host procedures need.
func startHostEnv(t *testing.T, opts sim.Options) *hostEnv {
	t.Helper()
	return startHostEnvWith(t, opts, nil)
}

// startHostEnvWith is startHostEnv with edit applied to the facade before it serves.
func startHostEnvWith(t *testing.T, opts sim.Options, edit func(*Facade)) *hostEnv {
	t.Helper()
	hv, err := sim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hv.Close() })
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(scheme, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	facts := libxl.DefaultHostFacts()
	info, err := hv.HostInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	facts.NUMANodes, facts.MaxCPUs = info.Nodes, info.CPUs
	obs := controllers.NewObserver(hv, time.Minute, logr.Discard())
	f := &Facade{Store: st, Observer: obs, HV: hv, Events: controllers.NewEventLog(), Facts: facts,
		Log: logr.Discard(), StateDir: t.TempDir()}
	if edit != nil {
		edit(f)
	}
	prog := rpc.NewRemoteProgram(f.SupportsFeature)
	f.Register(prog)
	srv := rpc.NewServer(rpc.Options{Name: "test"}, prog)

	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	e := &hostEnv{t: t, HV: hv, Facade: f, Sock: filepath.Join(dir, "sock"), SockRO: filepath.Join(dir, "sock-ro")}
	done := make(chan struct{}, 3)
	go func() { _ = obs.Run(ctx); done <- struct{}{} }()
	for _, l := range []struct {
		path string
		ro   bool
	}{{e.Sock, false}, {e.SockRO, true}} {
		ln, err := net.Listen("unix", l.path)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(ctx, ln, rpc.ListenerOpts{ReadOnly: l.ro}); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		srv.Close()
		for range 3 {
			<-done
		}
	})
	select {
	case <-obs.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("observer did not sync")
	}
	return e
}

// dial connects go-libvirt to one of the sockets.
func (e *hostEnv) dial(path string) *libvirt.Libvirt {
	e.t.Helper()
	nc, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(nc))
	if err := l.ConnectToURI("xen:///system"); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = l.Disconnect() })
	return l
}

// wantHostErr checks that err is the libvirt error code with message msg.
func wantHostErr(t *testing.T, err error, code libvirt.ErrorNumber, msg string) {
	t.Helper()
	var le libvirt.Error
	if !errors.As(err, &le) {
		t.Fatalf("got %v (%T), want libvirt error %d %q", err, err, code, msg)
	}
	if libvirt.ErrorNumber(le.Code) != code || le.Message != msg {
		t.Fatalf("got error %d %q, want %d %q", le.Code, le.Message, code, msg)
	}
}

type hostFakeResolver map[string]string

func (r hostFakeResolver) LookupCNAME(_ context.Context, host string) (string, error) {
	if c, ok := r[host]; ok {
		return c, nil
	}
	return "", &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestHostConnectCalls(t *testing.T) {
	e := startHostEnv(t, hostSimOptions(t))
	l := e.dial(e.Sock)

	if typ, err := l.ConnectGetType(); err != nil || typ != "Xen" {
		t.Errorf("ConnectGetType = %q, %v", typ, err)
	}
	if v, err := l.ConnectGetVersion(); err != nil || v != 4017000 {
		t.Errorf("ConnectGetVersion = %d, %v; want 4017000 (Xen 4.17, micro dropped as libvirt does)", v, err)
	}
	if v, err := l.ConnectGetLibVersion(); err != nil || v != 11003000 {
		t.Errorf("ConnectGetLibVersion = %d, %v", v, err)
	}
	if h, err := l.ConnectGetHostname(); err != nil || h != "xenhost.example.org" {
		t.Errorf("ConnectGetHostname = %q, %v", h, err)
	}
	if u, err := l.ConnectGetUri(); err != nil || u != "xen:///system" {
		t.Errorf("ConnectGetUri = %q, %v", u, err)
	}
	for _, typ := range []libvirt.OptString{nil, {"xen"}, {"Xen"}} {
		if n, err := l.ConnectGetMaxVcpus(typ); err != nil || n != 8 {
			t.Errorf("ConnectGetMaxVcpus(%v) = %d, %v; want the host's 8 cpus", typ, n, err)
		}
	}
	if s, err := l.ConnectIsSecure(); err != nil || s != 1 {
		t.Errorf("ConnectIsSecure = %d, %v", s, err)
	}
	model, doi, err := l.NodeGetSecurityModel()
	if err != nil || len(model) != 1 || model[0] != 0 || len(doi) != 1 || doi[0] != 0 {
		t.Errorf("NodeGetSecurityModel = %v, %v, %v; want empty strings with their NUL", model, doi, err)
	}
	_, err = l.ConnectGetSysinfo(1)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: unsupported flags (0x1) in function libxlConnectGetSysinfo")
}

func TestHostReadOnlyConnection(t *testing.T) {
	e := startHostEnv(t, hostSimOptions(t))
	ro := e.dial(e.SockRO)
	if h, err := ro.ConnectGetHostname(); err != nil || h == "" {
		t.Errorf("read-only ConnectGetHostname = %q, %v", h, err)
	}
	if _, err := ro.ConnectGetCapabilities(); err != nil {
		t.Errorf("read-only ConnectGetCapabilities: %v", err)
	}
	// virConnectGetDomainCapabilities refuses read-only connections (it may run an emulator binary).
	_, err := ro.ConnectGetDomainCapabilities(nil, nil, nil, nil, 0)
	wantHostErr(t, err, libvirt.ErrOperationDenied,
		"operation forbidden: read only access prevents virConnectGetDomainCapabilities")
}

func TestHostCanonicalHostname(t *testing.T) {
	old := netResolver
	t.Cleanup(func() { netResolver = old; hostnames.Clear() })
	netResolver = hostFakeResolver{"web": "web.example.org.", "lo": "localhost.localdomain"}
	hostnames.Clear()
	for _, tc := range []struct{ in, want string }{
		{"web", "web.example.org"},               // canonicalized, without DNS's final dot
		{"lo", "lo"},                             // canonicalized back to localhost: the name as is
		{"unknown", "unknown"},                   // the resolver does not know it
		{"host.example.com", "host.example.com"}, // already qualified
		{"localhost", "localhost"},
	} {
		if got := canonicalHostname(context.Background(), tc.in); got != tc.want {
			t.Errorf("canonicalHostname(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHostHypervisorVersion(t *testing.T) {
	for _, tc := range []struct {
		v    libxl.Version
		want uint64
	}{
		{libxl.Version{Major: 4, Minor: 17, Micro: 3}, 4017000},
		{libxl.Version{Major: 4, Minor: 9}, 4009000},
		{libxl.Version{Major: 10, Minor: 123, Micro: 7}, 10123000},
	} {
		if got := hypervisorVersion(tc.v); got != tc.want {
			t.Errorf("hypervisorVersion(%+v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

func TestHostSysinfo(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{
		"bios_vendor": "LENOVO\n", "bios_version": "G4ETA1WW (2.61 )\n", "bios_date": "05/07/2014\n", "bios_release": "2.61\n",
		"sys_vendor": "LENOVO\n", "product_name": "20AN006VUS\n", "product_family": "ThinkPad T440p\n",
		"board_vendor": "LENOVO\n", "board_name": "20AN006VUS\n", "board_asset_tag": "Not Available\n",
		"chassis_vendor": "Black & <White>\n", "chassis_version": "   \n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	// A file only root can read on a real host: the entry is left out.
	if err := os.WriteFile(filepath.Join(dir, "product_serial"), []byte("secret\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	got := formatSysinfo(readSMBIOS(dir))
	serial := ""
	if os.Geteuid() == 0 {
		serial = "    <entry name='serial'>secret</entry>\n"
	}
	want := "<sysinfo type='smbios'>\n" +
		"  <bios>\n" +
		"    <entry name='vendor'>LENOVO</entry>\n" +
		"    <entry name='version'>G4ETA1WW (2.61 )</entry>\n" +
		"    <entry name='date'>05/07/2014</entry>\n" +
		"    <entry name='release'>2.61</entry>\n" +
		"  </bios>\n" +
		"  <system>\n" +
		"    <entry name='manufacturer'>LENOVO</entry>\n" +
		"    <entry name='product'>20AN006VUS</entry>\n" +
		serial +
		"    <entry name='family'>ThinkPad T440p</entry>\n" +
		"  </system>\n" +
		"  <baseBoard>\n" +
		"    <entry name='manufacturer'>LENOVO</entry>\n" +
		"    <entry name='product'>20AN006VUS</entry>\n" +
		"    <entry name='asset'>Not Available</entry>\n" +
		"  </baseBoard>\n" +
		"  <chassis>\n" +
		"    <entry name='manufacturer'>Black &amp; &lt;White&gt;</entry>\n" +
		"  </chassis>\n" +
		"</sysinfo>\n"
	if got != want {
		t.Errorf("sysinfo:\n%s\nwant:\n%s", got, want)
	}
	e := startHostEnvWith(t, hostSimOptions(t), func(f *Facade) { f.DMIDir = dir })
	if s, err := e.dial(e.Sock).ConnectGetSysinfo(0); err != nil || s != want {
		t.Errorf("ConnectGetSysinfo = %q, %v", s, err)
	}
	// A host that publishes no SMBIOS data (a VM without DMI tables): libvirt's error, not an empty document.
	e = startHostEnvWith(t, hostSimOptions(t), func(f *Facade) { f.DMIDir = filepath.Join(dir, "missing") })
	_, err := e.dial(e.Sock).ConnectGetSysinfo(0)
	wantHostErr(t, err, libvirt.ErrConfigUnsupported, "unsupported configuration: Host SMBIOS information is not available")
}
