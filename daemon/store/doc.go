// Package store is the daemon's local object store: the in-memory home of the XenDomain objects (and any other
// kind registered in its scheme) when virtxend runs without a Kubernetes API server.
//
// There is one way in. The drop-in spec-file loader, the libvirt RPC facade and, in fleet mode, the fleet client
// all write desired state through the same client.Client interface, and the reconciler is the only writer of
// status (through Status()). The store implements client.WithWatch with the API server's semantics that the
// controllers rely on, so the same reconciler code runs against this store locally and against a
// kube-apiserver in fleet mode:
//
//   - a global, monotonically increasing resourceVersion (like etcd's revision); a write carrying a stale
//     resourceVersion fails with a Conflict (apierrors.IsConflict);
//   - metadata.generation starts at 1 and is bumped when anything outside metadata and status changes, and when
//     deletion starts, never on status or metadata-only writes;
//   - status is a subresource: Update and Patch ignore status, Status().Update and Status().Patch change only
//     status; Create drops status;
//   - Delete of an object with finalizers sets deletionTimestamp and keeps the object until an Update removes
//     the last finalizer; no finalizer may be added once deletion started;
//   - a write that changes nothing is not a write: no new resourceVersion, no event;
//   - one deliberate difference: Create keeps a uid set by its caller (unique per kind), because the store is
//     refilled at every start and a XenDomain's uid is its domain UUID, stable across daemon restarts.
//
// Objects never alias between the store and its callers: every object handed in is copied, every object handed
// out is a fresh deep copy. Internally stored objects are immutable (copy-on-write), which lets reads copy
// outside the lock and lets one stored version be shared by all event subscribers.
//
// Watches fan out from the writer without ever blocking it. Each subscriber has a bounded buffer; a subscriber
// that falls behind by a full buffer is closed (a watch.Interface first delivers a 410 Expired Error event) and
// must re-list, as a client-go reflector does after "too old resource version". ListAndWatch and
// ListAndSubscribe return a list and a watch that starts exactly after it, with no gap and no overlap.
//
// Kind and TypedKind build a controller-runtime source.SyncingSource over the store for controllers started
// with controller.NewTypedUnmanaged in local mode: it lists, watches, re-lists after falling behind (diffing
// against what it delivered, so deletions missed meanwhile arrive as deletes), and reports synced once the
// initial list has been handed to the event handler.
package store
