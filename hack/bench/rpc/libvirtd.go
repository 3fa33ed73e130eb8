package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"
)

// policyRCD is Debian's hook that maintainer scripts ask before they start a service; 101 means "not allowed".
const policyRCD = "/usr/sbin/policy-rc.d"

// ensureLibvirt installs libvirtd and virsh when one is missing and the bench runs as root. Debian's
// libvirt-daemon starts a system libvirtd when it is installed: a temporary policy-rc.d forbids that.
func ensureLibvirt(cfg config) error {
	var pkgs []string
	if _, err := os.Stat(cfg.libvirtd); err != nil {
		pkgs = append(pkgs, "libvirt-daemon")
	}
	if _, err := os.Stat(cfg.virsh); err != nil {
		pkgs = append(pkgs, "libvirt-clients")
	}
	if len(pkgs) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s missing: install them (Debian: apt-get install %s) or run the bench as root",
			strings.Join(pkgs, " and "), strings.Join(pkgs, " "))
	}
	fmt.Fprintf(os.Stderr, "bench: installing %s\n", strings.Join(pkgs, " "))
	if _, err := os.Stat(policyRCD); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policyRCD, []byte("#!/bin/sh\n# virtxend's RPC bench: start no service while it installs libvirt.\nexit 101\n"), 0o755); err != nil {
			return err
		}
		defer os.Remove(policyRCD)
	}
	install := func() error {
		cmd := exec.Command("apt-get", append([]string{"-o", "DPkg::Lock::Timeout=900", "install", "-y", "-qq",
			"--no-install-recommends"}, pkgs...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	if err := install(); err != nil { // perhaps a stale package list: update once and try again
		update := exec.Command("apt-get", "-o", "DPkg::Lock::Timeout=900", "update", "-qq")
		update.Stdout, update.Stderr = os.Stderr, os.Stderr
		if uerr := update.Run(); uerr != nil {
			return fmt.Errorf("install %s: %w; apt-get update: %w", strings.Join(pkgs, " "), err, uerr)
		}
		if err := install(); err != nil {
			return fmt.Errorf("install %s: %w", strings.Join(pkgs, " "), err)
		}
	}
	return nil
}

// startLibvirtd runs libvirtd unprivileged (as nobody when the bench is root), so in session mode, with its
// home, configuration, cache and runtime directories under dir/libvirtd; defines and starts cfg.n domains in
// its test:///default driver; and connects cfg.clients clients. stop ends it; it is set whenever the process
// was started.
func startLibvirtd(ctx context.Context, cfg config, dir string) (d *daemon, stop func(), err error) {
	base := dir
	dir = filepath.Join(base, "libvirtd")
	home, rundir := filepath.Join(dir, "home"), filepath.Join(dir, "run")
	for _, p := range []string{home, rundir} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, nil, err
		}
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 {
		uid, gid, err := nobody()
		if err != nil {
			return nil, nil, err
		}
		for _, p := range []string{dir, home, rundir} {
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, nil, err
			}
		}
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	log, err := os.Create(filepath.Join(base, "libvirtd.log"))
	if err != nil {
		return nil, nil, err
	}
	defer log.Close()
	// --timeout is a backstop only: the bench keeps a connection open until it stops libvirtd itself.
	cmd := exec.Command(cfg.libvirtd, "--timeout", "3600")
	cmd.Dir = home
	cmd.Env = []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + rundir, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop = func() { stopProcess(cmd, done, 30*time.Second) }
	fail := func(err error) (*daemon, func(), error) {
		b, _ := os.ReadFile(log.Name())
		return nil, stop, fmt.Errorf("%w\n%s", err, tailLines(string(b), 20))
	}

	sock := filepath.Join(rundir, "libvirt", "libvirt-sock") // a session daemon's socket
	d = &daemon{name: "libvirtd", pid: cmd.Process.Pid, uri: "test+unix:///default?socket=" + sock, sock: sock,
		openURI: "test:///default"}
	dial := func() (*libvirt.Libvirt, error) { return dialLibvirt(ctx, sock, "test:///default", done) }
	control, err := dial()
	if err != nil {
		return fail(err)
	}
	d.clients = append(d.clients, control)
	v, err := control.ConnectGetLibVersion()
	if err != nil || v/1000000 < 9 {
		return fail(fmt.Errorf("libvirtd version %d, %v: want 9.0 or later", v, err))
	}
	d.version = fmt.Sprintf("libvirtd %d.%d.%d", v/1000000, v/1000%1000, v%1000)
	time.Sleep(time.Second)
	d.rssEmpty = rssMiB(d.pid)
	for i := 0; i < cfg.n; i++ {
		dom, err := control.DomainDefineXML(fmt.Sprintf(`<domain type='test'>
  <name>bench-%04d</name>
  <memory unit='MiB'>8</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
</domain>`, i))
		if err != nil {
			return fail(fmt.Errorf("define: %w", err))
		}
		if err := control.DomainCreate(dom); err != nil {
			return fail(fmt.Errorf("start %s: %w", dom.Name, err))
		}
		d.doms = append(d.doms, dom)
	}
	time.Sleep(2 * time.Second)
	d.rssFull = rssMiB(d.pid)
	for len(d.clients) < cfg.clients {
		l, err := dial()
		if err != nil {
			return fail(err)
		}
		d.clients = append(d.clients, l)
	}
	return d, stop, nil
}

// nobody returns the uid and gid of the unprivileged user libvirtd runs as.
func nobody() (uid, gid int, err error) {
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

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
