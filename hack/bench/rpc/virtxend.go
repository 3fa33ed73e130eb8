package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// startVirtxend runs the binary on the simulated host from dir/virtxend with cfg.n running drop-in domains of
// 8 MiB, and connects cfg.clients clients. stop ends it; it is set whenever the process was started.
func startVirtxend(ctx context.Context, cfg config, dir string) (d *daemon, stop func(), err error) {
	dir = filepath.Join(dir, "virtxend")
	domains := filepath.Join(dir, "domains.d")
	if err := os.MkdirAll(domains, 0o755); err != nil {
		return nil, nil, err
	}
	conf := filepath.Join(dir, "virtxend.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`unix_sock_dir = "%[1]s/run"
hypervisor = "sim"
domains_dir = "%[1]s/domains.d"
defines_dir = "%[1]s/defines"
state_dir = "%[1]s/state"
libxl_config_file = "%[1]s/libxl.conf"
log_level = 2
sim_memory = %[2]d
`, dir, max(16384, 3072+8*cfg.n))), 0o644); err != nil {
		return nil, nil, err
	}
	// The specs wait in staging until the empty daemon's memory is measured.
	staging := filepath.Join(dir, "staging")
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return nil, nil, err
	}
	for i := 0; i < cfg.n; i++ {
		name := fmt.Sprintf("bench-%04d", i)
		if err := os.WriteFile(filepath.Join(staging, name+".yaml"), []byte(fmt.Sprintf(`apiVersion: virtxend.io/v1alpha1
kind: XenDomain
metadata:
  name: %s
spec:
  runStrategy: Always
  domain:
    memory: 8Mi
    vcpu: {count: 1}
    os: {type: xen, kernel: /boot/vmlinuz}
`, name)), 0o644); err != nil {
			return nil, nil, err
		}
	}
	log, err := os.Create(filepath.Join(dir, "virtxend.log"))
	if err != nil {
		return nil, nil, err
	}
	defer log.Close()
	cmd := exec.Command(cfg.binary, "-f", conf, "-p", filepath.Join(dir, "virtxend.pid"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
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

	sock := filepath.Join(dir, "run", "virtxend-sock")
	d = &daemon{name: "virtxend", pid: cmd.Process.Pid, uri: "xen+unix:///system?socket=" + sock, sock: sock,
		openURI: "xen:///system"}
	dial := func() (*libvirt.Libvirt, error) { return dialLibvirt(ctx, sock, "xen:///system", done) }
	control, err := dial()
	if err != nil {
		return fail(err)
	}
	d.clients = append(d.clients, control)
	d.rssEmpty = restingRSS(d.pid)
	for i := 0; i < cfg.n; i++ {
		name := fmt.Sprintf("bench-%04d.yaml", i)
		if err := os.Rename(filepath.Join(staging, name), filepath.Join(domains, name)); err != nil {
			return fail(err)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		running, _, err := control.ConnectListAllDomains(1, libvirt.ConnectListDomainsRunning)
		if err != nil {
			return fail(err)
		}
		if len(running) == cfg.n+1 { // and Domain-0
			for _, dom := range running {
				if dom.ID != 0 {
					d.doms = append(d.doms, dom)
				}
			}
			d.rssFull = restingRSS(d.pid)
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("%d of %d domains running after 3 minutes", len(running)-1, cfg.n))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for len(d.clients) < cfg.clients {
		l, err := dial()
		if err != nil {
			return fail(err)
		}
		d.clients = append(d.clients, l)
	}
	return d, stop, nil
}

// dialLibvirt connects go-libvirt to sock and opens uri, retrying until the socket answers, ctx ends, the daemon
// exits (done) or a minute passed.
func dialLibvirt(ctx context.Context, sock, uri string, done <-chan struct{}) (*libvirt.Libvirt, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.DialTimeout("unix", sock, 10*time.Second)
		if err == nil {
			l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(c))
			if err := l.ConnectToURI(libvirt.ConnectURI(uri)); err != nil {
				c.Close()
				return nil, fmt.Errorf("open %s on %s: %w", uri, sock, err)
			}
			return l, nil
		}
		select {
		case <-done:
			return nil, fmt.Errorf("the daemon exited before %s answered", sock)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: %w", sock, err)
		}
	}
}
