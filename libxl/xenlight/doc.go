// Package xenlight is the real adapter of the libxl.Hypervisor port: cgo to libxenlight 4.17 (Debian's
// libxen-dev), compiled only with the build tag xenlight. Without the tag the package holds nothing but this
// comment, and the daemon runs on the simulated host (libxl/sim).
//
// # Configuration
//
// A domain's configuration crosses over as libxl JSON: the libxl.DomainConfig the builder produced is printed
// with its MarshalJSON and parsed by libxl_domain_config_from_json, so the JSON the Go side prints is the
// contract, and libxl's own parser judges it. Hot-plugged devices cross the same way
// (libxl_device_<kind>_from_json). No C type leaves the package: callers see libxl's types and sentinel errors
// (a failed call is an *Error whose Unwrap gives libxl.ErrNoDomain, ErrNoMemory, ErrInvalid, ...).
//
// # Events
//
// One libxl context serves the process. libxl's domain death watch (libxl_evenable_domain_death) is armed on
// every guest, at start and after each create or restore, and reports DOMAIN_SHUTDOWN with its reason, then
// DOMAIN_DEATH. Those events do not go to libxl's queue: libxl_event_register_callbacks hands them to Go on
// whichever thread produced them, where they are translated and fanned out to Events subscribers without ever
// blocking (a subscriber that falls behind gets libxl.EventOverflow). A goroutine keeps libxl's event machinery
// (the xenstore watch behind the death watches) running with libxl_osevent_beforepoll/poll/afterpoll, alongside
// the loops libxl runs itself inside synchronous calls (libxl supports several threads polling one context).
// Its poll also watches a pipe, so that Close can stop it, which libxl_event_wait would not allow, and it times
// out at least every ScanInterval, so that no event can wait on a stale fd set for longer. On each timeout the
// goroutine compares the domain list with the previous one, because libxl has no event for a domain another
// toolstack creates or pauses.
//
// # SIGCHLD
//
// libxl forks helpers (hotplug scripts, the bootloader, the save helper, device models) and must learn when
// they exit. Its default is to install its own SIGCHLD handler while it has children, and its
// "always_selective_reap" mode (libvirt's choice) keeps one installed for good. Neither suits a Go program: the
// Go runtime owns the signal handlers, libxl installs its handler without SA_ONSTACK (a signal arriving on a
// goroutine's small stack could overflow it), and it would displace Go's handler for os/signal users. So the
// adapter takes libxl_sigchld_owner_mainloop, as Xen's own Go binding does: os/signal delivers SIGCHLD to a
// goroutine, which calls libxl_childproc_sigchld_occurred; libxl then reaps only its own children, by pid, and
// os/exec keeps reaping its own. Nothing else in the process may reap children it did not start (no wait(-1)).
//
// # Concurrency
//
// libxl serialises itself with its context lock; the adapter holds no Go lock across a libxl call except a
// read lock that only Close contends for (it frees the context once calls in progress are done), and the
// balloon lock that keeps two starts from ballooning Domain-0 at once. Long calls (create, restore, save) run
// synchronously on the caller's goroutine and hold nothing else. The registry of watched domains is locked only
// around map updates, never while calling libxl, because libxl may deliver an event (and so call back into Go)
// from inside any call.
//
// # Memory
//
// With autoballoon (libxl.conf, resolved by the caller from Xen's command line) a start that does not fit
// balloons Domain-0 down first, as libvirt's libxlDomainFreeMem does. DomainInfo reports the balloon target and
// maximum as libxl keeps them in xenstore (memory/target plus video RAM, memory/static-max), which compare with
// a configuration's target_memkb and max_memkb and with what SetMemoryTarget and SetMaxMemory were given.
package xenlight
