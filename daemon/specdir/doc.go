// Package specdir loads desired state from the drop-in directory (domains_dir, by default
// /etc/virtxend/domains.d): one source of XenDomain objects, next to libvirt's persistent defines (package
// daemon/defines), RPC calls (the facade) and, in fleet mode, the API server.
//
// The directory holds *.yaml, *.yml and *.json files (one XenDomain, several separated by "---", or a
// XenDomainList / List with items), *.xml files (one libvirt domain XML) and *.cfg files (one xl.cfg domain
// configuration, read as domxml-from-native xen-xl reads it; its name= is the domain's name). The daemon only
// reads it.
//
// A Loader keeps the objects labelled virtxend.io/source-kind=file equal to what the directory says. A pass
// applies the difference between the set of domains the directory describes and the set of file objects in
// the store, so identity is the object name, not the file: renaming or moving a file within the directory
// writes nothing. Passes run after a full scan at start-up, after bursts of fsnotify events (debounced, so a
// thousand files dropped at once make one or two passes), periodically, and on Rescan (SIGHUP). A full pass
// (start-up, Rescan, every tenth periodic one) reads or stats every file and compares every domain; the others
// read only the files that changed and resolve only the claims those touch (the claims on the same names and
// UUIDs, found through indexes), so that one edited file among ten thousand costs one file and one domain.
// Between passes the loader keeps each file's content and the names and UUIDs it claims, not its decoded
// objects (the store holds the domains): a pass decodes a file again only to create its domain or to compare it
// with a stored object that changed since they were last found equal.
//
// Rules a pass applies:
//   - A file that does not parse is reported (log line and a Warning event) and disturbs nothing: the domains
//     of its last good version stay as they were, with the virtxend.io/source-error annotation carrying the
//     error (the reconciler turns it into a Degraded condition). Fixing the file clears the annotation.
//   - Two files claiming one name: the lexically smallest path wins; the other is reported, and takes over
//     when the winner goes away. The same holds for two names claiming one UUID.
//   - A name already owned by another source (a define, a transient domain) is reported, not applied.
//   - An object whose file is gone is deleted; the reconciler's finalizer shuts its domain down gracefully and
//     destroys it after a timeout.
//   - Editor leftovers (dotfiles, *~, *.swp, #...#) and anything that is not a regular file are ignored.
//
// Identity: metadata.name is the domain name (metadata.name or spec.domain.name in YAML, <name> in XML) and
// metadata.uid is the domain UUID, so that it is stable across daemon restarts: the reconciler adopts running
// domains by the UID in their ownership marker. A file without a UUID gets a name-based (version 5) UUID in a
// fixed namespace, written into spec.domain.uuid too. Implicit defaults that libvirt would generate at random
// (MAC addresses) are drawn from a stream seeded by the UUID, so every parse of one file gives the same spec.
//
// Defaults: runStrategy Always and driftPolicy Enforce unless the file says otherwise. The loader owns
// spec.domain, runStrategy, autostart, nodeName and driftPolicy of its objects; spec.paused is taken from the
// file when the object is created and whenever the file changes it; spec.action (one-shot requests) and status
// are never taken from a file.
package specdir
