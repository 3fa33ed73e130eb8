package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// virtInstall runs virt-install against virtxend the way a user does on a host without an OS database match:
// no console, the OS detected if it can be and generic if not.
func (h *toolHost) virtInstall(t *testing.T, args ...string) string {
	t.Helper()
	base := []string{"--connect", h.URI(), "--noautoconsole", "--osinfo", "detect=on,require=off"}
	return h.mustTool(t, "/usr/bin/virt-install", append(base, args...)...)
}

// pvInstall is virt-install of a PV guest booting a kernel directly, plus extra options.
func (h *toolHost) pvInstall(t *testing.T, name, kernel string, extra ...string) string {
	t.Helper()
	args := []string{"--name", name, "--memory", "128", "--vcpus", "1", "--paravirt", "--import",
		"--boot", "kernel=" + kernel + ",kernel_args=console=hvc0", "--graphics", "none"}
	return h.virtInstall(t, append(args, extra...)...)
}

// TestVirtInstall drives virt-install, virt-xml and virt-clone (Debian's virtinst) against virtxend, with a
// private libvirtd serving the storage and network drivers, and checks every result with virsh.
func TestVirtInstall(t *testing.T) {
	h := startToolHost(t)
	kernel := h.file(t, "vmlinuz", "a kernel\n")
	disk := h.file(t, "disk.img", "")
	if err := os.Truncate(disk, 16<<20); err != nil {
		t.Fatal(err)
	}

	t.Run("pv-existing-file", func(t *testing.T) {
		out := h.pvInstall(t, "pvfile", kernel, "--disk", "path="+disk, "--network", "none")
		if !strings.Contains(out, "Domain creation completed.") {
			t.Errorf("virt-install:\n%s", out)
		}
		if s := h.state(t, "pvfile"); s != "running" {
			t.Errorf("domstate pvfile = %q, want running", s)
		}
		wantXML(t, "dumpxml pvfile", h.virsh(t, "dumpxml", "pvfile"), "<domain type='xen' id=",
			"<type arch='x86_64' machine='xenpv'>linux</type>", "<kernel>"+kernel+"</kernel>",
			"<cmdline>console=hvc0</cmdline>", "<source file='"+disk+"'/>", "<target dev='xvda' bus='xen'/>")
		wantXML(t, "dominfo pvfile", h.virsh(t, "dominfo", "pvfile"), "Persistent:     yes", "Max memory:     131072 KiB")
	})

	t.Run("pv-new-volume", func(t *testing.T) {
		h.pvInstall(t, "pvvol", kernel, "--disk", "size=0.01", "--network", "none")
		vol := filepath.Join(h.Pool, "pvvol.img")
		if got := strings.TrimSpace(h.virsh(t, "vol-path", "pvvol.img", "--pool", "default")); got != vol {
			t.Errorf("vol-path pvvol.img = %q, want %q", got, vol)
		}
		// size is in GiB: 0.01 GiB is 10737418 bytes.
		if fi, err := os.Stat(vol); err != nil || fi.Size() != 10737418 {
			t.Errorf("the new volume: %v, %v (want 10737418 bytes)", fi, err)
		}
		wantXML(t, "dumpxml pvvol", h.virsh(t, "dumpxml", "pvvol"), "<source file='"+vol+"'/>")
		if s := h.state(t, "pvvol"); s != "running" {
			t.Errorf("domstate pvvol = %q, want running", s)
		}
	})

	t.Run("hvm-cdrom-vnc", func(t *testing.T) {
		iso := h.file(t, "install.iso", "an installer\n")
		out := h.virtInstall(t, "--name", "hvmcd", "--memory", "256", "--hvm", "--cdrom", iso, "--disk", "size=0.01",
			"--network", "bridge=xenbr0", "--graphics", "vnc")
		if !strings.Contains(out, "Domain is still running. Installation may be in progress.") {
			t.Errorf("virt-install:\n%s", out)
		}
		if s := h.state(t, "hvmcd"); s != "running" {
			t.Errorf("domstate hvmcd = %q, want running", s)
		}
		// The install boots from the CD; the definition virt-install leaves behind boots from the disk with the
		// CD ejected, as after an install.
		live := h.virsh(t, "dumpxml", "hvmcd")
		wantXML(t, "the live XML of hvmcd", live, "<type arch='x86_64' machine='xenfv'>hvm</type>", "<boot dev='cdrom'/>",
			"<source file='"+iso+"'/>", "<target dev='hdb' bus='ide'/>", "<source bridge='xenbr0'/>", "<graphics type='vnc' port='59")
		if m := regexp.MustCompile(`^127\.0\.0\.1:\d+\n`).FindString(h.virsh(t, "vncdisplay", "hvmcd")); m == "" {
			t.Errorf("vncdisplay hvmcd: no display")
		}
		inactive := h.virsh(t, "dumpxml", "--inactive", "hvmcd")
		wantXML(t, "the persistent XML of hvmcd", inactive, "<boot dev='hd'/>", "<graphics type='vnc' port='-1' autoport='yes'")
		if strings.Contains(inactive, iso) || strings.Contains(inactive, "<boot dev='cdrom'/>") {
			t.Errorf("the persistent XML keeps the install media:\n%s", inactive)
		}
	})

	t.Run("default-network", func(t *testing.T) {
		// No --network: virt-install gives the guest the 'default' network, which virtxend resolves to its
		// bridge through the network driver at start.
		h.pvInstall(t, "pvnet", kernel, "--disk", "none")
		wantXML(t, "the persistent XML of pvnet", h.virsh(t, "dumpxml", "--inactive", "pvnet"),
			"<interface type='network'>", "<source network='default'/>")
		if s := h.state(t, "pvnet"); s != "running" {
			t.Errorf("domstate pvnet = %q, want running", s)
		}
		wantXML(t, "domiflist pvnet", h.virsh(t, "domiflist", "pvnet"), "default")
	})

	t.Run("transient", func(t *testing.T) {
		h.pvInstall(t, "pvtrans", kernel, "--disk", "none", "--network", "none", "--transient")
		wantXML(t, "dominfo pvtrans", h.virsh(t, "dominfo", "pvtrans"), "State:          running", "Persistent:     no")
		if out := h.virsh(t, "list", "--transient", "--name"); !strings.Contains(out, "pvtrans\n") {
			t.Errorf("list --transient:\n%s", out)
		}
		h.virsh(t, "destroy", "pvtrans")
		if out := h.virsh(t, "list", "--all", "--name"); strings.Contains(out, "pvtrans") {
			t.Errorf("a destroyed transient guest is still listed:\n%s", out)
		}
	})

	t.Run("print-xml", func(t *testing.T) {
		own := h.file(t, "pvprint.img", "")
		xml := h.pvInstall(t, "pvprint", kernel, "--disk", "path="+own, "--network", "none", "--print-xml")
		wantXML(t, "virt-install --print-xml", xml, `<domain type="xen">`, "<name>pvprint</name>", "<kernel>"+kernel+"</kernel>")
		if out := h.virsh(t, "list", "--all", "--name"); strings.Contains(out, "pvprint") {
			t.Errorf("--print-xml created the guest:\n%s", out)
		}
		h.virsh(t, "define", h.file(t, "pvprint.xml", xml))
		if s := h.state(t, "pvprint"); s != "shut off" {
			t.Errorf("domstate pvprint = %q, want shut off", s)
		}
	})

	t.Run("virt-xml", func(t *testing.T) {
		extra := h.file(t, "extra.img", "")
		if err := os.Truncate(extra, 4<<20); err != nil {
			t.Fatal(err)
		}
		xml := func(args ...string) string {
			return h.mustTool(t, "/usr/bin/virt-xml", append([]string{"--connect", h.URI(), "pvfile"}, args...)...)
		}
		// A disk hot-plugged into the running guest and kept in its definition (--update: live and config).
		if out := xml("--add-device", "--disk", extra, "--update"); !strings.Contains(out, "Device hotplug successful.") {
			t.Errorf("virt-xml --add-device --update:\n%s", out)
		}
		for _, args := range [][]string{{"domblklist", "pvfile"}, {"domblklist", "pvfile", "--inactive"}} {
			if out := h.virsh(t, args...); !strings.Contains(out, "xvdb") || !strings.Contains(out, extra) {
				t.Errorf("%v after the hot-plug:\n%s", args, out)
			}
		}
		if out := xml("--remove-device", "--disk", "target=xvdb", "--update"); !strings.Contains(out, "Device hotunplug successful.") {
			t.Errorf("virt-xml --remove-device --update:\n%s", out)
		}
		for _, args := range [][]string{{"domblklist", "pvfile"}, {"domblklist", "pvfile", "--inactive"}} {
			if out := h.virsh(t, args...); strings.Contains(out, "xvdb") {
				t.Errorf("%v after the hot-unplug:\n%s", args, out)
			}
		}
		// A config edit: the definition changes, the running guest keeps its vCPUs until its next start.
		if out := xml("--edit", "--vcpus", "2"); !strings.Contains(out, "Changes will take effect after the domain is fully powered off.") {
			t.Errorf("virt-xml --edit --vcpus:\n%s", out)
		}
		wantXML(t, "the persistent XML of pvfile", h.virsh(t, "dumpxml", "--inactive", "pvfile"), "<vcpu placement='static'>2</vcpu>")
		wantXML(t, "the live XML of pvfile", h.virsh(t, "dumpxml", "pvfile"), "<vcpu placement='static'>1</vcpu>")
		h.virsh(t, "destroy", "pvfile")
		h.virsh(t, "start", "pvfile")
		wantXML(t, "the live XML of pvfile after a restart", h.virsh(t, "dumpxml", "pvfile"), "<vcpu placement='static'>2</vcpu>")
	})

	t.Run("virt-clone", func(t *testing.T) {
		// virt-clone copies a shut-off guest's disks through the storage driver.
		h.virsh(t, "destroy", "pvvol")
		const content = "the guest's data\n"
		if err := os.WriteFile(filepath.Join(h.Pool, "pvvol.img"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		out := h.mustTool(t, "/usr/bin/virt-clone", "--connect", h.URI(), "--original", "pvvol", "--auto-clone")
		if !strings.Contains(out, "Clone 'pvvol-clone' created successfully.") {
			t.Errorf("virt-clone:\n%s", out)
		}
		copied := filepath.Join(h.Pool, "pvvol-clone.img")
		if b, err := os.ReadFile(copied); err != nil || !strings.HasPrefix(string(b), content) {
			t.Errorf("the cloned disk holds %.40q, %v", b, err)
		}
		clone := h.virsh(t, "dumpxml", "--inactive", "pvvol-clone")
		wantXML(t, "the clone's XML", clone, "<name>pvvol-clone</name>", "<source file='"+copied+"'/>")
		uuid := func(name string) string { return strings.TrimSpace(h.virsh(t, "domuuid", name)) }
		if uuid("pvvol") == uuid("pvvol-clone") {
			t.Errorf("the clone kept the original's UUID")
		}
		h.virsh(t, "start", "pvvol-clone")
		if s := h.state(t, "pvvol-clone"); s != "running" {
			t.Errorf("domstate pvvol-clone = %q, want running", s)
		}
	})
}
