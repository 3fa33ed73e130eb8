package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/test/libvirtinstall"
)

// ensureLibvirt installs libvirtd and virsh when one is missing and this runs as root.
func ensureLibvirt(cfg config) error {
	return libvirtinstall.Ensure("bench", cfg.libvirtd, cfg.virsh, os.Stderr)
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
		uid, gid, err := libvirtinstall.Nobody()
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
	d.rssEmpty = restingRSS(d.pid)
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
	d.rssFull = restingRSS(d.pid)
	for len(d.clients) < cfg.clients {
		l, err := dial()
		if err != nil {
			return fail(err)
		}
		d.clients = append(d.clients, l)
	}
	return d, stop, nil
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
