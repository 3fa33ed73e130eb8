package e2e

import (
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// TestQemuAndLXCPrograms: virtxend serves libvirt's QEMU and LXC programs as libvirt's virtxend does, answering
// their calls with NO_SUPPORT instead of "Cannot find program".
func TestQemuAndLXCPrograms(t *testing.T) {
	i := startInstance(t)
	i.MustVirsh("define", i.xmlFile("q1.xml", defineXML("q1")))
	i.wantVirshError([]string{"qemu-monitor-command", "q1", `{"execute":"query-status"}`},
		"error: this function is not supported by the connection driver: virDomainQemuMonitorCommand")
	i.wantVirshError([]string{"qemu-agent-command", "q1", `{"execute":"guest-ping"}`},
		"error: this function is not supported by the connection driver: virDomainQemuAgentCommand")
	i.wantVirshError([]string{"lxc-enter-namespace", "q1", "--noseclabel", "/bin/true"},
		"error: this function is not supported by the connection driver: virDomainLxcOpenNamespace")
}

// TestConnectSetIdentity: a client speaking for another (libvirt's virtproxyd) may set the identity its
// connection acts with; the parameters are checked as libvirt checks them.
func TestConnectSetIdentity(t *testing.T) {
	i := startInstance(t)
	l := i.GoLibvirt()
	if err := l.ConnectSetIdentity([]libvirt.TypedParam{
		rpc.NewTypedParam("user-name", rpc.TypedParamString, "alice"),
		rpc.NewTypedParam("unix-user-id", rpc.TypedParamULLong, uint64(1000)),
	}, 0); err != nil {
		t.Errorf("ConnectSetIdentity: %v", err)
	}
	err := l.ConnectSetIdentity([]libvirt.TypedParam{rpc.NewTypedParam("unix-user-id", rpc.TypedParamInt, int32(1))}, 0)
	if le, ok := err.(libvirt.Error); !ok || le.Code != uint32(libvirt.ErrInvalidArg) ||
		le.Message != "invalid argument: invalid type 'int' for parameter 'unix-user-id', expected 'ullong'" {
		t.Errorf("ConnectSetIdentity with a bad type: %v", err)
	}
}
