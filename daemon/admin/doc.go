// Package admin serves libvirt's ADMIN program (0x06900690) on virtxend-admin-sock: what virt-admin talks to.
// It registers the procedures of src/admin/admin_protocol.x on the program from rpc.NewAdminProgram and answers
// them from the daemon (the Daemon interface): its servers, their clients and limits, the log settings, the
// idle timeout and shutdown. The protocol's wire types are defined here (protocol.go), since go-libvirt
// generates the REMOTE protocol only.
//
//	virt-admin command             procedure                          answered from
//	version                        CONNECT_GET_LIB_VERSION            remote.LibVersion (the libvirt virtxend emulates)
//	srv-list                       CONNECT_LIST_SERVERS               Daemon.Servers: "virtxend", "admin"
//	srv-threadpool-info / -set     SERVER_GET/SET_THREADPOOL_...      Server.ThreadPool (see ThreadPool)
//	srv-clients-info / -set        SERVER_GET/SET_CLIENT_LIMITS       rpc.Server's client limit and count
//	client-list, client-info       SERVER_LIST_CLIENTS, CLIENT_...    rpc.Server.Clients, rpc.Client.Info
//	client-disconnect              CLIENT_CLOSE                       rpc.Client.Close
//	daemon-log-filters / -outputs  CONNECT_GET/SET_LOGGING_...        Daemon.Logging
//	daemon-timeout                 CONNECT_SET_DAEMON_TIMEOUT         Daemon.SetIdleTimeout
//	daemon-shutdown                CONNECT_DAEMON_SHUTDOWN            Daemon.Shutdown, once the reply is out
//	srv-update-tls                 SERVER_UPDATE_TLS_FILES            libvirt's error: no server has TLS
//
// Errors are libvirt's, code, domain and text, including its quirks: the get procedures report an unknown
// server as virNetDaemonGetServer does ("Server not found: No server named 'x'", VIR_FROM_RPC) while the set
// procedures and CLIENT_GET_INFO use the admin dispatcher's wording (VIR_FROM_ADMIN). As libvirt's daemon does,
// CONNECT_OPEN refuses a peer running as another user than the daemon.
package admin
