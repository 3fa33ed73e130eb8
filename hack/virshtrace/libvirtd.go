package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/virtxend/virtxend/test/libvirtinstall"
)

// ensureLibvirt installs libvirtd and virsh when one is missing and this runs as root.
func ensureLibvirt(cfg config) error {
	return libvirtinstall.Ensure("virshtrace", cfg.libvirtd, cfg.virsh, os.Stderr)
}

// libvirtd is one private libvirtd, with a connection that keeps test:///default alive: the test driver's
// default state lives while a connection to it is open, and the setup runs in connections of its own.
type libvirtd struct {
	sock   string
	cmd    *exec.Cmd
	done   chan struct{}
	log    string
	holder *libvirt.Libvirt
}

// startLibvirtd runs libvirtd unprivileged (as nobody when the recorder is root), so in session mode, with its
// home, configuration, cache and runtime directories under dir, and connects the holder.
func startLibvirtd(ctx context.Context, cfg config, dir string) (*libvirtd, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clean %s: %w", dir, err)
	}
	home, rundir := filepath.Join(dir, "home"), filepath.Join(dir, "run")
	for _, p := range []string{home, rundir} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("libvirtd directory: %w", err)
		}
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 {
		uid, gid, err := libvirtinstall.Nobody()
		if err != nil {
			return nil, fmt.Errorf("user nobody: %w", err)
		}
		for _, p := range []string{dir, home, rundir} {
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, fmt.Errorf("chown %s: %w", p, err)
			}
		}
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	d := &libvirtd{sock: filepath.Join(rundir, "libvirt", "libvirt-sock"), done: make(chan struct{}),
		log: filepath.Join(filepath.Dir(dir), "libvirtd.log")}
	log, err := os.Create(d.log)
	if err != nil {
		return nil, fmt.Errorf("libvirtd log: %w", err)
	}
	defer log.Close()
	// --timeout is a backstop only: the recorder stops libvirtd itself after each trace.
	d.cmd = exec.Command(cfg.libvirtd, "--timeout", "600")
	d.cmd.Dir = home
	d.cmd.Env = []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + rundir, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = attr
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start libvirtd: %w", err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("unix", d.sock, time.Second)
		if err == nil {
			l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(c))
			if err := l.ConnectToURI(libvirt.ConnectURI("test:///default")); err != nil {
				d.stop()
				return nil, fmt.Errorf("connect to libvirtd: %w\n%s", err, d.tail())
			}
			d.holder = l
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("libvirtd exited\n%s", d.tail())
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("libvirtd does not listen on %s: %w\n%s", d.sock, err, d.tail())
		}
	}
}

// stop ends libvirtd and its process group: SIGTERM, then SIGKILL after a grace period.
func (d *libvirtd) stop() {
	if d.holder != nil {
		_ = d.holder.Disconnect()
		d.holder = nil
	}
	pid := d.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-d.done
	}
}

func (d *libvirtd) tail() string {
	b, _ := os.ReadFile(d.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
