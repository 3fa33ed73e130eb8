package domxml

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// The strictness check: after the conversion, the spec is printed again and everything in the input document must
// be found in that output. This is what turns "libvirtxml ignored it" or "the spec has no field for it" into an
// error naming the element or attribute, instead of a silent drop.

// knownTop are the children of <domain> that libvirt knows but the spec does not model (the Xen driver ignores or
// rejects them); anything else missing at that level is not libvirt domain XML at all.
var knownTop = setOf("genid", "hwuuid", "maxMemory", "blkiotune", "memtune", "memoryBacking", "vcpus",
	"iothreads", "iothreadids", "defaultiothread", "numatune", "iommufd", "resource", "sysinfo", "idmap",
	"throttlegroups", "on_lockfailure", "pm", "perf", "keywrap", "launchSecurity", "name", "uuid", "title",
	"description", "metadata", "memory", "currentMemory", "vcpu", "cputune", "bootloader", "bootloader_args",
	"os", "features", "cpu", "clock", "on_poweroff", "on_reboot", "on_crash", "devices", "seclabel")

// knownDevices are the device elements libvirt knows.
var knownDevices = setOf("emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard",
	"serial", "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video", "hostdev",
	"redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "nvram", "panic", "shmem", "memory",
	"iommu", "vsock", "crypto", "pstore")

// containers are elements whose missing counterpart is explained by their children: the error names the first
// child that did not survive rather than the container.
var containers = setOf("features", "devices", "cputune", "cpu", "os", "hyperv", "xen", "clock", "numa")

// droppable are elements that carry no meaning when empty; libvirt does not print them then, nor does Format.
var droppable = setOf("features", "devices", "cputune", "description", "title", "metadata", "bootloader",
	"bootloader_args", "kernel", "initrd", "cmdline", "emulator", "acpi", "numa", "distances", "source", "xen",
	"backingStore")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// stripRuntime removes from the input what libvirt itself ignores when it reads a definition: the running
// domain's id, device aliases that are not user aliases (ua-*), generated vif interface names and the paths of
// ptys.
func stripRuntime(root *node) {
	root.delAttr("id")
	var walk func(n *node)
	walk = func(n *node) {
		if isPtyChardev(n) {
			n.delAttr("tty")
		}
		kept := n.children[:0]
		for _, c := range n.children {
			if c.name.Space == "" {
				switch c.name.Local {
				case "alias":
					if v, _ := c.attr("name"); !strings.HasPrefix(v, "ua-") {
						continue
					}
				case "target":
					if v, _ := c.attr("dev"); n.name.Local == "interface" && generatedIfname(v) {
						continue
					}
				case "source":
					if isPtyChardev(n) {
						c.delAttr("path")
					}
				}
			}
			walk(c)
			kept = append(kept, c)
		}
		n.children = kept
	}
	walk(root)
}

// generatedIfname reports whether an interface name is one libvirt generates (and forgets when it reads a
// definition): vif<domid>.<devid> of the libxl driver, or libvirt's generic vnet/macvtap names.
func generatedIfname(name string) bool {
	for _, p := range []string{"vif", "vnet", "macvtap", "macvlan"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func isPtyChardev(n *node) bool {
	switch n.name.Local {
	case "serial", "console", "parallel", "channel":
		t, ok := n.attr("type")
		return !ok || t == "pty"
	}
	return false
}

// canonicalize rewrites a tree into the form both sides are compared in: memory in KiB, libvirt's spellings of
// UUIDs, MACs and the PV os type, defaults libvirt does not print, empty meaningless elements removed.
func canonicalize(root *node) {
	for _, c := range root.children {
		if c.name.Space != "" {
			continue
		}
		switch c.name.Local {
		case "memory", "currentMemory", "maxMemory":
			if v, err := strconv.ParseUint(c.text, 10, 64); err == nil {
				u, _ := c.attr("unit")
				if kib, err := toKiB(v, u); err == nil {
					c.text = strconv.FormatUint(kib, 10)
					c.delAttr("unit")
				}
			}
		case "uuid":
			if u, err := canonicalUUID(c.text); err == nil {
				c.text = u
			}
		case "os":
			if t := c.child("type"); t != nil && t.text == "linux" {
				t.text = "xen"
			}
		case "features":
			if h := c.child("hap"); h != nil {
				if v, _ := h.attr("state"); v == "on" {
					h.delAttr("state")
				}
			}
		case "cpu":
			if n := c.child("numa"); n != nil {
				for _, cell := range n.children {
					mem, _ := cell.attr("memory")
					unit, _ := cell.attr("unit")
					if v, err := strconv.ParseUint(mem, 10, 64); err == nil {
						if kib, err := toKiB(v, unit); err == nil {
							cell.setAttr("memory", strconv.FormatUint(kib, 10))
							cell.delAttr("unit")
						}
					}
				}
			}
		case "devices":
			for _, dev := range c.children {
				canonicalDevice(dev)
			}
		}
	}
	dropEmpty(root)
}

func canonicalDevice(dev *node) {
	switch dev.name.Local {
	case "interface":
		if m := dev.child("mac"); m != nil {
			if v, ok := m.attr("address"); ok {
				if mac, err := canonicalMAC(v); err == nil {
					m.setAttr("address", mac)
				}
			}
		}
		if v := dev.child("vlan"); v != nil {
			if t, _ := v.attr("trunk"); t == "no" {
				v.delAttr("trunk")
			}
		}
	case "disk":
		if dr := dev.child("driver"); dr != nil {
			for _, k := range []string{"cache", "discard"} {
				if v, _ := dr.attr(k); v == "default" {
					dr.delAttr(k)
				}
			}
		}
		// libvirt accepts <auth> beside <source> (the old place) and keeps it in the source.
		var auth *node
		kept := dev.children[:0]
		for _, c := range dev.children {
			if c.name.Space == "" && c.name.Local == "auth" && auth == nil {
				auth = c
				continue
			}
			kept = append(kept, c)
		}
		dev.children = kept
		if auth != nil {
			src := dev.child("source")
			if src == nil {
				src = &node{name: auth.name}
				src.name.Local = "source"
				dev.children = append(dev.children, src)
			}
			src.children = append(src.children, auth)
		}
	}
}

// dropEmpty removes, bottom up, the empty elements that mean nothing.
func dropEmpty(n *node) {
	kept := n.children[:0]
	for _, c := range n.children {
		dropEmpty(c)
		if c.name.Space == "" && droppable[c.name.Local] && c.empty() {
			continue
		}
		kept = append(kept, c)
	}
	n.children = kept
}

// ancestors is the chain of elements above the one being compared, innermost first, up to but excluding
// <domain>. Error messages name an element by this path ("<devices><disk>"); it is printed only when an error
// needs it, so that comparing a document stays linear in its size however deep it nests.
type ancestors struct {
	n      *node
	parent *ancestors
}

// String prints the path outermost first: "<devices><disk>"; the empty path is "".
func (a *ancestors) String() string {
	var names []string
	for p := a; p != nil; p = p.parent {
		names = append(names, elemName(p.n))
	}
	var b strings.Builder
	for i := len(names) - 1; i >= 0; i-- {
		b.WriteString("<" + names[i] + ">")
	}
	return b.String()
}

// isTop reports whether the path is exactly the top-level element local (no namespace) below <domain>.
func (a *ancestors) isTop(local string) bool {
	return a != nil && a.parent == nil && a.n.name.Space == "" && a.n.name.Local == local
}

// subset checks that everything in in (the input document) is in out (the printed spec). path holds in's
// ancestors below <domain>.
func subset(in, out *node, path *ancestors) error {
	here := &ancestors{n: in, parent: path}
	if path == nil && in.name.Local == "domain" {
		here = nil
	}
	for _, at := range in.attrs {
		v, ok := attrValue(out, at.Name.Space, at.Name.Local)
		if ok && sameValue(at.Value, v) {
			continue
		}
		elem := path.String() + "<" + elemName(in) + " " + attrName(at.Name.Space, at.Name.Local) + "='" + at.Value + "'>"
		if !ok {
			return posErr(in, ErrUnsupported, "unsupported attribute "+elem, "")
		}
		return posErr(in, ErrUnsupported, "unsupported value "+elem, "(read as '"+v+"')")
	}
	if in.text != "" && !sameValue(in.text, out.text) {
		return posErr(in, ErrUnsupported, "unsupported value '"+in.text+"' of "+orRoot(here.String()),
			"(read as '"+out.text+"')")
	}
	used := make([]bool, len(out.children))
	var ordinal map[xml.Name]int // occurrences of each name so far; only needed with siblings
	if len(in.children) > 1 {
		ordinal = make(map[xml.Name]int, len(in.children))
	}
	for _, c := range in.children {
		k := ordinal[c.name]
		if ordinal != nil {
			ordinal[c.name]++
		}
		var cands []int
		seen := 0
		preferred := -1
		for i, o := range out.children {
			if o.name != c.name {
				continue
			}
			if seen == k && !used[i] {
				preferred = i
			}
			seen++
			if !used[i] {
				cands = append(cands, i)
			}
		}
		if len(cands) == 0 {
			if err := missing(c, here); err != nil {
				return err
			}
			continue
		}
		if preferred >= 0 {
			// Try the same occurrence first, then any other unused one.
			cands = append([]int{preferred}, cands...)
		}
		var first error
		matched := false
		for _, i := range cands {
			err := subset(c, out.children[i], here)
			if err == nil {
				used[i] = true
				matched = true
				break
			}
			if first == nil {
				first = err
			}
		}
		if !matched {
			return first
		}
	}
	return nil
}

// missing explains an input element that has no counterpart in the output.
func missing(c *node, parent *ancestors) error {
	if c.name.Space == "" && containers[c.name.Local] && len(c.attrs) == 0 && c.text == "" {
		if err := subset(c, &node{name: c.name}, parent); err != nil {
			return err
		}
		return nil
	}
	el := parent.String() + "<" + elemName(c) + ">"
	switch {
	case c.name.Space != "":
		return posErr(c, ErrUnsupported, "unsupported element "+el, "(namespace "+c.name.Space+")")
	case parent == nil && !knownTop[c.name.Local]:
		return posErr(c, ErrInvalid, "unknown element "+el, "")
	case parent.isTop("devices") && !knownDevices[c.name.Local]:
		return posErr(c, ErrInvalid, "unknown element "+el, "")
	case parent == nil || parent.isTop("devices"):
		return posErr(c, ErrUnsupported, "unsupported element "+el, "(not supported by the Xen driver)")
	}
	return posErr(c, ErrUnsupported, "unsupported element "+el, "")
}

func orRoot(s string) string {
	if s == "" {
		return "<domain>"
	}
	return s
}

// posErr is "WHAT at line N SUFFIX", matching kind.
func posErr(n *node, kind error, what, suffix string) error {
	msg := what
	if n.line > 0 {
		msg += fmt.Sprintf(" at line %d", n.line)
	}
	if suffix != "" {
		msg += " " + suffix
	}
	return &kindError{kind: kind, msg: msg}
}

func attrValue(n *node, space, local string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

func elemName(n *node) string {
	if n.name.Space == xenNamespace {
		return "xen:" + n.name.Local
	}
	if n.name.Space != "" {
		return "{" + n.name.Space + "}" + n.name.Local
	}
	return n.name.Local
}

func attrName(space, local string) string {
	if space == "" {
		return local
	}
	return space + ":" + local
}

// sameValue compares two attribute or text values; numbers compare by value, so that hexadecimal and decimal
// spellings of an address are the same.
func sameValue(x, y string) bool {
	if x == y {
		return true
	}
	a, errA := strconv.ParseInt(x, 0, 64)
	b, errB := strconv.ParseInt(y, 0, 64)
	return errA == nil && errB == nil && a == b
}
