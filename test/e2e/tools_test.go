package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// toolHost is a virtxend instance set up the way a new user's Xen host is for virt-install, virt-manager and
// Ansible: a private libvirtd behind it serves storage and networks, with a started, autostarted 'default' pool
// (the pool virt-install allocates new disks in) and a started 'default' network bridging onto xenbr0 (the
// network virt-install gives a guest without --network).
type toolHost struct {
	*instance
	lv *privateLibvirtd
	// Pool is the directory of the 'default' pool.
	Pool string
	// Files holds what the tests hand the tools (kernels, disks, ISOs). virtinst makes a pool of the directory of
	// every disk path it is given, so the private libvirtd must be able to reach it.
	Files string
	// Home is the tools' HOME: their logs and caches stay in the test's directory.
	Home string
}

// startToolHost starts a private libvirtd, a virtxend forwarding to it, and the default pool and network.
func startToolHost(t *testing.T) *toolHost {
	t.Helper()
	lv := startPrivateLibvirtd(t)
	h := &toolHost{instance: startInstance(t, fmt.Sprintf("secondary_sock_dir = %q", lv.SockDir)), lv: lv,
		Pool: lv.dirFor(t, "pool"), Files: lv.dirFor(t, "files"), Home: t.TempDir()}
	h.virsh(t, "pool-define-as", "default", "dir", "--target", h.Pool)
	h.virsh(t, "pool-start", "default")
	h.virsh(t, "pool-autostart", "default")
	net := h.file(t, "default-net.xml", "<network><name>default</name><forward mode='bridge'/><bridge name='xenbr0'/></network>\n")
	h.virsh(t, "net-define", net)
	h.virsh(t, "net-start", "default")
	return h
}

// file writes content to Files/name and returns its path.
func (h *toolHost) file(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(h.Files, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tool runs a client program with the tools' HOME, the C locale and a deadline.
func (h *toolHost) tool(t *testing.T, path string, args ...string) result {
	t.Helper()
	needTool(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// Untranslated messages, in UTF-8: Ansible refuses to run in any other encoding.
	cmd.Env = append(os.Environ(), "HOME="+h.Home, "LC_ALL=C.UTF-8", "LIBVIRT_DEFAULT_URI=")
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", path, args, err)
	}
	return r
}

// mustTool runs a client program, which must succeed, and returns its standard output.
func (h *toolHost) mustTool(t *testing.T, path string, args ...string) string {
	t.Helper()
	r := h.tool(t, path, args...)
	if r.Code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s\ndaemon log:\n%s", filepath.Base(path), strings.Join(args, " "),
			r.Code, r.Stdout, r.Stderr, tail(h.Log(), 30))
	}
	return r.Stdout
}

// virsh runs virsh against virtxend, which must succeed, and returns its standard output.
func (h *toolHost) virsh(t *testing.T, args ...string) string {
	t.Helper()
	return h.mustTool(t, "/usr/bin/virsh", append([]string{"-c", h.URI()}, args...)...)
}

// state is what virsh domstate prints for name.
func (h *toolHost) state(t *testing.T, name string) string {
	t.Helper()
	return strings.TrimSpace(h.virsh(t, "domstate", name))
}

// wantXML fails t unless the XML holds every one of wants.
func wantXML(t *testing.T, what, xml string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(xml, w) {
			t.Errorf("%s lacks %s:\n%s", what, w, xml)
		}
	}
}
