package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/virtxend/virtxend/config"
	"github.com/virtxend/virtxend/libxl"
	"github.com/virtxend/virtxend/libxl/sim"
)

// xenCapabilitiesFile exists only in a Xen domain: "auto" picks real Xen when it does.
const xenCapabilitiesFile = "/proc/xen/capabilities"

// openXen opens libxenlight. It is set by the build with the xenlight tag; without it, Xen is not available.
var openXen func(cfg *config.Daemon, lx *config.Libxl) (libxl.Hypervisor, error)

// ErrNoXenSupport is returned when real Xen is asked for in a build without the xenlight adapter.
var ErrNoXenSupport = errors.New("this virtxend was built without libxenlight support (build tag xenlight)")

// openHypervisor opens the backend named by the hypervisor key.
func openHypervisor(cfg *config.Daemon, lx *config.Libxl) (libxl.Hypervisor, string, error) {
	kind := cfg.Hypervisor
	if kind == config.HypervisorAuto {
		kind = config.HypervisorSim
		if _, err := os.Stat(xenCapabilitiesFile); err == nil {
			kind = config.HypervisorXen
		}
	}
	switch kind {
	case config.HypervisorXen:
		if openXen == nil {
			return nil, "", ErrNoXenSupport
		}
		hv, err := openXen(cfg, lx)
		return hv, "xen", err
	case config.HypervisorSim:
		hv, err := sim.New(sim.Options{StateDir: filepath.Join(cfg.StateDir, "sim"),
			TotalMemKiB: uint64(cfg.SimMemory) << 10, CPUs: cfg.SimCPUs, Nodes: cfg.SimNUMANodes,
			Inject: true}) // tests crash and change guests from outside: state_dir/sim/inject (virtxend(8))
		if err != nil {
			return nil, "", fmt.Errorf("open the simulated xen host: %w", err)
		}
		return hv, "sim", nil
	}
	return nil, "", fmt.Errorf("unknown hypervisor %q", cfg.Hypervisor)
}
