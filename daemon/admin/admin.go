package admin

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/go-logr/logr"

	"github.com/virtxend/virtxend/daemon/remote"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// Daemon is what the admin procedures need from the running daemon.
type Daemon interface {
	// Servers returns the daemon's servers in the order virt-admin srv-list shows them: "virtxend", then
	// "admin".
	Servers() []*Server
	// Logging returns the daemon's log control.
	Logging() Logging
	// SetIdleTimeout changes --timeout at run time (virt-admin daemon-timeout); 0 disables it.
	SetIdleTimeout(time.Duration)
	// Shutdown makes the daemon quit as SIGTERM does (virt-admin daemon-shutdown); guests keep running.
	// preserve is VIR_DAEMON_SHUTDOWN_PRESERVE, which asks libvirt drivers to save their guests' state first:
	// the libxl driver does nothing for it. It is called once the reply has been sent, on a goroutine of its
	// own, and may block until the daemon stops.
	Shutdown(preserve bool)
}

// Logging is the daemon's log settings as virt-admin daemon-log-filters and daemon-log-outputs change them.
type Logging interface {
	// Filters returns the log filters in force, as log_filters writes them ("1:libxl 3:remote"), empty when
	// there are none.
	Filters() string
	// Outputs returns the log outputs in force, as log_outputs writes them ("3:stderr 1:file:/var/log/x.log"):
	// never empty, since the default output is listed too.
	Outputs() string
	// SetFilters replaces the log filters; an empty string removes them all. On error nothing changes.
	SetFilters(string) error
	// SetOutputs replaces the log outputs; an empty string restores the default output. On error nothing
	// changes.
	SetOutputs(string) error
}

// Register registers the ADMIN procedures on p, the program from rpc.NewAdminProgram, serving d.
func Register(p *rpc.Program, d Daemon) {
	h := handlers{d: d}
	rpc.Register(p, rpc.AdminProcConnectOpen, h.connectOpen)
	rpc.Register(p, rpc.AdminProcConnectGetLibVersion, h.getLibVersion)
	rpc.Register(p, rpc.AdminProcConnectListServers, h.listServers)
	rpc.Register(p, rpc.AdminProcConnectLookupServer, h.lookupServer)
	rpc.Register(p, rpc.AdminProcServerGetThreadpoolParameters, h.getThreadPool)
	rpc.Register(p, rpc.AdminProcServerSetThreadpoolParameters, h.setThreadPool)
	rpc.Register(p, rpc.AdminProcServerListClients, h.listClients)
	rpc.Register(p, rpc.AdminProcServerLookupClient, h.lookupClient)
	rpc.Register(p, rpc.AdminProcClientGetInfo, h.clientInfo)
	rpc.Register(p, rpc.AdminProcClientClose, h.clientClose)
	rpc.Register(p, rpc.AdminProcServerGetClientLimits, h.getClientLimits)
	rpc.Register(p, rpc.AdminProcServerSetClientLimits, h.setClientLimits)
	rpc.Register(p, rpc.AdminProcServerUpdateTlsFiles, h.updateTLSFiles)
	rpc.Register(p, rpc.AdminProcConnectGetLoggingOutputs, h.getLogOutputs)
	rpc.Register(p, rpc.AdminProcConnectGetLoggingFilters, h.getLogFilters)
	rpc.Register(p, rpc.AdminProcConnectSetLoggingOutputs, h.setLogOutputs)
	rpc.Register(p, rpc.AdminProcConnectSetLoggingFilters, h.setLogFilters)
	rpc.Register(p, rpc.AdminProcConnectSetDaemonTimeout, h.setDaemonTimeout)
	rpc.Register(p, rpc.AdminProcConnectDaemonShutdown, h.daemonShutdown)
}

type handlers struct{ d Daemon }

// callLog is the logger of an admin call: the client's, named "admin".
func callLog(ctx context.Context) logr.Logger {
	return logr.FromContextOrDiscard(ctx).WithName("admin")
}

// checkFlags is virCheckFlags in the libvirt function fn.
func checkFlags(flags, allowed uint32, fn string) error {
	if flags&^allowed != 0 {
		return rpc.ErrInvalidFlags(rpc.DomainAdmin, flags&^allowed, fn)
	}
	return nil
}

// server finds a server by name. The error is virNetDaemonGetServer's; the set procedures report their own
// (adminServerError).
func (h handlers) server(name string) (*Server, error) {
	for _, s := range h.d.Servers() {
		if s.Name() == name {
			return s, nil
		}
	}
	return nil, rpc.Errorf(rpc.CodeNoServer, rpc.DomainRPC, "No server named '%s'", name)
}

// serverForUpdate is server with the error the admin dispatcher raises for the set procedures.
func (h handlers) serverForUpdate(name string) (*Server, error) {
	s, err := h.server(name)
	if err != nil {
		return nil, rpc.Errorf(rpc.CodeNoServer, rpc.DomainAdmin, "no server with matching name '%s' found", name)
	}
	return s, nil
}

func (h handlers) connectOpen(ctx context.Context, call *rpc.Call, args *ConnectOpenArgs) (*struct{}, error) {
	// remoteAdmClientNew refuses any peer but the daemon's own user, whatever the socket's permissions.
	peer := call.Client.Info().Peer
	if peer == nil || int64(peer.UID) != int64(os.Geteuid()) {
		call.CloseAfterReply()
		if peer == nil {
			return nil, rpc.NewError(rpc.CodeOperationDenied, rpc.DomainAdmin, "cannot identify the client's user")
		}
		callLog(ctx).Info("refusing an admin client of another user", "pid", peer.PID, "uid", peer.UID)
		return nil, rpc.Errorf(rpc.CodeOperationDenied, rpc.DomainAdmin, "Disallowing client %d with uid %d", peer.PID, peer.UID)
	}
	if err := checkFlags(args.Flags, 0, "adminDispatchConnectOpen"); err != nil {
		return nil, err
	}
	call.Client.SetOpened(true)
	return nil, nil
}

func (h handlers) getLibVersion(context.Context, *rpc.Call, *struct{}) (*ConnectGetLibVersionRet, error) {
	return &ConnectGetLibVersionRet{LibVer: remote.LibVersion}, nil
}

func (h handlers) listServers(_ context.Context, _ *rpc.Call, args *ConnectListServersArgs) (*ConnectListServersRet, error) {
	if args.NeedResults > ServerListMax {
		return nil, rpc.NewError(rpc.CodeRPC, rpc.DomainRPC, "too many servers requested")
	}
	if err := checkFlags(args.Flags, 0, "adminConnectListServers"); err != nil {
		return nil, err
	}
	srvs := h.d.Servers()
	ret := &ConnectListServersRet{Ret: uint32(len(srvs))}
	if args.NeedResults != 0 {
		for _, s := range srvs {
			ret.Servers = append(ret.Servers, NonnullServer{Name: s.Name()})
		}
	}
	return ret, nil
}

func (h handlers) lookupServer(_ context.Context, _ *rpc.Call, args *ConnectLookupServerArgs) (*ConnectLookupServerRet, error) {
	s, err := h.server(args.Name) // adminConnectLookupServer accepts any flags
	if err != nil {
		return nil, err
	}
	return &ConnectLookupServerRet{Srv: NonnullServer{Name: s.Name()}}, nil
}

func (h handlers) getThreadPool(_ context.Context, _ *rpc.Call, args *ServerGetThreadpoolParametersArgs) (*ServerGetThreadpoolParametersRet, error) {
	s, err := h.server(args.Srv.Name)
	if err != nil {
		return nil, err
	}
	if err := checkFlags(args.Flags, 0, "adminServerGetThreadPoolParameters"); err != nil {
		return nil, err
	}
	tp := s.ThreadPool()
	return &ServerGetThreadpoolParametersRet{Params: []libvirt.TypedParam{
		uintParam(ParamWorkersMin, tp.MinWorkers),
		uintParam(ParamWorkersMax, tp.MaxWorkers),
		uintParam(ParamWorkersCurrent, tp.Workers),
		uintParam(ParamWorkersFree, tp.FreeWorkers),
		uintParam(ParamWorkersPriority, tp.PrioWorkers),
		uintParam(ParamJobQueueDepth, tp.JobQueueDepth),
	}}, nil
}

func (h handlers) setThreadPool(ctx context.Context, _ *rpc.Call, args *ServerSetThreadpoolParametersArgs) (*struct{}, error) {
	s, err := h.serverForUpdate(args.Srv.Name)
	if err != nil {
		return nil, err
	}
	if err := checkFlags(args.Flags, 0, "adminServerSetThreadPoolParameters"); err != nil {
		return nil, err
	}
	v, err := uintParams(args.Params, ThreadpoolParametersMax, ParamWorkersMin, ParamWorkersMax, ParamWorkersPriority)
	if err != nil {
		return nil, err
	}
	if err := s.SetThreadPool(v[ParamWorkersMin], v[ParamWorkersMax], v[ParamWorkersPriority]); err != nil {
		return nil, err
	}
	tp := s.ThreadPool()
	callLog(ctx).Info("thread pool limits changed", "target", s.Name(),
		"minWorkers", tp.MinWorkers, "maxWorkers", tp.MaxWorkers, "prioWorkers", tp.PrioWorkers)
	return nil, nil
}

func (h handlers) getClientLimits(_ context.Context, _ *rpc.Call, args *ServerGetClientLimitsArgs) (*ServerGetClientLimitsRet, error) {
	s, err := h.server(args.Srv.Name)
	if err != nil {
		return nil, err
	}
	if err := checkFlags(args.Flags, 0, "adminServerGetClientLimits"); err != nil {
		return nil, err
	}
	l := s.ClientLimits()
	return &ServerGetClientLimitsRet{Params: []libvirt.TypedParam{
		uintParam(ParamClientsMax, l.Max),
		uintParam(ParamClientsCurrent, l.Current),
		uintParam(ParamClientsUnauthMax, l.UnauthMax),
		uintParam(ParamClientsUnauthCurrent, l.UnauthCurrent),
	}}, nil
}

func (h handlers) setClientLimits(ctx context.Context, _ *rpc.Call, args *ServerSetClientLimitsArgs) (*struct{}, error) {
	s, err := h.serverForUpdate(args.Srv.Name)
	if err != nil {
		return nil, err
	}
	if err := checkFlags(args.Flags, 0, "adminServerSetClientLimits"); err != nil {
		return nil, err
	}
	v, err := uintParams(args.Params, ClientLimitsMax, ParamClientsMax, ParamClientsUnauthMax)
	if err != nil {
		return nil, err
	}
	if err := s.SetClientLimits(v[ParamClientsMax], v[ParamClientsUnauthMax]); err != nil {
		return nil, err
	}
	l := s.ClientLimits()
	callLog(ctx).Info("client limits changed", "target", s.Name(), "maxClients", l.Max, "maxUnauthClients", l.UnauthMax)
	return nil, nil
}

func (h handlers) updateTLSFiles(_ context.Context, _ *rpc.Call, args *ServerUpdateTLSFilesArgs) (*struct{}, error) {
	if _, err := h.server(args.Srv.Name); err != nil {
		return nil, err
	}
	if err := checkFlags(args.Flags, 0, "adminServerUpdateTlsFiles"); err != nil {
		return nil, err
	}
	// virtxend listens on Unix sockets only: no server has a TLS service (virNetServerUpdateTlsFiles).
	return nil, rpc.NewError(rpc.CodeInternalError, rpc.DomainRPC, "no tls service found, unable to update tls files")
}

func (h handlers) getLogOutputs(_ context.Context, _ *rpc.Call, args *ConnectGetLoggingOutputsArgs) (*ConnectGetLoggingOutputsRet, error) {
	if err := checkFlags(args.Flags, 0, "adminConnectGetLoggingOutputs"); err != nil {
		return nil, err
	}
	out := h.d.Logging().Outputs()
	return &ConnectGetLoggingOutputsRet{Outputs: out, Noutputs: uint32(len(strings.Fields(out)))}, nil
}

func (h handlers) getLogFilters(_ context.Context, _ *rpc.Call, args *ConnectGetLoggingFiltersArgs) (*ConnectGetLoggingFiltersRet, error) {
	if err := checkFlags(args.Flags, 0, "adminConnectGetLoggingFilters"); err != nil {
		return nil, err
	}
	f := h.d.Logging().Filters()
	n := len(strings.Fields(f))
	if n == 0 {
		return &ConnectGetLoggingFiltersRet{}, nil
	}
	return &ConnectGetLoggingFiltersRet{Filters: []string{f}, Nfilters: uint32(n)}, nil
}

func (h handlers) setLogOutputs(ctx context.Context, _ *rpc.Call, args *ConnectSetLoggingOutputsArgs) (*struct{}, error) {
	if err := checkFlags(args.Flags, 0, "adminConnectSetLoggingOutputs"); err != nil {
		return nil, err
	}
	l := h.d.Logging()
	if err := l.SetOutputs(optString(args.Outputs)); err != nil {
		return nil, logError(err)
	}
	callLog(ctx).Info("log outputs changed", "outputs", l.Outputs())
	return nil, nil
}

func (h handlers) setLogFilters(ctx context.Context, _ *rpc.Call, args *ConnectSetLoggingFiltersArgs) (*struct{}, error) {
	if err := checkFlags(args.Flags, 0, "adminConnectSetLoggingFilters"); err != nil {
		return nil, err
	}
	l := h.d.Logging()
	if err := l.SetFilters(optString(args.Filters)); err != nil {
		return nil, logError(err)
	}
	callLog(ctx).Info("log filters changed", "filters", l.Filters())
	return nil, nil
}

// logError maps an error of the log control to libvirt's: a file that cannot be opened is a system error,
// anything else a malformed setting.
func logError(err error) error {
	var e *rpc.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return rpc.NewError(rpc.CodeSystemError, rpc.DomainNone, err.Error())
	}
	return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainNone, err.Error())
}

func (h handlers) setDaemonTimeout(ctx context.Context, _ *rpc.Call, args *ConnectSetDaemonTimeoutArgs) (*struct{}, error) {
	if err := checkFlags(args.Flags, 0, "adminConnectSetDaemonTimeout"); err != nil {
		return nil, err
	}
	h.d.SetIdleTimeout(time.Duration(args.Timeout) * time.Second)
	callLog(ctx).Info("idle timeout changed", "timeout", (time.Duration(args.Timeout) * time.Second).String())
	return nil, nil
}

func (h handlers) daemonShutdown(ctx context.Context, call *rpc.Call, args *ConnectDaemonShutdownArgs) (*struct{}, error) {
	if err := checkFlags(args.Flags, DaemonShutdownPreserve, "adminConnectDaemonShutdown"); err != nil {
		return nil, err
	}
	preserve := args.Flags&DaemonShutdownPreserve != 0
	callLog(ctx).Info("shutdown requested", "preserve", preserve)
	// Quit once the reply is out and this client is gone, so that the caller hears the success.
	call.CloseAfterReply()
	call.Client.OnClose(func() { go h.d.Shutdown(preserve) })
	return nil, nil
}

func optString(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
