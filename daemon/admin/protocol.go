package admin

import libvirt "github.com/digitalocean/go-libvirt"

// The wire types of libvirt's src/admin/admin_protocol.x, field by field and in order: go-libvirt generates the
// REMOTE protocol only. Typed parameters (admin_typed_param) have the same layout as remote_typed_param, so
// libvirt.TypedParam carries them; admin_string (an optional string) is libvirt.OptString.

// Limits of admin_protocol.x on the lists the procedures carry.
const (
	// ServerListMax is ADMIN_SERVER_LIST_MAX.
	ServerListMax = 16384
	// ThreadpoolParametersMax is ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX.
	ThreadpoolParametersMax = 32
	// ClientListMax is ADMIN_CLIENT_LIST_MAX.
	ClientListMax = 16384
	// ClientInfoParametersMax is ADMIN_CLIENT_INFO_PARAMETERS_MAX.
	ClientInfoParametersMax = 64
	// ClientLimitsMax is ADMIN_SERVER_CLIENT_LIMITS_MAX.
	ClientLimitsMax = 32
)

// DaemonShutdownPreserve is VIR_DAEMON_SHUTDOWN_PRESERVE, the only flag of CONNECT_DAEMON_SHUTDOWN.
const DaemonShutdownPreserve uint32 = 1 << 0

// Typed parameter names of include/libvirt/libvirt-admin.h.
const (
	// ParamWorkersMin is VIR_THREADPOOL_WORKERS_MIN (uint).
	ParamWorkersMin = "minWorkers"
	// ParamWorkersMax is VIR_THREADPOOL_WORKERS_MAX (uint).
	ParamWorkersMax = "maxWorkers"
	// ParamWorkersPriority is VIR_THREADPOOL_WORKERS_PRIORITY (uint).
	ParamWorkersPriority = "prioWorkers"
	// ParamWorkersFree is VIR_THREADPOOL_WORKERS_FREE (uint, read-only).
	ParamWorkersFree = "freeWorkers"
	// ParamWorkersCurrent is VIR_THREADPOOL_WORKERS_CURRENT (uint, read-only).
	ParamWorkersCurrent = "nWorkers"
	// ParamJobQueueDepth is VIR_THREADPOOL_JOB_QUEUE_DEPTH (uint, read-only).
	ParamJobQueueDepth = "jobQueueDepth"

	// ParamClientReadonly is VIR_CLIENT_INFO_READONLY (boolean).
	ParamClientReadonly = "readonly"
	// ParamClientSockAddr is VIR_CLIENT_INFO_SOCKET_ADDR (string; clients not on a Unix socket).
	ParamClientSockAddr = "sock_addr"
	// ParamClientUnixUserID is VIR_CLIENT_INFO_UNIX_USER_ID (int).
	ParamClientUnixUserID = "unix_user_id"
	// ParamClientUnixUserName is VIR_CLIENT_INFO_UNIX_USER_NAME (string).
	ParamClientUnixUserName = "unix_user_name"
	// ParamClientUnixGroupID is VIR_CLIENT_INFO_UNIX_GROUP_ID (int).
	ParamClientUnixGroupID = "unix_group_id"
	// ParamClientUnixGroupName is VIR_CLIENT_INFO_UNIX_GROUP_NAME (string).
	ParamClientUnixGroupName = "unix_group_name"
	// ParamClientUnixProcessID is VIR_CLIENT_INFO_UNIX_PROCESS_ID (int).
	ParamClientUnixProcessID = "unix_process_id"

	// ParamClientsMax is VIR_SERVER_CLIENTS_MAX (uint).
	ParamClientsMax = "nclients_max"
	// ParamClientsCurrent is VIR_SERVER_CLIENTS_CURRENT (uint, read-only).
	ParamClientsCurrent = "nclients"
	// ParamClientsUnauthMax is VIR_SERVER_CLIENTS_UNAUTH_MAX (uint).
	ParamClientsUnauthMax = "nclients_unauth_max"
	// ParamClientsUnauthCurrent is VIR_SERVER_CLIENTS_UNAUTH_CURRENT (uint, read-only).
	ParamClientsUnauthCurrent = "nclients_unauth"
)

// NonnullServer is admin_nonnull_server.
type NonnullServer struct {
	Name string
}

// NonnullClient is admin_nonnull_client.
type NonnullClient struct {
	Srv       NonnullServer
	ID        uint64
	Timestamp int64 // seconds since the epoch when the client connected
	Transport uint32
}

// ConnectOpenArgs is admin_connect_open_args.
type ConnectOpenArgs struct {
	Flags uint32
}

// ConnectGetLibVersionRet is admin_connect_get_lib_version_ret.
type ConnectGetLibVersionRet struct {
	LibVer uint64
}

// ConnectListServersArgs is admin_connect_list_servers_args.
type ConnectListServersArgs struct {
	NeedResults uint32
	Flags       uint32
}

// ConnectListServersRet is admin_connect_list_servers_ret.
type ConnectListServersRet struct {
	Servers []NonnullServer
	Ret     uint32
}

// ConnectLookupServerArgs is admin_connect_lookup_server_args.
type ConnectLookupServerArgs struct {
	Name  string
	Flags uint32
}

// ConnectLookupServerRet is admin_connect_lookup_server_ret.
type ConnectLookupServerRet struct {
	Srv NonnullServer
}

// ServerGetThreadpoolParametersArgs is admin_server_get_threadpool_parameters_args.
type ServerGetThreadpoolParametersArgs struct {
	Srv   NonnullServer
	Flags uint32
}

// ServerGetThreadpoolParametersRet is admin_server_get_threadpool_parameters_ret.
type ServerGetThreadpoolParametersRet struct {
	Params []libvirt.TypedParam
}

// ServerSetThreadpoolParametersArgs is admin_server_set_threadpool_parameters_args.
type ServerSetThreadpoolParametersArgs struct {
	Srv    NonnullServer
	Params []libvirt.TypedParam
	Flags  uint32
}

// ServerListClientsArgs is admin_server_list_clients_args.
type ServerListClientsArgs struct {
	Srv         NonnullServer
	NeedResults uint32
	Flags       uint32
}

// ServerListClientsRet is admin_server_list_clients_ret.
type ServerListClientsRet struct {
	Clients []NonnullClient
	Ret     uint32
}

// ServerLookupClientArgs is admin_server_lookup_client_args.
type ServerLookupClientArgs struct {
	Srv   NonnullServer
	ID    uint64
	Flags uint32
}

// ServerLookupClientRet is admin_server_lookup_client_ret.
type ServerLookupClientRet struct {
	Clnt NonnullClient
}

// ClientGetInfoArgs is admin_client_get_info_args.
type ClientGetInfoArgs struct {
	Clnt  NonnullClient
	Flags uint32
}

// ClientGetInfoRet is admin_client_get_info_ret.
type ClientGetInfoRet struct {
	Params []libvirt.TypedParam
}

// ClientCloseArgs is admin_client_close_args.
type ClientCloseArgs struct {
	Clnt  NonnullClient
	Flags uint32
}

// ServerGetClientLimitsArgs is admin_server_get_client_limits_args.
type ServerGetClientLimitsArgs struct {
	Srv   NonnullServer
	Flags uint32
}

// ServerGetClientLimitsRet is admin_server_get_client_limits_ret.
type ServerGetClientLimitsRet struct {
	Params []libvirt.TypedParam
}

// ServerSetClientLimitsArgs is admin_server_set_client_limits_args.
type ServerSetClientLimitsArgs struct {
	Srv    NonnullServer
	Params []libvirt.TypedParam
	Flags  uint32
}

// ServerUpdateTLSFilesArgs is admin_server_update_tls_files_args.
type ServerUpdateTLSFilesArgs struct {
	Srv   NonnullServer
	Flags uint32
}

// ConnectGetLoggingOutputsArgs is admin_connect_get_logging_outputs_args.
type ConnectGetLoggingOutputsArgs struct {
	Flags uint32
}

// ConnectGetLoggingOutputsRet is admin_connect_get_logging_outputs_ret.
type ConnectGetLoggingOutputsRet struct {
	Outputs  string
	Noutputs uint32
}

// ConnectGetLoggingFiltersArgs is admin_connect_get_logging_filters_args.
type ConnectGetLoggingFiltersArgs struct {
	Flags uint32
}

// ConnectGetLoggingFiltersRet is admin_connect_get_logging_filters_ret.
type ConnectGetLoggingFiltersRet struct {
	Filters  libvirt.OptString
	Nfilters uint32
}

// ConnectSetLoggingOutputsArgs is admin_connect_set_logging_outputs_args.
type ConnectSetLoggingOutputsArgs struct {
	Outputs libvirt.OptString
	Flags   uint32
}

// ConnectSetLoggingFiltersArgs is admin_connect_set_logging_filters_args.
type ConnectSetLoggingFiltersArgs struct {
	Filters libvirt.OptString
	Flags   uint32
}

// ConnectSetDaemonTimeoutArgs is admin_connect_set_daemon_timeout_args.
type ConnectSetDaemonTimeoutArgs struct {
	Timeout uint32
	Flags   uint32
}

// ConnectDaemonShutdownArgs is admin_connect_daemon_shutdown_args (libvirt 11.2).
type ConnectDaemonShutdownArgs struct {
	Flags uint32
}
