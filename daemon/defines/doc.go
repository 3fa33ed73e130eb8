// Package defines keeps libvirt's persistent domain definitions: NAME.xml files in defines_dir (by default
// /etc/libvirt/libxl, as libvirt's libxl driver) and the autostart/NAME.xml symlinks next to them. It is the
// source of XenDomain objects labelled virtxend.io/source-kind=define, and where `virsh define` persists.
//
// The files are the ones libvirt reads and writes: a host moving from libvirt's virtxend keeps its domains,
// and one moving back finds them. Save writes the inactive domain XML (domxml.Format with no domain id) after
// a comment header saying the file is generated, atomically: a temporary file in the same directory, fsync,
// rename, fsync of the directory, mode 0600. A crash never leaves a truncated NAME.xml, and the temporary
// files a crash may leave are removed by the next Load. Temporary files are dotfiles ending in .tmp, so
// libvirt, which loads *.xml, never reads them.
//
// Autostart is a symlink autostart/NAME.xml pointing at the absolute path of NAME.xml, as libvirt's
// virDomainObjSetAutostart makes it; like libvirt (virFileLinkPointsTo) a domain is autostarted when the link
// resolves to the very file NAME.xml, whatever its target spelling.
//
// Load reads every NAME.xml (at start-up and on SIGHUP) and makes the define objects in the store match:
// runStrategy Manual (libvirt's persistent domains run only on request), autostart from the link, metadata.uid
// the domain UUID. A file that does not parse is reported and disturbs nothing; the object from its last good
// version stays, marked with the virtxend.io/source-error annotation. An object whose file is gone is deleted
// when its domain is not running; a running one becomes transient, as `virsh undefine` leaves it, and a
// transient domain whose definition appears becomes persistent again, as `virsh define` makes it.
package defines
