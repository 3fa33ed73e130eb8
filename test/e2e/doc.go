// Package e2e runs the real virtxend binary from a private directory and drives it with real clients: virsh,
// virt-admin, python3-libvirt (Debian's, /usr/bin/python3) and go-libvirt. Tests skip, saying why, when a client
// is not installed; `make test` installs them.
package e2e
