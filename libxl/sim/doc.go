// Package sim is the embedded simulated Xen host: an implementation of libxl.Hypervisor with the semantics of a
// real Xen 4.17 host and libxl, for machines without Xen (a newcomer's laptop, CI, the e2e suite's default).
//
// A Host owns a state directory. Every simulated guest is a small JSON file under StateDir/domains/, rewritten
// atomically whenever that guest changes, so a new Host on the same directory (a restarted daemon) finds the
// same guests with the same domids, states, memory, vcpus, devices and userdata: simulated guests outlive the
// daemon exactly as real guests do. A flock on StateDir/lock keeps two live daemons off one directory.
// StateDir/host.json remembers the host's boot id: when it changes (the machine rebooted, or Options.BootID says
// so) the simulated host has rebooted too and its guests are gone. Writes are cheap enough for thousands of
// domains: a change rewrites one small file (no fsync unless Options.Sync), creating a domain writes a new one.
//
// The semantics follow Xen and libxl, not convenience:
//
//   - Domids are allocated monotonically from 1 and are not reused until they wrap below DOMID_FIRST_RESERVED
//     (0x7ff0). Domain-0 (domid 0, "Domain-0", the nil UUID) always exists, holds Options.Dom0MemKiB, and
//     refuses lifecycle operations (destroy, shutdown, reboot, pause, save, core dump, devices, console) with
//     libxl.ErrDom0; ballooning, vcpu changes, pinning and userdata work on it as they do on Xen.
//   - Memory: a domain holds its current allocation, which is its balloon target once the balloon driver
//     reached it; creation allocates target_memkb; max_memkb is a ceiling, not a reservation. Free memory is
//     TotalMemKiB minus what every domain (Domain-0 included, shut-down domains included until destroyed)
//     currently holds. A create or restore whose target does not fit fails with libxl.ErrNoMemory; raising a
//     balloon target beyond free memory succeeds but the guest only gets what is free (current < target), as a
//     balloon driver that cannot find pages does; a paused guest's balloon driver waits until it runs. A target above max_memkb fails with libxl.ErrInvalid, and so
//     does a max below the current target (libxl_domain_setmaxmem refuses it).
//   - Shutdown and reboot are requests to the guest: the guest takes Options.ShutdownDelay of its own time to
//     act on them, then the domain is in StateShutdown with reason poweroff or reboot and EventShutdown is
//     emitted. The domain stays until it is destroyed: deciding on_poweroff/on_reboot is the toolstack's job,
//     as with libxl. A paused guest does not run, so its request waits; the remaining guest time counts only
//     while it runs.
//   - A crash (InjectCrash) is reported the way libxl_dominfo reports it: StateShutdown with ShutdownCrash.
//     The simulator never reports StateCrashed, which is the toolstack's view after on_crash=preserve.
//   - SaveDomain refuses a paused domain with libxl.ErrBadState, as libvirt's libxl driver does ("has to be
//     running because libxenlight will suspend it": the PV suspend protocol needs the guest's cooperation).
//     It writes a small image (header, libxl JSON config, a few KiB of simulated memory, a SHA-256 trailer),
//     reports the shutdown with reason suspend and destroys the domain. RestoreDomain validates the image.
//   - CPU time is derived, not ticked: each online vcpu of a running domain accrues wall time. An idle host
//     runs no goroutines or timers; the only timers are those of pending shutdown requests (and, with
//     Options.Inject, one goroutine waiting on inotify for requests under StateDir/inject: see InjectDir).
//   - Consoles are real ptys (/dev/pts/N), opened lazily on the first ConsolePath or GuestPrint so that a
//     thousand domains need no thousand ptys. The guest side (the master) is held by the Host: the guest prints
//     a boot banner and a login prompt and echoes what it is sent. Unlike xenconsoled, a Host cannot hand its
//     ptys to its successor, so after a daemon restart a guest's console is a new pty.
//   - Events fan out to every Events subscriber through a bounded buffer; a subscriber that falls behind loses
//     events and receives libxl.EventOverflow instead, and writers never block.
package sim
