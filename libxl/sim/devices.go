package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/virtxend/virtxend/libxl"
)

// device is one device of a domain: its identity and its libxl JSON, kept verbatim so that fields this package
// does not know survive.
type device struct {
	Kind libxl.DeviceKind `json:"kind"`
	// ID identifies the device within its kind: a disk's vdev, a nic's devid, a PCI BDF, a USB ctrl.port.
	ID string `json:"id"`
	// Mac is a nic's MAC address, lower case; nics are also unique by MAC.
	Mac  string          `json:"mac,omitempty"`
	Spec json.RawMessage `json:"spec"`
}

// configKeys maps device kinds to their arrays in libxl_domain_config's JSON.
var configKeys = []struct {
	kind libxl.DeviceKind
	key  string
}{
	{libxl.KindDisk, "disks"},
	{libxl.KindNic, "nics"},
	{libxl.KindPCI, "pcidevs"},
	{libxl.KindUSB, "usbdevs"},
}

// devicesFromConfig lists the devices a domain is built with, from its libxl JSON.
func devicesFromConfig(raw json.RawMessage) ([]device, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	var devs []device
	for _, ck := range configKeys {
		arr, ok := top[ck.key]
		if !ok {
			continue
		}
		var specs []json.RawMessage
		if err := json.Unmarshal(arr, &specs); err != nil {
			return nil, fmt.Errorf("decode %s: %w", ck.key, err)
		}
		for _, spec := range specs {
			dev, err := decodeDevice(ck.kind, spec)
			if err != nil {
				return nil, err
			}
			dev, err = admitDevice(devs, dev)
			if err != nil {
				return nil, fmt.Errorf("%w (%s in config)", err, ck.key)
			}
			devs = append(devs, dev)
		}
	}
	return devs, nil
}

// decodeDevice derives the identity of a device of kind from its libxl JSON.
func decodeDevice(kind libxl.DeviceKind, spec json.RawMessage) (device, error) {
	var d libxl.Device
	var target any
	switch kind {
	case libxl.KindDisk:
		d.Disk = new(libxl.DeviceDisk)
		target = d.Disk
	case libxl.KindNic:
		d.Nic = &libxl.DeviceNic{Devid: -1}
		target = d.Nic
	case libxl.KindPCI:
		d.PCI = new(libxl.DevicePci)
		target = d.PCI
	case libxl.KindUSB:
		d.USB = new(libxl.DeviceUsbdev)
		target = d.USB
	default:
		return device{}, fmt.Errorf("unknown device kind %q: %w", kind, libxl.ErrInvalid)
	}
	if err := json.Unmarshal(spec, target); err != nil {
		return device{}, fmt.Errorf("decode %s device: %w", kind, err)
	}
	d.Kind = kind
	dev, err := identify(d)
	if err != nil {
		return device{}, err
	}
	dev.Spec = spec
	return dev, nil
}

// identify returns the identity of dev (without Spec), checking that dev is well formed.
func identify(dev libxl.Device) (device, error) {
	set := 0
	for _, p := range []bool{dev.Disk != nil, dev.Nic != nil, dev.PCI != nil, dev.USB != nil} {
		if p {
			set++
		}
	}
	bad := func(why string) (device, error) {
		return device{}, fmt.Errorf("%s device: %s: %w", dev.Kind, why, libxl.ErrInvalid)
	}
	if set != 1 {
		return bad("exactly one of Disk, Nic, PCI, USB must be set")
	}
	out := device{Kind: dev.Kind}
	switch dev.Kind {
	case libxl.KindDisk:
		if dev.Disk == nil {
			return bad("no disk")
		}
		if dev.Disk.Vdev == "" {
			return bad("no vdev")
		}
		out.ID = dev.Disk.Vdev
	case libxl.KindNic:
		if dev.Nic == nil {
			return bad("no nic")
		}
		if dev.Nic.Devid >= 0 {
			out.ID = strconv.Itoa(dev.Nic.Devid)
		}
		out.Mac = strings.ToLower(dev.Nic.Mac)
	case libxl.KindPCI:
		p := dev.PCI
		if p == nil {
			return bad("no pci")
		}
		out.ID = fmt.Sprintf("%04x:%02x:%02x.%d", p.Domain, p.Bus, p.Dev, p.Func)
	case libxl.KindUSB:
		if dev.USB == nil {
			return bad("no usb")
		}
		// A negative ctrl (libxl's default) means the first controller, a port of 0 the first free port:
		// the ID then ends in "." and admitDevice completes it.
		out.ID = strconv.Itoa(max(dev.USB.Ctrl, 0)) + "."
		if dev.USB.Port > 0 {
			out.ID += strconv.Itoa(dev.USB.Port)
		}
	default:
		return bad("unknown kind")
	}
	return out, nil
}

// admitDevice checks dev against the devices a domain has, and fills in what libxl would choose: the lowest
// free devid for a nic with devid -1, the first controller and the lowest free port for a USB device without
// them.
func admitDevice(have []device, dev device) (device, error) {
	used := map[string]bool{}
	for _, o := range have {
		if o.Kind == dev.Kind {
			used[o.ID] = true
		}
	}
	var set map[string]int
	switch {
	case dev.Kind == libxl.KindNic && dev.ID == "":
		n := 0
		for used[strconv.Itoa(n)] {
			n++
		}
		dev.ID = strconv.Itoa(n)
		set = map[string]int{"devid": n}
	case dev.Kind == libxl.KindUSB && strings.HasSuffix(dev.ID, "."):
		port := 1
		for used[dev.ID+strconv.Itoa(port)] {
			port++
		}
		ctrl, _ := strconv.Atoi(strings.TrimSuffix(dev.ID, "."))
		dev.ID += strconv.Itoa(port)
		set = map[string]int{"ctrl": ctrl, "port": port}
	}
	if set != nil {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(dev.Spec, &m); err != nil {
			return dev, fmt.Errorf("decode %s: %w", dev.Kind, err)
		}
		for k, v := range set {
			m[k] = json.RawMessage(strconv.Itoa(v))
		}
		spec, err := json.Marshal(m)
		if err != nil {
			return dev, fmt.Errorf("encode %s: %w", dev.Kind, err)
		}
		dev.Spec = spec
	}
	for _, o := range have {
		if o.Kind != dev.Kind {
			continue
		}
		if o.ID == dev.ID {
			return dev, fmt.Errorf("%s %s: %w", dev.Kind, dev.ID, libxl.ErrDevExists)
		}
		if dev.Mac != "" && o.Mac == dev.Mac {
			return dev, fmt.Errorf("nic with mac %s: %w", dev.Mac, libxl.ErrDevExists)
		}
	}
	return dev, nil
}

// matches reports whether o is the device dev names for a detach: nics by MAC when one is given.
func (dev device) matches(o device) bool {
	if o.Kind != dev.Kind {
		return false
	}
	if dev.Kind == libxl.KindNic && dev.Mac != "" {
		return o.Mac == dev.Mac
	}
	return o.ID == dev.ID
}

// AttachDevice hot-plugs a device into a running or paused domain: libxl.ErrDevExists for a disk whose vdev,
// a nic whose devid or MAC, a USB port, or a PCI device (in any domain) already in use; a nic with a negative
// devid gets the lowest free one.
func (h *Host) AttachDevice(ctx context.Context, domid libxl.DomID, dev libxl.Device) error {
	id, err := identify(dev)
	if err != nil {
		return fmt.Errorf("attach: domain %d: %w", domid, err)
	}
	if id.Spec, err = marshalDevice(dev); err != nil {
		return fmt.Errorf("attach: domain %d: %w", domid, err)
	}
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.guest(domid)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	if !d.live() {
		return fmt.Errorf("attach: domain %d is %s: %w", domid, d.state, libxl.ErrBadState)
	}
	if id.Kind == libxl.KindPCI {
		for _, o := range h.doms {
			for _, od := range o.devices {
				if o != d && id.matches(od) {
					return fmt.Errorf("attach: pci %s is assigned to domain %d: %w", id.ID, o.id, libxl.ErrDevExists)
				}
			}
		}
	}
	id, err = admitDevice(d.devices, id)
	if err != nil {
		return fmt.Errorf("attach: domain %d: %w", domid, err)
	}
	d.devices = append(d.devices, id)
	return h.persist(d)
}

// DetachDevice hot-unplugs a device: disks by vdev, nics by MAC (or devid when the MAC is empty), PCI by BDF,
// USB by ctrl and port; libxl.ErrNoDevice when the domain has none such.
func (h *Host) DetachDevice(ctx context.Context, domid libxl.DomID, dev libxl.Device) error {
	id, err := identify(dev)
	if err == nil && (id.Kind == libxl.KindUSB && strings.HasSuffix(id.ID, ".") || id.Kind == libxl.KindNic && id.ID == "" && id.Mac == "") {
		err = fmt.Errorf("%s device: detach needs the device's address: %w", id.Kind, libxl.ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("detach: domain %d: %w", domid, err)
	}
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	defer h.mu.Unlock()
	d, err := h.guest(domid)
	if err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	if !d.live() {
		return fmt.Errorf("detach: domain %d is %s: %w", domid, d.state, libxl.ErrBadState)
	}
	for i, o := range d.devices {
		if id.matches(o) {
			d.devices = append(d.devices[:i:i], d.devices[i+1:]...)
			return h.persist(d)
		}
	}
	what := id.ID
	if id.Kind == libxl.KindNic && id.Mac != "" {
		what = id.Mac
	}
	return fmt.Errorf("detach: domain %d has no %s %s: %w", domid, id.Kind, what, libxl.ErrNoDevice)
}

func marshalDevice(dev libxl.Device) (json.RawMessage, error) {
	var v any
	switch dev.Kind {
	case libxl.KindDisk:
		v = dev.Disk
	case libxl.KindNic:
		v = dev.Nic
	case libxl.KindPCI:
		v = dev.PCI
	case libxl.KindUSB:
		v = dev.USB
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s device: %w", dev.Kind, err)
	}
	return b, nil
}

// configJSON is domain domid's libxl JSON with its current devices; called with h.mu held.
func (h *Host) configJSON(domid libxl.DomID) (json.RawMessage, error) {
	d, err := h.get(domid)
	if err != nil {
		return nil, fmt.Errorf("domain config: %w", err)
	}
	return d.configJSON()
}

func (d *domain) configJSON() (json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(d.config, &top); err != nil {
		return nil, fmt.Errorf("domain %d: decode config: %w", d.id, err)
	}
	for _, ck := range configKeys {
		var specs []json.RawMessage
		for _, dev := range d.devices {
			if dev.Kind == ck.kind {
				specs = append(specs, dev.Spec)
			}
		}
		if len(specs) == 0 {
			delete(top, ck.key)
			continue
		}
		b, err := json.Marshal(specs)
		if err != nil {
			return nil, fmt.Errorf("domain %d: encode %s: %w", d.id, ck.key, err)
		}
		top[ck.key] = b
	}
	b, err := json.Marshal(top)
	if err != nil {
		return nil, fmt.Errorf("domain %d: encode config: %w", d.id, err)
	}
	return b, nil
}

func decodeConfig(raw json.RawMessage) (*libxl.DomainConfig, error) {
	cfg := new(libxl.DomainConfig)
	if err := json.Unmarshal(raw, cfg); err != nil {
		return nil, fmt.Errorf("decode domain config: %w", err)
	}
	return cfg, nil
}
