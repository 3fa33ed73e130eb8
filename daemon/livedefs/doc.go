// Package livedefs keeps the live definitions of running domains (controllers.LiveDefinition) on disk, one
// JSON file per domain in the state directory (state_dir/live/UUID.json), as libvirt keeps a status XML per
// running domain under /run/libvirt/libxl. The reconciler writes a file when it starts a domain and on every live
// change, and removes it when the domain is gone; a restarted daemon reads them back, so that it neither forgets
// a running domain nor applies a persistent definition to it.
package livedefs
