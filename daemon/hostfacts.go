package daemon

import (
	"context"
	"fmt"

	"github.com/virtxend/virtxend/config"
	"github.com/virtxend/virtxend/libxl"
)

// hostFacts measures what the config builder needs to know of this host.
func hostFacts(ctx context.Context, hv libxl.Hypervisor, backend string, lx *config.Libxl) (libxl.HostFacts, error) {
	info, err := hv.HostInfo(ctx)
	if err != nil {
		return libxl.HostFacts{}, fmt.Errorf("read host information: %w", err)
	}
	f := libxl.DefaultHostFacts()
	f.NUMANodes = max(info.Nodes, 1)
	f.MaxCPUs = max(info.CPUs, 1)
	f.HostVMX = info.HVM // the simulated host and Xen report HVM support, not the vendor
	f.NestedHVM = lx.NestedHVM
	if backend == "xen" {
		// As libvirt's port allocator: a port some other program listens on is passed over. The simulated host
		// runs no device model, so its ports are bookkeeping only.
		f.GraphicsPorts = libxl.NewPortRange(libxl.VNCPortMin, libxl.VNCPortMax, libxl.PortBindable)
	}
	if backend == "sim" {
		// The simulated host runs no device model: any <emulator> path is as good as another.
		f.CheckEmulator = func(string) error { return nil }
	}
	return f, nil
}
