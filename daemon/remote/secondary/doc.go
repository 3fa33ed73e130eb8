// Package secondary serves libvirt's secondary drivers (network, storage, nodedev, secret, interface and
// nwfilter) the way libvirt's modular daemons do: virtxend has none of its own, so it forwards their procedures
// to the host's libvirt daemon for that driver (virtnetworkd, virtstoraged, ... or the monolithic libvirtd).
//
// It is what remoteOpenConn and the remoteGet*Conn functions of libvirt's remote_daemon_dispatch.c do for
// virtxend: for each client, the first call of a driver's family dials that driver's daemon, opens it with the
// driver's URI ("network:///system", ...), read-only for read-only clients, and passes the client's identity on
// (CONNECT_SET_IDENTITY); the connection then serves every later call of that family for that client and closes
// with it. Calls travel as they came: the body of the call goes to the daemon unchanged, with its procedure
// number, and the daemon's reply (or error) comes back unchanged, so the daemon's own checks and messages are
// what the client sees. Event messages of the forwarded families come back the same way, and the streams of
// storage volume upload and download are bridged.
//
// The socket of a driver's daemon is looked up in one directory (secondary_sock_dir in virtxend.conf, libvirt's
// /var/run/libvirt by default): the driver's own daemon socket when it exists, else the monolithic libvirtd's
// libvirt-sock (Debian 12 ships only libvirtd). Read-only clients try the -sock-ro sockets first. Which
// procedures belong to which driver is derived from the REMOTE program's generated table (rpc.RemoteProcedures)
// by the rule libvirt's gendispatch.pl applies. CONNECT_SET_IDENTITY itself is served here too: it replaces the
// identity a client's secondary connections are opened with.
//
// The daemon is also a client of the network and storage drivers itself, as libvirt's libxl driver is through
// virGetConnectNetwork: a Resolver, with connections of its own to the same sockets, gives the config builder
// the bridge of an <interface type='network'> and the path of a <disk type='volume'> (libxl.HostFacts), and
// the facade the DHCP leases of domifaddr --source lease.
//
// Register it on the REMOTE program after the facade:
//
//	fwd := secondary.New(secondary.Options{SocketDir: cfg.SecondarySockDir, Log: log})
//	fwd.Register(prog)
package secondary
