// Package deffile reads definition files with the one size bound virtxend puts on them: the spec files of the
// drop-in directory (daemon/specdir), the persistent defines NAME.xml (daemon/defines) and any other domain XML
// the daemon reads from disk. A definition is a few kilobytes; a file of hundreds of megabytes in the drop-in
// directory must become an error naming it, not a daemon holding gigabytes.
package deffile
