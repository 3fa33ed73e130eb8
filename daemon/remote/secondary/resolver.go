package secondary

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// Resolver is the daemon's own client of the network and storage drivers: what libvirt's libxl driver reaches
// with virGetConnectNetwork and virGetConnectStorage. It resolves <interface type='network'> to the network's
// bridge and <disk type='volume'> to the volume's path when a domain starts (libxl.HostFacts.NetworkBridge and
// VolumePath), and reads the DHCP leases of a network for domifaddr --source lease. Its connections are opened
// on first use, read-write and with no client identity as libvirt's own are (so a missing daemon is reported by
// its read-write socket, as libvirt reports it), and opened again after one breaks. Safe for concurrent use.
type Resolver struct {
	f *Forwarder
	// timeout bounds each question, so that a stuck daemon fails a start instead of holding it.
	timeout time.Duration

	mu    [numDrivers]sync.Mutex
	conns [numDrivers]*upstream
}

// resolveTimeout bounds one question of the Resolver (lookups, a bridge name, a path).
const resolveTimeout = 30 * time.Second

// NewResolver returns a Resolver over the sockets of opts (SocketDir, as the Forwarder's).
func NewResolver(opts Options) *Resolver {
	return &Resolver{f: New(opts), timeout: resolveTimeout}
}

// Close closes the Resolver's connections.
func (r *Resolver) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	for d := range r.conns {
		r.mu[d].Lock()
		if u := r.conns[d]; u != nil {
			u.closeGracefully(ctx)
			r.conns[d] = nil
		}
		r.mu[d].Unlock()
	}
}

// conn returns the connection to driver d, opening it when there is none or the last one broke.
func (r *Resolver) conn(ctx context.Context, d Driver) (*upstream, error) {
	r.mu[d].Lock()
	defer r.mu[d].Unlock()
	if u := r.conns[d]; u != nil && u.alive() {
		return u, nil
	}
	u, err := r.f.dial(ctx, d, false, nil)
	if err != nil {
		return nil, err
	}
	uri := d.URI(u.privileged)
	if err := handshake(ctx, u, uri, false, nil); err != nil {
		u.Close()
		return nil, err
	}
	r.f.log.V(1).Info("opened the daemon's own secondary driver connection", "driver", d.String(), "socket", u.path, "uri", uri)
	r.conns[d] = u
	return u, nil
}

// call asks driver d one question.
func (r *Resolver) call(ctx context.Context, d Driver, proc int32, args, ret any) error {
	u, err := r.conn(ctx, d)
	if err != nil {
		return err
	}
	return u.callXDR(ctx, proc, args, ret)
}

// networkXML is what the Resolver reads of a network's definition.
type networkXML struct {
	Forward *struct {
		Mode string `xml:"mode,attr"`
	} `xml:"forward"`
	Bridge *struct {
		Name string `xml:"name,attr"`
	} `xml:"bridge"`
}

// NetworkBridge returns the bridge a guest interface on network name is plugged into, as libvirt's network
// driver hands it out (networkAllocatePort) and libvirt's libxlMakeNic uses it: the network's own bridge for the
// nat, route, open and isolated modes, the host bridge for mode='bridge'. The network must be active. Errors are
// *libxl.BuildError: ErrNoNetwork for an unknown network, ErrOperationInvalid for an inactive one,
// ErrUnsupportedConfig for a mode that gives no bridge (macvtap, hostdev), ErrDriverUnavailable when no daemon
// serves the network driver.
func (r *Resolver) NetworkBridge(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	var look libvirt.NetworkLookupByNameRet
	if err := r.call(ctx, Network, rpc.ProcNetworkLookupByName, &libvirt.NetworkLookupByNameArgs{Name: name}, &look); err != nil {
		return "", resolveError(err)
	}
	var active libvirt.NetworkIsActiveRet
	if err := r.call(ctx, Network, rpc.ProcNetworkIsActive, &libvirt.NetworkIsActiveArgs{Net: look.Net}, &active); err != nil {
		return "", resolveError(err)
	}
	if active.Active == 0 {
		return "", &libxl.BuildError{Kind: libxl.ErrOperationInvalid, Msg: fmt.Sprintf("network '%s' is not active", name)}
	}
	var desc libvirt.NetworkGetXMLDescRet
	if err := r.call(ctx, Network, rpc.ProcNetworkGetXMLDesc, &libvirt.NetworkGetXMLDescArgs{Net: look.Net}, &desc); err != nil {
		return "", resolveError(err)
	}
	var def networkXML
	if err := xml.Unmarshal([]byte(desc.XML), &def); err != nil {
		return "", &libxl.BuildError{Kind: libxl.ErrInternal, Msg: fmt.Sprintf("network '%s': unreadable definition: %v", name, err)}
	}
	mode := ""
	if def.Forward != nil {
		mode = def.Forward.Mode
	}
	bridge := ""
	if def.Bridge != nil {
		bridge = def.Bridge.Name
	}
	switch mode {
	case "", "nat", "route", "open", "bridge":
		if bridge != "" {
			return bridge, nil
		}
		if mode != "bridge" {
			// networkGetBridgeName's wording for a network without one.
			return "", &libxl.BuildError{Kind: libxl.ErrInternal, Msg: fmt.Sprintf("network '%s' does not have a bridge name.", name)}
		}
	}
	// A network of host interfaces (macvtap modes, a bridge mode with an interface pool) or of PCI functions gives
	// no bridge: libvirt's libxl driver cannot start such an interface either.
	return "", &libxl.BuildError{Kind: libxl.ErrUnsupportedConfig, Msg: "unsupported interface type network"}
}

// VolumePath returns the path of volume in pool, as libvirt's virDomainDiskTranslateSourcePool finds it. The
// pool must be active. Errors are *libxl.BuildError: ErrNoStoragePool, ErrNoStorageVol, ErrOperationInvalid for
// an inactive pool, ErrDriverUnavailable when no daemon serves the storage driver.
func (r *Resolver) VolumePath(pool, volume string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	var look libvirt.StoragePoolLookupByNameRet
	if err := r.call(ctx, Storage, rpc.ProcStoragePoolLookupByName, &libvirt.StoragePoolLookupByNameArgs{Name: pool}, &look); err != nil {
		return "", resolveError(err)
	}
	var active libvirt.StoragePoolIsActiveRet
	if err := r.call(ctx, Storage, rpc.ProcStoragePoolIsActive, &libvirt.StoragePoolIsActiveArgs{Pool: look.Pool}, &active); err != nil {
		return "", resolveError(err)
	}
	if active.Active == 0 {
		return "", &libxl.BuildError{Kind: libxl.ErrOperationInvalid,
			Msg: fmt.Sprintf("storage pool '%s' containing volume '%s' is not active", pool, volume)}
	}
	var vol libvirt.StorageVolLookupByNameRet
	if err := r.call(ctx, Storage, rpc.ProcStorageVolLookupByName, &libvirt.StorageVolLookupByNameArgs{Pool: look.Pool, Name: volume}, &vol); err != nil {
		return "", resolveError(err)
	}
	var path libvirt.StorageVolGetPathRet
	if err := r.call(ctx, Storage, rpc.ProcStorageVolGetPath, &libvirt.StorageVolGetPathArgs{Vol: vol.Vol}, &path); err != nil {
		return "", resolveError(err)
	}
	return path.Name, nil
}

// DHCPLeases returns the leases network's DHCP server handed to mac (virNetworkGetDHCPLeases). The error is the
// network driver's own (*rpc.Error), or its connection's.
func (r *Resolver) DHCPLeases(ctx context.Context, network, mac string) ([]libvirt.NetworkDhcpLease, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var look libvirt.NetworkLookupByNameRet
	if err := r.call(ctx, Network, rpc.ProcNetworkLookupByName, &libvirt.NetworkLookupByNameArgs{Name: network}, &look); err != nil {
		return nil, err
	}
	var ret libvirt.NetworkGetDhcpLeasesRet
	args := &libvirt.NetworkGetDhcpLeasesArgs{Net: look.Net, Mac: libvirt.OptString{mac}, NeedResults: 1}
	if err := r.call(ctx, Network, rpc.ProcNetworkGetDHCPLeases, args, &ret); err != nil {
		return nil, err
	}
	return ret.Leases, nil
}

// resolveError turns the answer of a secondary driver into the builder's error of the same meaning, in the
// driver's words.
func resolveError(err error) error {
	var re *rpc.Error
	if !errors.As(err, &re) {
		return &libxl.BuildError{Kind: libxl.ErrDriverUnavailable, Msg: err.Error()}
	}
	msg := re.Str2
	if msg == "" {
		msg = re.Message
	}
	switch re.Code {
	case rpc.CodeNoNetwork:
		return &libxl.BuildError{Kind: libxl.ErrNoNetwork, Msg: strings.TrimPrefix(msg, "Network not found: ")}
	case rpc.CodeNoStoragePool:
		return &libxl.BuildError{Kind: libxl.ErrNoStoragePool, Msg: strings.TrimPrefix(msg, "Storage pool not found: ")}
	case rpc.CodeNoStorageVol:
		return &libxl.BuildError{Kind: libxl.ErrNoStorageVol, Msg: strings.TrimPrefix(msg, "Storage volume not found: ")}
	case rpc.CodeOperationInvalid:
		return &libxl.BuildError{Kind: libxl.ErrOperationInvalid, Msg: strings.TrimPrefix(msg, "Requested operation is not valid: ")}
	case rpc.CodeSystemError:
		// The daemon is not there, or went away: the message names the socket (or says how it ended).
		return &libxl.BuildError{Kind: libxl.ErrDriverUnavailable, Msg: re.Message}
	}
	return &libxl.BuildError{Kind: libxl.ErrInternal, Msg: re.Message}
}
