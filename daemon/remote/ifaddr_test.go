package remote

import (
	"context"
	"testing"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
)

// fakeLeases answers for one MAC on network "default".
type fakeLeases struct{}

func (fakeLeases) DHCPLeases(_ context.Context, network, mac string) ([]libvirt.NetworkDhcpLease, error) {
	if network == "default" && mac == "00:16:3e:00:00:aa" {
		return []libvirt.NetworkDhcpLease{{Ipaddr: "192.168.122.5", Prefix: 24}}, nil
	}
	return nil, nil
}

func TestInterfaceAddresses(t *testing.T) {
	e := newTxEnv(t)
	e.Facade.Leases = fakeLeases{}
	run := e.add("ifa", v1alpha1.SourceKindDefine, true)
	off := e.add("ifb", v1alpha1.SourceKindDefine, false)

	_, err := e.L.DomainInterfaceAddresses(off, 0, 0)
	txWantErr(t, err, libvirt.ErrOperationInvalid, "domain is not running")
	_, err = e.L.DomainInterfaceAddresses(run, 1, 0)
	txWantErr(t, err, libvirt.ErrArgumentUnsupported, "Unsupported IP address data source 1")
	_, err = e.L.DomainInterfaceAddresses(run, 0, 1)
	txWantErr(t, err, libvirt.ErrInvalidArg, "unsupported flags (0x1) in function libxlDomainInterfaceAddresses")
	// No <interface type='network'>: nothing to ask the network driver.
	if ifaces, err := e.L.DomainInterfaceAddresses(run, 0, 0); err != nil || len(ifaces) != 0 {
		t.Errorf("addresses of a domain without network interfaces: %v, %v", ifaces, err)
	}

	// The live definition's network interfaces are looked up by MAC.
	spec := e.Facade.Live.Live(e.get("ifa").Spec.Domain.UUID)
	if spec == nil {
		t.Fatal("no live definition")
	}
	spec.Domain.Devices.Interfaces = []v1alpha1.Interface{
		{Type: "network", MAC: "00:16:3E:00:00:AA", Target: "vif1.0", Source: &v1alpha1.InterfaceSource{Network: "default", Bridge: "virbr0"}},
		{Type: "network", MAC: "00:16:3e:00:00:bb", Target: "vif1.1", Source: &v1alpha1.InterfaceSource{Network: "default", Bridge: "virbr0"}},
		{Type: "bridge", MAC: "00:16:3e:00:00:aa", Target: "vif1.2", Source: &v1alpha1.InterfaceSource{Bridge: "br0"}},
	}
	if err := e.Facade.Live.(controllers.LiveStore).PutLive(spec); err != nil {
		t.Fatal(err)
	}
	ifaces, err := e.L.DomainInterfaceAddresses(run, 0, 0)
	if err != nil || len(ifaces) != 1 || ifaces[0].Name != "vif1.0" || len(ifaces[0].Hwaddr) != 1 ||
		ifaces[0].Hwaddr[0] != "00:16:3e:00:00:aa" || len(ifaces[0].Addrs) != 1 || ifaces[0].Addrs[0].Addr != "192.168.122.5" ||
		ifaces[0].Addrs[0].Prefix != 24 {
		t.Errorf("addresses: %+v, %v", ifaces, err)
	}
}
