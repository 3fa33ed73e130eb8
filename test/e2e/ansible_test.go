package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// playbook runs testdata/ansible/virt.yml against virtxend for one tag, with the local connection, and fails t
// unless every task (each module call is followed by its assertions) passed. It returns the PLAY RECAP line.
func (h *toolHost) playbook(t *testing.T, tag string, vars ...string) string {
	t.Helper()
	book, err := filepath.Abs(filepath.Join("testdata", "ansible", "virt.yml"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-i", "localhost,", "--tags", tag, "-e", "uri=" + h.URI()}
	for _, v := range vars {
		args = append(args, "-e", v)
	}
	r := h.tool(t, "/usr/bin/ansible-playbook", append(args, book)...)
	recap := regexp.MustCompile(`localhost\s+: ok=\d+ .*`).FindString(r.Stdout)
	if r.Code != 0 || recap == "" || !strings.Contains(recap, " failed=0 ") {
		t.Fatalf("ansible-playbook --tags %s: exit %d\nstdout: %s\nstderr: %s\ndaemon log:\n%s", tag, r.Code, tail(r.Stdout, 40),
			r.Stderr, tail(h.Log(), 30))
	}
	return recap
}

// TestAnsible runs a playbook of Ansible's community.libvirt modules (virt, virt_pool, virt_net) against
// virtxend: a guest defined, started (and started again, unchanged), inspected, shut down, destroyed and
// undefined, then the facts of the storage and network drivers, which virtxend forwards to a private libvirtd.
func TestAnsible(t *testing.T) {
	needTool(t, "/usr/bin/ansible-playbook")
	needTool(t, "/usr/lib/python3/dist-packages/ansible_collections/community/libvirt/plugins/modules/virt.py")
	needTool(t, "/usr/lib/python3/dist-packages/lxml/__init__.py")
	h := startToolHost(t)
	// Ansible keeps its temporary files under HOME; its colours would hide the recap from the pattern.
	t.Setenv("ANSIBLE_NOCOLOR", "1")
	t.Setenv("ANSIBLE_LOCAL_TEMP", filepath.Join(h.Home, "ansible-tmp"))
	kernel := h.file(t, "vmlinuz", "a kernel\n")
	disk := h.file(t, "ansible1.img", "")
	if err := os.Truncate(disk, 8<<20); err != nil {
		t.Fatal(err)
	}
	h.virsh(t, "vol-create-as", "default", "data.img", "1M")

	recap := h.playbook(t, "up", "kernel="+kernel, "disk="+disk)
	// define, state running, autostart on: changed; the second define, the second state running and the second
	// autostart: not.
	if !strings.Contains(recap, " changed=4 ") {
		t.Errorf("tag up: %s, want changed=4 (define, start, autostart on and off)", recap)
	}
	if s := h.state(t, "ansible1"); s != "running" {
		t.Errorf("domstate ansible1 after the play = %q, want running", s)
	}
	wantXML(t, "dumpxml ansible1", h.virsh(t, "dumpxml", "ansible1"), "<kernel>"+kernel+"</kernel>", "<source file='"+disk+"'/>")
	wantXML(t, "dominfo ansible1", h.virsh(t, "dominfo", "ansible1"), "Persistent:     yes", "Autostart:      disable")

	h.playbook(t, "down")
	if out := h.virsh(t, "list", "--all", "--name"); strings.Contains(out, "ansible1") {
		t.Errorf("ansible1 is still listed after undefine:\n%s", out)
	}

	h.playbook(t, "facts", "volume=data.img")
}
