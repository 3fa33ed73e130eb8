package remote

import (
	"context"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// Program numbers of the QEMU and LXC programs (qemu_protocol.x, lxc_protocol.x), which libvirt's daemons serve
// next to REMOTE on the same sockets whatever their driver.
const (
	// ProgramQemu is QEMU_PROGRAM: virsh qemu-monitor-command, qemu-agent-command, qemu-attach.
	ProgramQemu uint32 = 0x20008087
	// ProgramLXC is LXC_PROGRAM: virsh lxc-enter-namespace.
	ProgramLXC uint32 = 0x00068000
)

// NewQemuProgram returns the QEMU program as libvirt's virtxend serves it: the libxl driver implements none of
// its calls, so each answers VIR_ERR_NO_SUPPORT, after the read-only check libvirt-qemu.c makes first; both
// errors come from VIR_FROM_NONE, as there. QEMU_PROC_DOMAIN_MONITOR_EVENT (6) is a message, not a call.
func NewQemuProgram() *rpc.Program {
	procs := []rpc.ProcInfo{
		{Number: 1, Name: "QEMU_PROC_DOMAIN_MONITOR_COMMAND", API: "virDomainQemuMonitorCommand"},
		{Number: 2, Name: "QEMU_PROC_DOMAIN_ATTACH", API: "virDomainQemuAttach"},
		{Number: 3, Name: "QEMU_PROC_DOMAIN_AGENT_COMMAND", API: "virDomainQemuAgentCommand"},
		{Number: 4, Name: "QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_REGISTER", API: "virConnectDomainQemuMonitorEventRegister", Priority: true},
		{Number: 5, Name: "QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER", API: "virConnectDomainQemuMonitorEventDeregister", Priority: true},
		{Number: 6, Name: "QEMU_PROC_DOMAIN_MONITOR_EVENT", API: "virConnectDomainQemuMonitorEvent", ReadOnlyOK: true, Message: true},
		{Number: 7, Name: "QEMU_PROC_DOMAIN_MONITOR_COMMAND_WITH_FILES", API: "virDomainQemuMonitorCommandWithFiles"},
	}
	return unsupportedProgram(rpc.ProgramConfig{ID: ProgramQemu, Name: "QEMU", Procedures: procs, RequireOpen: true,
		ErrorDomain: rpc.DomainNone})
}

// NewLXCProgram returns the LXC program as libvirt's virtxend serves it: virDomainLxcOpenNamespace answers
// VIR_ERR_NO_SUPPORT (after the read-only check), from VIR_FROM_NONE.
func NewLXCProgram() *rpc.Program {
	procs := []rpc.ProcInfo{
		{Number: 1, Name: "LXC_PROC_DOMAIN_OPEN_NAMESPACE", API: "virDomainLxcOpenNamespace"},
	}
	return unsupportedProgram(rpc.ProgramConfig{ID: ProgramLXC, Name: "LXC", Procedures: procs, RequireOpen: true,
		ErrorDomain: rpc.DomainNone})
}

// unsupportedProgram registers, for every call of cfg's table, a handler that refuses it: on a read-only
// connection because libvirt's public API checks that first, elsewhere because no driver implements it.
func unsupportedProgram(cfg rpc.ProgramConfig) *rpc.Program {
	p := rpc.NewProgram(cfg)
	for _, info := range cfg.Procedures {
		if info.Message {
			continue
		}
		api := info.API
		p.Handle(info.Number, func(_ context.Context, call *rpc.Call, _ []byte) ([]byte, error) {
			if call.Client.ReadOnly() {
				return nil, rpc.NewError(rpc.CodeOperationDenied, rpc.DomainNone, "read only access prevents "+api)
			}
			return nil, rpc.NewError(rpc.CodeNoSupport, rpc.DomainNone, api)
		}, rpc.ReadOnlyOK(true))
	}
	return p
}
