// Package domlock orders the changes made to one domain, as libvirt's per-domain job lock does
// (virDomainObjBeginJob): define, undefine, create, start, destroy and the reconciler's own cleanup of a domain
// each hold the lock of the domain's name and of its UUID for their whole course, from the first read to the
// acknowledged outcome. The state after any interleaving of such calls is then the state the last acknowledged
// one left, on disk and in the store.
//
// The daemon makes one Table and hands it to the libvirt facade (daemon/remote), which waits for a lock with the
// call's deadline, and to the reconciler (controllers), which only tries one: the reconciler must never wait for a
// facade call that itself waits for the reconciler's outcome.
package domlock
