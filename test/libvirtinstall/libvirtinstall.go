// Package libvirtinstall gets Debian's libvirt daemon and client onto a machine for the tools that run a
// private libvirtd beside virtxend (the RPC bench, the virsh trace recorder), and names the unprivileged user
// that such a libvirtd runs as.
package libvirtinstall

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
)

// policyRCD is Debian's hook that maintainer scripts ask before they start a service; 101 means "not allowed".
const policyRCD = "/usr/sbin/policy-rc.d"

// Ensure installs libvirt-daemon and libvirt-clients when libvirtd (at libvirtd) or virsh (at virsh) is missing
// and the caller is root. Debian's libvirt-daemon starts a system libvirtd when it is installed: a temporary
// policy-rc.d forbids that (an existing one is left alone). who names the caller in messages; progress goes to
// log.
func Ensure(who, libvirtd, virsh string, log io.Writer) error {
	var pkgs []string
	if _, err := os.Stat(libvirtd); err != nil {
		pkgs = append(pkgs, "libvirt-daemon")
	}
	if _, err := os.Stat(virsh); err != nil {
		pkgs = append(pkgs, "libvirt-clients")
	}
	if len(pkgs) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s missing: install them (Debian: apt-get install %s) or run %s as root",
			strings.Join(pkgs, " and "), strings.Join(pkgs, " "), who)
	}
	fmt.Fprintf(log, "%s: installing %s\n", who, strings.Join(pkgs, " "))
	if _, err := os.Stat(policyRCD); errors.Is(err, os.ErrNotExist) {
		script := "#!/bin/sh\n# " + who + ": start no service while it installs libvirt.\nexit 101\n"
		if err := os.WriteFile(policyRCD, []byte(script), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", policyRCD, err)
		}
		defer os.Remove(policyRCD)
	}
	install := func() error {
		cmd := exec.Command("apt-get", append([]string{"-o", "DPkg::Lock::Timeout=900", "install", "-y", "-qq",
			"--no-install-recommends"}, pkgs...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = log, log
		return cmd.Run()
	}
	if err := install(); err != nil { // perhaps a stale package list: update once and try again
		update := exec.Command("apt-get", "-o", "DPkg::Lock::Timeout=900", "update", "-qq")
		update.Stdout, update.Stderr = log, log
		if uerr := update.Run(); uerr != nil {
			return fmt.Errorf("install %s: %w; apt-get update: %w", strings.Join(pkgs, " "), err, uerr)
		}
		if err := install(); err != nil {
			return fmt.Errorf("install %s: %w", strings.Join(pkgs, " "), err)
		}
	}
	return nil
}

// Nobody returns the uid and gid of the unprivileged user a private libvirtd runs as.
func Nobody() (uid, gid int, err error) {
	u, err := user.Lookup("nobody")
	if err != nil {
		return 0, 0, err
	}
	uid, err = strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, err
	}
	gid, err = strconv.Atoi(u.Gid)
	return uid, gid, err
}
