// Package config reads virtxend's two configuration files, in libvirt's conf syntax, and ships their
// documented defaults.
//
//   - virtxend.conf (Daemon, LoadDaemon): every setting libvirt's virtxend takes, with libvirt's
//     defaults and checks, plus virtxend's own keys (hypervisor, domains_dir, defines_dir, state_dir,
//     libxl_config_file, resync_interval, secondary_sock_dir) that let one instance run from a private
//     directory.
//   - libxl.conf (Libxl, LoadLibxl): the libxl driver's five settings. A missing file means defaults.
//
// The daemon (package daemon) loads both at start-up, logs the Warnings, and on SIGHUP loads virtxend.conf
// again and uses Daemon.Diff to apply what can change at run time and report what needs a restart.
//
// Files are read the way libvirt reads them, so that a host can switch between libvirt's virtxend and
// this one: the same syntax (Parse), the same key types, the first of repeated keys winning, unknown keys
// ignored. Where libvirt is silent, virtxend says more: unknown, obsolete and repeated keys become Warnings,
// and errors name the file, line and key. Loading is all or nothing: a file with any error yields no value.
//
// The files virtxend.conf and libxl.conf next to this package's sources are the defaults the project
// installs: every key, commented out at its default, with an explanation. Tests keep them in step with the
// Daemon and Libxl types.
package config
