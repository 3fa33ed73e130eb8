package remote

import (
	"context"
	"encoding/xml"
	"regexp"
	"slices"
	"strings"

	"github.com/digitalocean/go-libvirt"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// deviceOp is a device change: attach, detach or update.
type deviceOp string

// Device changes, named as libvirt's messages name them.
const (
	opAttach deviceOp = "attach"
	opDetach deviceOp = "detach"
	opUpdate deviceOp = "update"
)

// registerDevices: attach-device, detach-device, update-device (and attach-disk, attach-interface...).
//
// A --config change edits the devices of the spec (and NAME.xml of a define); a running domain keeps its
// devices until its next start, as in libvirt. The reconciler does not hot-plug yet, so a --live change of a
// running domain (the default for a running domain) is refused with VIR_ERR_OPERATION_UNSUPPORTED rather than
// half done.
func registerDevices(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcDomainAttachDevice, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainAttachDeviceArgs) (*struct{}, error) {
		return nil, f.changeDevice(ctx, a.Dom, a.XML, affectLive, opAttach)
	})
	rpc.Register(p, rpc.ProcDomainAttachDeviceFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainAttachDeviceFlagsArgs) (*struct{}, error) {
		return nil, f.changeDevice(ctx, a.Dom, a.XML, a.Flags, opAttach)
	})
	rpc.Register(p, rpc.ProcDomainDetachDevice, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainDetachDeviceArgs) (*struct{}, error) {
		return nil, f.changeDevice(ctx, a.Dom, a.XML, affectLive, opDetach)
	})
	rpc.Register(p, rpc.ProcDomainDetachDeviceFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainDetachDeviceFlagsArgs) (*struct{}, error) {
		return nil, f.changeDevice(ctx, a.Dom, a.XML, a.Flags, opDetach)
	})
	rpc.Register(p, rpc.ProcDomainUpdateDeviceFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainUpdateDeviceFlagsArgs) (*struct{}, error) {
		return nil, f.changeDevice(ctx, a.Dom, a.XML, uint32(a.Flags), opUpdate)
	})
}

// changeDevice is libxlDomainAttachDeviceFlags, libxlDomainDetachDeviceFlags and libxlDomainUpdateDeviceFlags.
func (f *Facade) changeDevice(ctx context.Context, w libvirt.Domain, xml string, flags uint32, op deviceOp) error {
	fn := map[deviceOp]string{opAttach: "libxlDomainAttachDeviceFlags", opDetach: "libxlDomainDetachDeviceFlags",
		opUpdate: "libxlDomainUpdateDeviceFlags"}[op]
	if bad := flags &^ (affectLive | affectConfig); bad != 0 {
		return rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, fn)
	}
	d, obj, im, unlock, err := f.lockedEdit(ctx, w, flags)
	if err != nil {
		return err
	}
	defer unlock()
	if op == opUpdate {
		if err := updatableDevice(xml, im); err != nil {
			return err
		}
	}
	dev, err := parseDevice(xml, &obj.Spec.Domain)
	if err != nil {
		return err
	}
	if im.live {
		if err := liveDeviceSupported(dev, op); err != nil {
			return err
		}
	}
	defaults := domxml.Defaults{HostArch: f.Facts.Arch}
	if op == opAttach && len(dev.Interfaces) == 1 && dev.Interfaces[0].MAC == "" {
		// One generated MAC address for the spec and NAME.xml alike.
		mac, err := generatedMAC(dev, defaults)
		if err != nil {
			return err
		}
		dev.Interfaces[0].MAC = mac
	}
	edit := func(s *v1alpha1.DomainSpec) error {
		switch op {
		case opAttach:
			return attachDevice(s, dev, defaults)
		case opDetach:
			return detachDevice(s, dev)
		}
		return updateDevice(s, dev, defaults)
	}
	return f.changeSpec(ctx, obj, d, im, edit)
}

// liveDeviceSupported is libvirt's hot-plug matrix for the libxl driver, as far as virtxend implements it: disks
// on the xen bus and network interfaces are attached and detached live (the reconciler does it); the rest only
// through the persistent definition.
func liveDeviceSupported(dev *v1alpha1.Devices, op deviceOp) error {
	switch {
	case op == opUpdate && len(dev.Disks) == 1 && dev.Disks[0].Device != "cdrom":
		return rpc.Errorf(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "disk bus '%s' cannot be updated.", diskBus(dev.Disks[0]))
	case op == opUpdate:
		return rpc.Errorf(rpc.CodeOperationUnsupported, rpc.DomainLibxl,
			"live device update is not supported by virtxend: use --config")
	case len(dev.Disks) == 1:
		// The bus is judged as libvirt's driver sees it, after the parser's default: hdX is on the ide bus.
		disk := dev.Disks[0]
		kind := disk.Device
		switch bus := diskBus(disk); {
		case op == opDetach && kind != "" && kind != "disk":
			return rpc.Errorf(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "device type '%s' cannot hot unplugged", kind)
		case kind != "" && kind != "disk" && kind != "cdrom":
			return rpc.Errorf(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "disk device type '%s' cannot be hotplugged", kind)
		case kind == "cdrom" || bus != "xen":
			verb := map[deviceOp]string{opAttach: "hotplugged", opDetach: "hot unplugged"}[op]
			return rpc.Errorf(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "disk bus '%s' cannot be %s.", bus, verb)
		}
		return nil
	case len(dev.Interfaces) == 1:
		return nil
	}
	return rpc.Errorf(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "device type '%s' cannot be %sed live", deviceKind(dev), op)
}

// diskBus is the bus of disk as libvirt's parser completes it: the one given, else the one its target's name
// implies (hda: ide, sda: scsi, xvda: xen...).
func diskBus(disk v1alpha1.Disk) string {
	if disk.Target.Bus != "" {
		return disk.Target.Bus
	}
	spec := &v1alpha1.DomainSpec{Name: "device", Memory: kibQuantity(1024), OS: v1alpha1.OS{Type: "xen"},
		Devices: v1alpha1.Devices{Disks: []v1alpha1.Disk{*disk.DeepCopy()}}}
	if err := domxml.ApplyDefaults(spec, domxml.Defaults{}); err != nil || len(spec.Devices.Disks) != 1 {
		return ""
	}
	return spec.Devices.Disks[0].Target.Bus
}

// deviceTypes are libvirt's names (virDomainDeviceType) of the device elements.
var deviceTypes = map[string]string{
	"disk": "disk", "lease": "lease", "filesystem": "fs", "interface": "net", "input": "input", "sound": "sound",
	"video": "video", "hostdev": "hostdev", "watchdog": "watchdog", "controller": "controller",
	"graphics": "graphics", "hub": "hub", "redirdev": "redirdev", "smartcard": "smartcard", "serial": "chr",
	"parallel": "chr", "console": "chr", "channel": "chr", "memballoon": "memballoon", "nvram": "nvram",
	"rng": "rng", "shmem": "shmem", "tpm": "tpm", "panic": "panic", "memory": "memory", "iommu": "iommu",
	"vsock": "vsock", "audio": "audio", "crypto": "crypto",
}

// updatableDevice is the libxl driver's refusal to update anything but a disk (libxlDomainUpdateDeviceConfig,
// then libxlDomainUpdateDeviceLive), judged on the device element alone: libvirt's parser keeps what virtxend's
// model has no place for (an interface's <link state>, which virsh domif-setlink sends), so the refusal comes
// before the content is read.
func updatableDevice(devXML string, im impact) error {
	dec := xml.NewDecoder(strings.NewReader(xmlDecl.ReplaceAllString(devXML, "")))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // not well-formed: the parser says why
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		typ, known := deviceTypes[start.Name.Local]
		switch {
		case !known || typ == "disk":
			return nil
		case im.config:
			return rpc.NewError(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "persistent update of device is not supported")
		}
		return rpc.Errorf(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "device type '%s' cannot be updated", typ)
	}
}

// xmlDecl matches an XML declaration before the device element.
var xmlDecl = regexp.MustCompile(`^\s*<\?xml[^>]*\?>`)

// parseDevice reads one device element with domxml's parser, as the only device of a minimal domain of the
// same OS type as spec, so that the device is checked exactly as in a full definition. No defaults are applied.
func parseDevice(xml string, spec *v1alpha1.DomainSpec) (*v1alpha1.Devices, error) {
	body := strings.TrimSpace(xmlDecl.ReplaceAllString(xml, ""))
	osType := spec.OS.Type
	if osType == "" || osType == "linux" {
		osType = "xen"
	}
	doc := "<domain type='xen'><name>device</name><memory unit='KiB'>1024</memory><os><type>" + osType +
		"</type></os><devices>" + body + "</devices></domain>"
	parsed, err := domxml.Parse([]byte(doc))
	if err != nil {
		return nil, xmlErr(err)
	}
	devs := &parsed.Devices
	n := len(devs.Disks) + len(devs.Controllers) + len(devs.Interfaces) + len(devs.Inputs) + len(devs.Graphics) +
		len(devs.Videos) + len(devs.Sounds) + len(devs.Serials) + len(devs.Parallels) + len(devs.Consoles) +
		len(devs.Channels) + len(devs.Hostdevs)
	if devs.MemBalloon != nil {
		n++
	}
	if n != 1 {
		return nil, rpc.NewError(rpc.CodeXMLError, rpc.DomainDomain, "the device XML must hold exactly one device element")
	}
	return devs, nil
}

// generatedMAC is the MAC address libvirt's parser gives an interface without one.
func generatedMAC(dev *v1alpha1.Devices, defaults domxml.Defaults) (string, error) {
	spec := &v1alpha1.DomainSpec{Name: "device", Memory: kibQuantity(1024), OS: v1alpha1.OS{Type: "xen"},
		Devices: v1alpha1.Devices{Interfaces: []v1alpha1.Interface{*dev.Interfaces[0].DeepCopy()}}}
	if err := domxml.ApplyDefaults(spec, defaults); err != nil {
		return "", xmlErr(err)
	}
	return spec.Devices.Interfaces[0].MAC, nil
}

// deviceKind names the one device of devs as libvirt's virDomainDeviceType does.
func deviceKind(devs *v1alpha1.Devices) string {
	switch {
	case len(devs.Disks) > 0:
		return "disk"
	case len(devs.Controllers) > 0:
		return "controller"
	case len(devs.Interfaces) > 0:
		return "interface"
	case len(devs.Hostdevs) > 0:
		return "hostdev"
	case len(devs.Inputs) > 0:
		return "input"
	case len(devs.Graphics) > 0:
		return "graphics"
	case len(devs.Videos) > 0:
		return "video"
	case len(devs.Sounds) > 0:
		return "sound"
	case devs.MemBalloon != nil:
		return "memballoon"
	}
	return "chr"
}

// attachDevice is libxlDomainAttachDeviceConfig: the device joins the definition, completed with the defaults
// libvirt's parser gives it (bus, driver, a generated MAC address...).
func attachDevice(s *v1alpha1.DomainSpec, dev *v1alpha1.Devices, defaults domxml.Defaults) error {
	next := s.DeepCopy()
	nd := &next.Devices
	switch deviceKind(dev) {
	case "disk":
		disk := dev.Disks[0]
		if slices.ContainsFunc(nd.Disks, func(x v1alpha1.Disk) bool { return x.Target.Dev == disk.Target.Dev }) {
			return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "target %s already exists.", disk.Target.Dev)
		}
		nd.Disks = append(nd.Disks, disk)
	case "controller":
		c := dev.Controllers[0]
		if c.Index != nil && slices.ContainsFunc(nd.Controllers, func(x v1alpha1.Controller) bool {
			return x.Type == c.Type && x.Index != nil && *x.Index == *c.Index
		}) {
			return rpc.NewError(rpc.CodeOperationFailed, rpc.DomainLibxl, "Target already exists")
		}
		nd.Controllers = append(nd.Controllers, c)
	case "interface":
		nic := dev.Interfaces[0]
		if nic.MAC != "" && slices.ContainsFunc(nd.Interfaces, func(x v1alpha1.Interface) bool { return strings.EqualFold(x.MAC, nic.MAC) }) {
			return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "network device with mac %s already exists.", strings.ToLower(nic.MAC))
		}
		nd.Interfaces = append(nd.Interfaces, nic)
	case "hostdev":
		h := dev.Hostdevs[0]
		if h.Type != "pci" {
			return rpc.Errorf(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "persistent attach of %s host devices is not supported", h.Type)
		}
		if slices.ContainsFunc(nd.Hostdevs, func(x v1alpha1.Hostdev) bool { return sameHostdev(&x, &h) }) {
			return rpc.NewError(rpc.CodeOperationFailed, rpc.DomainLibxl, "device is already in the domain configuration")
		}
		nd.Hostdevs = append(nd.Hostdevs, h)
	default:
		return rpc.NewError(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "persistent attach of device is not supported")
	}
	if err := domxml.ApplyDefaults(next, defaults); err != nil {
		return xmlErr(err)
	}
	if deviceKind(dev) == "disk" {
		last := len(nd.Disks) - 1
		nd.Disks = insertDisk(nd.Disks[:last:last], nd.Disks[last])
	}
	*s = *next
	return nil
}

// insertDisk places disk among disks as virDomainDiskInsert does: before the first disk of its bus with a
// higher target index, else after the last disk of its bus, else at the end.
func insertDisk(disks []v1alpha1.Disk, disk v1alpha1.Disk) []v1alpha1.Disk {
	at := -1
	for i := len(disks) - 1; i >= 0; i-- {
		if disks[i].Target.Bus != disk.Target.Bus {
			continue
		}
		if diskNameIndex(disks[i].Target.Dev) > diskNameIndex(disk.Target.Dev) {
			at = i
		} else if at == -1 {
			at = i + 1
		}
	}
	if at < 0 {
		at = len(disks)
	}
	return slices.Insert(disks, at, disk)
}

// diskNameIndex is virDiskNameToIndex: "xvdb" → 1; -1 for a name it cannot read.
func diskNameIndex(name string) int {
	for _, prefix := range []string{"fd", "hd", "vd", "sd", "xvd", "ubd"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			if disk, _, ok := libxl.DiskIndex(rest); ok {
				return disk
			}
		}
	}
	return -1
}

// detachDevice is libxlDomainDetachDeviceConfig.
func detachDevice(s *v1alpha1.DomainSpec, dev *v1alpha1.Devices) error {
	nd := &s.Devices
	notPresent := rpc.NewError(rpc.CodeInvalidArg, rpc.DomainLibxl, "device not present in domain configuration")
	switch deviceKind(dev) {
	case "disk":
		target := dev.Disks[0].Target.Dev
		i := slices.IndexFunc(nd.Disks, func(x v1alpha1.Disk) bool { return x.Target.Dev == target })
		if i < 0 {
			return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "no target device %s", target)
		}
		nd.Disks = slices.Delete(nd.Disks, i, i+1)
	case "controller":
		c := dev.Controllers[0]
		i := slices.IndexFunc(nd.Controllers, func(x v1alpha1.Controller) bool {
			return x.Type == c.Type && c.Index != nil && x.Index != nil && *x.Index == *c.Index
		})
		if i < 0 {
			return notPresent
		}
		nd.Controllers = slices.Delete(nd.Controllers, i, i+1)
	case "interface":
		i, err := findNIC(nd.Interfaces, &dev.Interfaces[0])
		if err != nil {
			return err
		}
		nd.Interfaces = slices.Delete(nd.Interfaces, i, i+1)
	case "hostdev":
		h := dev.Hostdevs[0]
		i := slices.IndexFunc(nd.Hostdevs, func(x v1alpha1.Hostdev) bool { return sameHostdev(&x, &h) })
		if i < 0 {
			return notPresent
		}
		nd.Hostdevs = slices.Delete(nd.Hostdevs, i, i+1)
	default:
		return rpc.NewError(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "persistent detach of device is not supported")
	}
	return nil
}

// findNIC is virDomainNetFindIdx: the one interface matching the MAC address and PCI address nic gives.
func findNIC(nics []v1alpha1.Interface, nic *v1alpha1.Interface) (int, error) {
	found := -1
	for i := range nics {
		if nic.MAC != "" && !strings.EqualFold(nics[i].MAC, nic.MAC) {
			continue
		}
		if nic.Source != nil && nic.Source.Address != nil {
			continue // a hostdev interface is matched by MAC address only here
		}
		if found >= 0 {
			if nic.MAC != "" {
				return -1, rpc.Errorf(rpc.CodeOperationFailed, rpc.DomainDomain, "multiple devices matching MAC address %s found", nic.MAC)
			}
			return -1, rpc.NewError(rpc.CodeOperationFailed, rpc.DomainDomain, "multiple matching devices found")
		}
		found = i
	}
	if found < 0 {
		if nic.MAC != "" {
			return -1, rpc.Errorf(rpc.CodeDeviceMissing, rpc.DomainDomain, "no device matching MAC address %s found", nic.MAC)
		}
		return -1, rpc.NewError(rpc.CodeDeviceMissing, rpc.DomainDomain, "no matching device found")
	}
	return found, nil
}

// sameHostdev reports whether two host devices name the same host device (virDomainHostdevFind).
func sameHostdev(a, b *v1alpha1.Hostdev) bool {
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case "pci":
		return equality.Semantic.DeepEqual(pciAddr(a.PCI), pciAddr(b.PCI))
	case "usb":
		return equality.Semantic.DeepEqual(a.USB, b.USB)
	}
	return false
}

// pciAddr is a PCI address's numbers, absent ones as 0.
func pciAddr(a *v1alpha1.Address) [4]uint32 {
	if a == nil {
		return [4]uint32{}
	}
	v := func(p *uint32) uint32 {
		if p == nil {
			return 0
		}
		return *p
	}
	return [4]uint32{v(a.Domain), v(a.Bus), v(a.Slot), v(a.Function)}
}

// updateDevice is libxlDomainUpdateDeviceConfig: only a cdrom's medium (source, type, format, driver) changes.
func updateDevice(s *v1alpha1.DomainSpec, dev *v1alpha1.Devices, defaults domxml.Defaults) error {
	if deviceKind(dev) != "disk" {
		return rpc.NewError(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "persistent update of device is not supported")
	}
	disk := dev.Disks[0]
	next := s.DeepCopy()
	i := slices.IndexFunc(next.Devices.Disks, func(x v1alpha1.Disk) bool { return x.Target.Dev == disk.Target.Dev })
	if i < 0 {
		return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "target %s doesn't exist.", disk.Target.Dev)
	}
	orig := &next.Devices.Disks[i]
	if orig.Device != "cdrom" {
		return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainLibxl, "this disk doesn't support update")
	}
	orig.Source, orig.Type = disk.Source, disk.Type
	if disk.Driver == nil {
		orig.Driver = nil
	} else {
		orig.Driver = &v1alpha1.DiskDriver{Name: disk.Driver.Name, Type: disk.Driver.Type}
		if old := s.Devices.Disks[i].Driver; old != nil {
			orig.Driver.Cache, orig.Driver.Discard = old.Cache, old.Discard
		}
	}
	if err := domxml.ApplyDefaults(next, defaults); err != nil {
		return xmlErr(err)
	}
	*s = *next
	return nil
}
