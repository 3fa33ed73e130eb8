// Package daemon is the virtxend process: it reads the configuration, takes the pid file, opens the
// hypervisor (the simulated host or libxenlight), fills the local object store from the desired-state sources
// (the drop-in directory and libvirt's persistent defines), runs the XenDomain reconciler over it, and serves
// libvirt's RPC protocol on the local sockets. In fleet mode (fleet_kubeconfig) the objects come instead from a
// Kubernetes API server, through a manager's cache filtered to this node (fleet.go); the controllers are the same. Run ties these together under one context; signals end it
// (SIGTERM, SIGINT) or reload it (SIGHUP). Stopping the daemon never touches running guests.
package daemon
