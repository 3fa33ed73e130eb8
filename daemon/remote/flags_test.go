package remote

import (
	"testing"

	"github.com/digitalocean/go-libvirt"
)

// TestUnsupportedFlagsNameTheDriverFunction: libvirt's virCheckFlags names the driver's function (libxlXxx), not
// the public API, in "unsupported flags (0x%x) in function %s"; a virsh user sees that name.
func TestUnsupportedFlagsNameTheDriverFunction(t *testing.T) {
	e := newTxEnv(t)
	web := e.add("web", "define", true)
	const agent = 4 // VIR_DOMAIN_SHUTDOWN_GUEST_AGENT: virsh shutdown --mode agent
	for _, tc := range []struct {
		name string
		err  error
		fn   string
	}{
		{"shutdown --mode agent", e.L.DomainShutdownFlags(web, agent), "libxlDomainShutdownFlags"},
		{"reboot --mode agent", e.L.DomainReboot(web, agent), "libxlDomainReboot"},
		{"reset", e.L.DomainReset(web, 1), "libxlDomainReset"},
		{"destroy", e.L.DomainDestroyFlags(web, 4), "libxlDomainDestroyFlags"},
		{"start", func() error { _, err := e.L.DomainCreateWithFlags(web, 4); return err }(), "libxlDomainCreateWithFlags"},
		{"list", func() error { _, _, err := e.L.ConnectListAllDomains(1, 1<<30); return err }(), "libxlConnectListAllDomains"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txWantErr(t, tc.err, libvirt.ErrInvalidArg, "in function "+tc.fn)
		})
	}
}
