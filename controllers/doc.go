// Package controllers holds the controllers that drive Xen domains towards their XenDomain objects.
//
// The XenDomainReconciler is a controller-runtime typed controller, unmanaged (controller.NewTypedUnmanaged) and
// built by one Setup in both modes: in local mode over the daemon's object store, in fleet mode over a manager's
// cache of the API server, filtered to this node. It is fed by two sources: changes of XenDomain objects, and the Observer, which watches the
// hypervisor (its event stream plus a periodic full listing) and enqueues an object whenever what is observed
// of its domain changes.
//
// Safety rules, in the order the reconciler applies them:
//   - Unknown is not absent: nothing is created or destroyed before the Observer's first full listing.
//   - A domain belongs to an object only through the ownership marker stored in libxl's per-domain userdata
//     (the domain UUID, which is the object's identity, plus generation and spec hash); never by name, never by
//     metadata.uid, which an API server assigns. Domains without a marker (started with xl) are
//     listed and never touched.
//   - Every phase measures before it acts and is safe to run again.
//   - The reconciler is the only writer of status and the only caller of the hypervisor's mutating methods.
//
// Two definitions per running domain, as in libvirt: the spec is the persistent one; the live one
// (LiveDefinition, kept in a LiveStore) is made at start, changed by SetLive actions (--live calls) and, for
// declarative sources, by the spec changes Xen can apply live. Drift is measured against it. The Adopter gives
// every marked running domain without an object a transient one, so that nothing the daemon started is lost; in
// fleet mode (ReportOnly) it reports such a domain and leaves it running until its object comes back.
package controllers
