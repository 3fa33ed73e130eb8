// Package remote is virtxend's libvirt API facade: it serves the procedures of libvirt's REMOTE program that the
// libxl driver implements, on top of the protocol layer in package rpc.
//
// Declarative underneath, synchronous on top: a call that changes a domain writes its desired state (the
// XenDomain object, through the store) and waits, with a deadline, for the reconciler to report the outcome in
// status; reads are served from the objects and from what the Observer last saw of the hypervisor. The facade
// never calls the hypervisor's mutating methods: the reconciler is their only caller.
//
// The procedures are grouped by file: connect and host (host.go), listing and lookup (domains.go), lifecycle
// and definitions (lifecycle.go), and so on; each group registers itself in Register.
package remote
