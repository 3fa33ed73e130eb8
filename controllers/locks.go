package controllers

import "time"

// DomainLocker orders the reconciler's own cleanup of a domain (forgetting a stopped transient domain) with the
// libvirt facade's calls on the same domain: both hold the lock of the domain's name and UUID (the daemon's
// domlock.Table). The reconciler only tries: a facade call holding the lock may be waiting for this very
// reconcile's outcome, so waiting could only end in that call's timeout.
type DomainLocker interface {
	// TryLock takes the locks of the domain named name with UUID uuid if they are free, and reports whether it
	// did; unlock lets them go.
	TryLock(name, uuid string) (unlock func(), ok bool)
}

// lockRetry is how soon a cleanup that found the domain's lock held is tried again.
const lockRetry = 50 * time.Millisecond
