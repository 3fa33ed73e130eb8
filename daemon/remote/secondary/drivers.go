package secondary

import (
	"strings"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// Driver is one of libvirt's secondary drivers.
type Driver int

// The secondary drivers, in the order libvirt's daemon declares their connections.
const (
	// Interface is the host interface driver (virtinterfaced).
	Interface Driver = iota
	// Network is the virtual network driver (virtnetworkd).
	Network
	// NodeDev is the host device driver (virtnodedevd).
	NodeDev
	// NWFilter is the network filter driver (virtnwfilterd).
	NWFilter
	// Secret is the secret driver (virtsecretd).
	Secret
	// Storage is the storage pool and volume driver (virtstoraged).
	Storage

	numDrivers = int(Storage) + 1
)

// String returns the driver's URI scheme and daemon name part: "network", "storage", ...
func (d Driver) String() string {
	switch d {
	case Interface:
		return "interface"
	case Network:
		return "network"
	case NodeDev:
		return "nodedev"
	case NWFilter:
		return "nwfilter"
	case Secret:
		return "secret"
	case Storage:
		return "storage"
	}
	return "unknown"
}

// socketName is the socket of the driver's own daemon (remoteGetUNIXSocketHelper: virt<driver>d-sock).
func (d Driver) socketName(readOnly bool) string {
	return sockName("virt"+d.String()+"d", readOnly)
}

// legacySocketName is the monolithic libvirtd's socket, which serves every driver.
func legacySocketName(readOnly bool) string { return sockName("libvirt", readOnly) }

func sockName(prefix string, readOnly bool) string {
	if readOnly {
		return prefix + "-sock-ro"
	}
	return prefix + "-sock"
}

// URI is the URI libvirt's daemon opens the driver with: "/system" when the daemon at the other end runs as root,
// "/session" otherwise. libvirt's virtxend decides by its own uid (remoteDispatchConnectOpen), which comes to the
// same on a host where both run as root; deciding by the peer's uid also lets an unprivileged libvirtd serve a
// root virtxend (the tests' private libvirtd). The nwfilter driver exists in system mode only and accepts only
// "nwfilter:///system", which libvirt's unprivileged virtxend therefore never opens.
func (d Driver) URI(privilegedPeer bool) string {
	if privilegedPeer || d == NWFilter {
		return d.String() + ":///system"
	}
	return d.String() + ":///session"
}

// DriverOf says which secondary driver serves a REMOTE procedure, by the rule libvirt's gendispatch.pl
// (get_conn_method) uses to pick the connection of a generated dispatcher: procedures on a secondary object
// (NETWORK_*, STORAGE_POOL_*, ...), the CONNECT_* procedures naming a secondary object type, and the NODE_*
// device procedures except the four that detach, re-attach and reset host devices, which are the hypervisor
// driver's own. Event messages belong to their driver too.
func DriverOf(info rpc.ProcInfo) (Driver, bool) {
	name, ok := strings.CutPrefix(info.Name, "REMOTE_PROC_")
	if !ok {
		return 0, false
	}
	// The object a procedure works on comes first in its name (NETWORK_PORT_*, NWFILTER_BINDING_* included).
	for _, o := range []struct {
		prefix string
		d      Driver
	}{
		{"INTERFACE_", Interface}, {"NETWORK_", Network}, {"NODE_DEVICE_", NodeDev}, {"NWFILTER_", NWFilter},
		{"SECRET_", Secret}, {"STORAGE_POOL_", Storage}, {"STORAGE_VOL_", Storage},
	} {
		if strings.HasPrefix(name, o.prefix) {
			if o.d == NodeDev && hostdevProc(name) {
				return 0, false
			}
			return o.d, true
		}
	}
	// Host-wide procedures about secondary objects: lists, counts, lookups, event registrations.
	if rest, ok := strings.CutPrefix(name, "CONNECT_"); ok {
		for _, o := range []struct {
			word string
			d    Driver
		}{
			{"INTERFACE", Interface}, {"NETWORK", Network}, {"NODE_DEVICE", NodeDev}, {"NWFILTER", NWFilter},
			{"SECRET", Secret}, {"STORAGE", Storage},
		} {
			if strings.Contains(rest, o.word) {
				return o.d, true
			}
		}
		return 0, false
	}
	if strings.HasPrefix(name, "NODE_") && strings.Contains(name, "DEVICE") { // NODE_LIST_DEVICES, NODE_NUM_OF_DEVICES
		return NodeDev, true
	}
	return 0, false
}

// hostdevProc reports the NODE_DEVICE_* procedures the hypervisor driver serves (PCI passthrough preparation).
func hostdevProc(name string) bool {
	switch name {
	case "NODE_DEVICE_DETTACH", "NODE_DEVICE_DETACH_FLAGS", "NODE_DEVICE_RE_ATTACH", "NODE_DEVICE_RESET":
		return true
	}
	return false
}

// Procedures returns the calls each secondary driver serves, from the REMOTE program's table: every procedure
// DriverOf places, event messages excepted.
func Procedures() map[Driver][]rpc.ProcInfo {
	out := map[Driver][]rpc.ProcInfo{}
	for _, info := range rpc.RemoteProcedures() {
		if info.Message {
			continue
		}
		if d, ok := DriverOf(info); ok {
			out[d] = append(out[d], info)
		}
	}
	return out
}

// newEventMsg returns a value to decode the event message proc into, or nil for a message this daemon does not
// relay. Every secondary event message starts with the callback id the daemon assigned at registration; the
// client registered through this daemon and got that same id, so the message goes back as it came.
func newEventMsg(proc int32) any {
	switch proc {
	case rpc.ProcNetworkEventLifecycle:
		return new(libvirt.NetworkEventLifecycleMsg)
	case rpc.ProcNetworkEventCallbackMetadataChange:
		return new(libvirt.NetworkEventCallbackMetadataChangeMsg)
	case rpc.ProcStoragePoolEventLifecycle:
		return new(libvirt.StoragePoolEventLifecycleMsg)
	case rpc.ProcStoragePoolEventRefresh:
		return new(libvirt.StoragePoolEventRefreshMsg)
	case rpc.ProcNodeDeviceEventLifecycle:
		return new(libvirt.NodeDeviceEventLifecycleMsg)
	case rpc.ProcNodeDeviceEventUpdate:
		return new(libvirt.NodeDeviceEventUpdateMsg)
	case rpc.ProcSecretEventLifecycle:
		return new(libvirt.SecretEventLifecycleMsg)
	case rpc.ProcSecretEventValueChanged:
		return new(libvirt.SecretEventValueChangedMsg)
	}
	return nil
}
