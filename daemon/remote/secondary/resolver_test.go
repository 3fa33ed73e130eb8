package secondary

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// resolverNets are the networks of the resolver's fake daemon: name → (active, XML).
var resolverNets = map[string]struct {
	active bool
	xml    string
}{
	"default": {true, "<network><name>default</name><forward mode='nat'/><bridge name='virbr0' stp='on'/></network>"},
	"host":    {true, "<network><name>host</name><forward mode='bridge'/><bridge name='br0'/></network>"},
	"down":    {false, "<network><name>down</name><bridge name='virbr9'/></network>"},
	"macvtap": {true, "<network><name>macvtap</name><forward mode='bridge'><interface dev='eth0'/></forward></network>"},
	"nobr":    {true, "<network><name>nobr</name><forward mode='route'/></network>"},
}

// startResolverDaemon serves a fake daemon knowing resolverNets, an active pool "p1" with volume "v1" at
// /pool/v1, an inactive pool "off", and one DHCP lease for 00:16:3e:00:00:01 on "default".
func startResolverDaemon(t *testing.T, dir string) {
	t.Helper()
	d := &fakeDaemon{}
	p := d.program()
	rpc.Register(p, rpc.ProcNetworkLookupByName, func(_ context.Context, _ *rpc.Call, a *libvirt.NetworkLookupByNameArgs) (*libvirt.NetworkLookupByNameRet, error) {
		if _, ok := resolverNets[a.Name]; !ok {
			return nil, rpc.Errorf(rpc.CodeNoNetwork, rpc.DomainNetwork, "no network with matching name '%s'", a.Name)
		}
		return &libvirt.NetworkLookupByNameRet{Net: libvirt.Network{Name: a.Name}}, nil
	})
	rpc.Register(p, rpc.ProcNetworkIsActive, func(_ context.Context, _ *rpc.Call, a *libvirt.NetworkIsActiveArgs) (*libvirt.NetworkIsActiveRet, error) {
		if resolverNets[a.Net.Name].active {
			return &libvirt.NetworkIsActiveRet{Active: 1}, nil
		}
		return &libvirt.NetworkIsActiveRet{}, nil
	})
	rpc.Register(p, rpc.ProcNetworkGetXMLDesc, func(_ context.Context, _ *rpc.Call, a *libvirt.NetworkGetXMLDescArgs) (*libvirt.NetworkGetXMLDescRet, error) {
		return &libvirt.NetworkGetXMLDescRet{XML: resolverNets[a.Net.Name].xml}, nil
	})
	rpc.Register(p, rpc.ProcNetworkGetDHCPLeases, func(_ context.Context, _ *rpc.Call, a *libvirt.NetworkGetDhcpLeasesArgs) (*libvirt.NetworkGetDhcpLeasesRet, error) {
		if a.Net.Name != "default" || len(a.Mac) != 1 || a.Mac[0] != "00:16:3e:00:00:01" {
			return &libvirt.NetworkGetDhcpLeasesRet{Leases: []libvirt.NetworkDhcpLease{}}, nil
		}
		return &libvirt.NetworkGetDhcpLeasesRet{Ret: 1, Leases: []libvirt.NetworkDhcpLease{
			{Iface: "virbr0", Ipaddr: "192.168.122.10", Prefix: 24, Mac: libvirt.OptString{"00:16:3e:00:00:01"}},
		}}, nil
	})
	rpc.Register(p, rpc.ProcStoragePoolLookupByName, func(_ context.Context, _ *rpc.Call, a *libvirt.StoragePoolLookupByNameArgs) (*libvirt.StoragePoolLookupByNameRet, error) {
		if a.Name != "p1" && a.Name != "off" {
			return nil, rpc.Errorf(rpc.CodeNoStoragePool, rpc.DomainStorage, "no storage pool with matching name '%s'", a.Name)
		}
		return &libvirt.StoragePoolLookupByNameRet{Pool: libvirt.StoragePool{Name: a.Name}}, nil
	})
	rpc.Register(p, rpc.ProcStoragePoolIsActive, func(_ context.Context, _ *rpc.Call, a *libvirt.StoragePoolIsActiveArgs) (*libvirt.StoragePoolIsActiveRet, error) {
		if a.Pool.Name == "off" {
			return &libvirt.StoragePoolIsActiveRet{}, nil
		}
		return &libvirt.StoragePoolIsActiveRet{Active: 1}, nil
	})
	rpc.Register(p, rpc.ProcStorageVolLookupByName, func(_ context.Context, _ *rpc.Call, a *libvirt.StorageVolLookupByNameArgs) (*libvirt.StorageVolLookupByNameRet, error) {
		if a.Name != "v1" {
			return nil, rpc.Errorf(rpc.CodeNoStorageVol, rpc.DomainStorage, "no storage vol with matching name '%s'", a.Name)
		}
		return &libvirt.StorageVolLookupByNameRet{Vol: libvirt.StorageVol{Pool: a.Pool.Name, Name: a.Name, Key: "/pool/v1"}}, nil
	})
	rpc.Register(p, rpc.ProcStorageVolGetPath, func(_ context.Context, _ *rpc.Call, a *libvirt.StorageVolGetPathArgs) (*libvirt.StorageVolGetPathRet, error) {
		return &libvirt.StorageVolGetPathRet{Name: a.Vol.Key}, nil
	})
	d.srv = rpc.NewServer(rpc.Options{Name: "fake"}, p)
	serve(t, d.srv, filepath.Join(dir, "libvirt-sock"), false)
}

func TestResolverNetworkBridge(t *testing.T) {
	dir := t.TempDir()
	startResolverDaemon(t, dir)
	r := NewResolver(Options{SocketDir: dir})
	defer r.Close()
	tests := []struct {
		network, bridge string
		kind            error
		msg             string
	}{
		{"default", "virbr0", nil, ""},
		{"host", "br0", nil, ""},
		{"missing", "", libxl.ErrNoNetwork, "no network with matching name 'missing'"},
		{"down", "", libxl.ErrOperationInvalid, "network 'down' is not active"},
		{"macvtap", "", libxl.ErrUnsupportedConfig, "unsupported interface type network"},
		{"nobr", "", libxl.ErrInternal, "network 'nobr' does not have a bridge name."},
	}
	for _, tt := range tests {
		br, err := r.NetworkBridge(tt.network)
		if tt.kind == nil {
			if err != nil || br != tt.bridge {
				t.Errorf("NetworkBridge(%q) = %q, %v; want %q", tt.network, br, err, tt.bridge)
			}
			continue
		}
		wantBuildError(t, "NetworkBridge("+tt.network+")", err, tt.kind, tt.msg)
	}
}

func TestResolverVolumePath(t *testing.T) {
	dir := t.TempDir()
	startResolverDaemon(t, dir)
	r := NewResolver(Options{SocketDir: dir})
	defer r.Close()
	if p, err := r.VolumePath("p1", "v1"); err != nil || p != "/pool/v1" {
		t.Errorf("VolumePath(p1, v1) = %q, %v", p, err)
	}
	_, err := r.VolumePath("nope", "v1")
	wantBuildError(t, "VolumePath(nope, v1)", err, libxl.ErrNoStoragePool, "no storage pool with matching name 'nope'")
	_, err = r.VolumePath("p1", "v2")
	wantBuildError(t, "VolumePath(p1, v2)", err, libxl.ErrNoStorageVol, "no storage vol with matching name 'v2'")
	_, err = r.VolumePath("off", "v1")
	wantBuildError(t, "VolumePath(off, v1)", err, libxl.ErrOperationInvalid, "storage pool 'off' containing volume 'v1' is not active")
}

func TestResolverLeases(t *testing.T) {
	dir := t.TempDir()
	startResolverDaemon(t, dir)
	r := NewResolver(Options{SocketDir: dir})
	defer r.Close()
	leases, err := r.DHCPLeases(context.Background(), "default", "00:16:3e:00:00:01")
	if err != nil || len(leases) != 1 || leases[0].Ipaddr != "192.168.122.10" || leases[0].Prefix != 24 {
		t.Errorf("DHCPLeases = %+v, %v", leases, err)
	}
	if leases, err := r.DHCPLeases(context.Background(), "default", "00:16:3e:00:00:02"); err != nil || len(leases) != 0 {
		t.Errorf("DHCPLeases of another MAC = %+v, %v", leases, err)
	}
	_, err = r.DHCPLeases(context.Background(), "missing", "00:16:3e:00:00:01")
	wantCode(t, err, rpc.CodeNoNetwork, "Network not found: no network with matching name 'missing'")
}

// TestResolverWithoutDaemon: with no daemon, the start fails at once with libvirt's connection error, and a
// daemon that appears later is used.
func TestResolverWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	r := NewResolver(Options{SocketDir: dir})
	defer r.Close()
	_, err := r.NetworkBridge("default")
	wantBuildError(t, "NetworkBridge without a daemon", err, libxl.ErrDriverUnavailable,
		"Failed to connect socket to '"+filepath.Join(dir, "virtnetworkd-sock")+"': No such file or directory")
	_, err = r.VolumePath("p1", "v1")
	wantBuildError(t, "VolumePath without a daemon", err, libxl.ErrDriverUnavailable,
		"Failed to connect socket to '"+filepath.Join(dir, "virtstoraged-sock")+"': No such file or directory")
	startResolverDaemon(t, dir)
	if br, err := r.NetworkBridge("default"); err != nil || br != "virbr0" {
		t.Errorf("NetworkBridge once the daemon runs = %q, %v", br, err)
	}
}

func wantBuildError(t *testing.T, what string, err error, kind error, msg string) {
	t.Helper()
	var be *libxl.BuildError
	if !errors.As(err, &be) || !errors.Is(err, kind) || be.Msg != msg {
		t.Errorf("%s: error %v (%T), want %v %q", what, err, err, kind, msg)
	}
}
