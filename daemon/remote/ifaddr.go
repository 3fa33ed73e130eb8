package remote

import (
	"context"
	"errors"
	"strings"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// LeaseSource reads the DHCP leases a libvirt network handed to a MAC address (virNetworkGetDHCPLeases through
// the network driver). Its errors are the network driver's (*rpc.Error), or its connection's.
type LeaseSource interface {
	DHCPLeases(ctx context.Context, network, mac string) ([]libvirt.NetworkDhcpLease, error)
}

// The sources of virDomainInterfaceAddresses (virDomainInterfaceAddressesSource).
const (
	ifaddrSourceLease uint32 = 0
)

func registerIfAddr(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcDomainInterfaceAddresses, f.interfaceAddresses)
}

// interfaceAddresses is libxlDomainInterfaceAddresses: the libxl driver knows only the DHCP leases of libvirt's
// network driver (virDomainNetDHCPInterfaces), for the running domain's <interface type='network'> devices.
func (f *Facade) interfaceAddresses(ctx context.Context, _ *rpc.Call, a *libvirt.DomainInterfaceAddressesArgs) (*libvirt.DomainInterfaceAddressesRet, error) {
	if err := noFlags(a.Flags, "libxlDomainInterfaceAddresses"); err != nil {
		return nil, err
	}
	d, err := f.lookup(ctx, a.Dom)
	if err != nil {
		return nil, err
	}
	if !d.Active() {
		return nil, rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainDomain, "domain is not running")
	}
	if a.Source != ifaddrSourceLease {
		return nil, rpc.Errorf(rpc.CodeArgumentUnsupported, rpc.DomainLibxl, "Unsupported IP address data source %d", a.Source)
	}
	if d.Obj == nil || f.Leases == nil {
		return &libvirt.DomainInterfaceAddressesRet{Ifaces: []libvirt.DomainInterface{}}, nil
	}
	spec := f.liveDef(ctx, d)
	out := []libvirt.DomainInterface{}
	for _, n := range spec.Devices.Interfaces {
		if n.Type != "network" || n.Source == nil {
			continue
		}
		mac := strings.ToLower(n.MAC)
		leases, err := f.Leases.DHCPLeases(ctx, n.Source.Network, mac)
		if err != nil {
			var re *rpc.Error
			if errors.As(err, &re) && re.Code == rpc.CodeSystemError {
				return nil, re // no network driver: virGetConnectNetwork's error
			}
			return nil, rpc.Errorf(rpc.CodeInternalError, rpc.DomainDomain, "Error getting cached leases for network %s", n.Source.Network)
		}
		if len(leases) == 0 {
			continue
		}
		iface := libvirt.DomainInterface{Name: n.Target, Hwaddr: libvirt.OptString{mac}}
		for _, l := range leases {
			iface.Addrs = append(iface.Addrs, libvirt.DomainIPAddr{Type: l.Type, Addr: l.Ipaddr, Prefix: l.Prefix})
		}
		out = append(out, iface)
	}
	return &libvirt.DomainInterfaceAddressesRet{Ifaces: out}, nil
}
