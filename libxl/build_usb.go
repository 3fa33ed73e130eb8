package libxl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// usbPortsPerController is the port count of the controllers libvirt adds for USB hostdevs and of a controller
// without a ports attribute.
const usbPortsPerController = 8

// makeUSBControllerList is libxlMakeUSBControllerList: the <controller type='usb'> elements, or when there are none
// but the guest has USB hostdevs, enough qusb2 controllers of 8 ports (added to the definition as well).
func (b *builder) makeUSBControllerList() error {
	d := &b.spec.Devices
	n := 0
	for _, c := range d.Controllers {
		if c.Type == "usb" {
			n++
		}
	}
	if n == 0 {
		usb := 0
		for _, h := range d.Hostdevs {
			if h.Type == "usb" && (h.Mode == "" || h.Mode == "subsystem") {
				usb++
			}
		}
		for i := 0; i < (usb+usbPortsPerController-1)/usbPortsPerController; i++ {
			idx, ports := uint32(i), uint32(usbPortsPerController)
			c := v1alpha1.Controller{Type: "usb", Index: &idx, Model: "qusb2", Ports: &ports}
			x, err := makeUSBController(&c, i)
			if err != nil {
				return err
			}
			d.Controllers = append(d.Controllers, c)
			b.cfg.USBCtrls = append(b.cfg.USBCtrls, x)
		}
		return nil
	}
	idx := 0
	for i := range d.Controllers {
		c := &d.Controllers[i]
		if c.Type != "usb" {
			continue
		}
		x, err := makeUSBController(c, idx)
		if err != nil {
			return err
		}
		b.cfg.USBCtrls = append(b.cfg.USBCtrls, x)
		idx++
	}
	return nil
}

// makeUSBController is libxlMakeUSBController; pos is the controller's place among the USB controllers, its index
// when the definition gives none.
func makeUSBController(c *v1alpha1.Controller, pos int) (DeviceUsbctrl, error) {
	x := NewDeviceUsbctrl()
	x.Devid = pos
	if c.Index != nil {
		x.Devid = int(*c.Index)
	}
	x.Type = UsbctrlQusb
	switch c.Model {
	case "", "qusb2":
		x.Version = 2
	case "qusb1":
		x.Version = 1
	default:
		return x, unsupportedf("unsupported usb model")
	}
	x.Ports = usbPortsPerController
	if c.Ports != nil {
		x.Ports = int(*c.Ports)
	}
	return x, nil
}

// makeUSBList is libxlMakeUSBList: USB hostdevs by bus and device, or looked up by vendor and product.
func (b *builder) makeUSBList() error {
	for _, h := range b.spec.Devices.Hostdevs {
		if h.Type != "usb" || (h.Mode != "" && h.Mode != "subsystem") {
			continue
		}
		x := NewDeviceUsbdev()
		x.Type = UsbdevTypeHostdev
		u := h.USB
		if u == nil {
			u = &v1alpha1.USBSource{}
		}
		if u.Bus != nil && u.Device != nil && *u.Bus > 0 && *u.Device > 0 {
			x.Hostdev = &UsbdevHostdev{HostBus: uint8(*u.Bus), HostAddr: uint8(*u.Device)}
		} else {
			vendor, _ := strconv.ParseUint(strings.TrimPrefix(u.Vendor, "0x"), 16, 16)
			product, _ := strconv.ParseUint(strings.TrimPrefix(u.Product, "0x"), 16, 16)
			fail := &BuildError{Kind: ErrOperationFailed,
				Msg: fmt.Sprintf("failed to find USB device busnum:devnum for %x:%x", vendor, product)}
			if b.host.FindUSBDevice == nil {
				return fail
			}
			bus, addr, err := b.host.FindUSBDevice(uint16(vendor), uint16(product))
			if err != nil {
				return fail
			}
			x.Hostdev = &UsbdevHostdev{HostBus: bus, HostAddr: addr}
		}
		b.cfg.USBDevs = append(b.cfg.USBDevs, x)
	}
	return nil
}

// ErrOperationFailed marks what libvirt reports as VIR_ERR_OPERATION_FAILED.
var ErrOperationFailed = fmt.Errorf("operation failed")

// makeChannelList is libxlMakeChannelList: Xen channels over a pty or a Unix socket; a socket without a path gets
// one in the channel directory, on which the device model listens.
func (b *builder) makeChannelList() error {
	for i := range b.spec.Devices.Channels {
		ch := &b.spec.Devices.Channels[i]
		t := ch.Target
		if t == nil {
			t = &v1alpha1.ChardevTarget{}
		}
		if t.Type == "xen" && ch.Type == "unix" && chardevSource(ch, "").Path == "" {
			name := t.Name
			if name == "" {
				name = "unknown.sock"
			}
			path := fmt.Sprintf("%s/%s-%s", b.host.ChannelDir, b.spec.Name, name)
			ch.Sources = []v1alpha1.ChardevSource{{Mode: "bind", Path: path}}
		}
		x := NewDeviceChannel()
		if t.Type != "xen" {
			return unsupportedf("channel target type not supported")
		}
		switch ch.Type {
		case "pty":
			x.Connection = ChannelConnPty
		case "unix":
			x.Connection = ChannelConnSocket
			x.Socket = &ChannelSocket{Path: chardevSource(ch, "").Path}
		default:
			// libvirt reports this but goes on with the channel's connection unknown.
			b.warnf("channel source type not supported")
		}
		if t.Name == "" {
			return invalidOpf("channel target name missing")
		}
		x.Name = t.Name
		b.cfg.Channels = append(b.cfg.Channels, x)
	}
	return nil
}

// defaultVRAM is libvirt's default video RAM in KiB for a model and device model.
func defaultVRAM(model string, dm DeviceModelVersion) uint32 {
	trad := dm == DeviceModelQemuXenTraditional
	switch model {
	case "vga", "xen":
		if trad {
			return 8 * 1024
		}
		return 16 * 1024
	case "cirrus":
		if trad {
			return 4 * 1024
		}
		return 8 * 1024
	case "qxl":
		return 128 * 1024
	}
	return 0
}

// makeVideo is libxlMakeVideo: an HVM guest's first video device sets the VGA kind and video RAM; without one the
// guest has no graphics at all.
func (b *builder) makeVideo() error {
	if b.kind != DomainTypeHVM {
		return nil
	}
	bi := &b.cfg.BInfo
	if len(b.spec.Devices.Videos) == 0 {
		bi.HVM.NoGraphic = DefboolTrue
		bi.HVM.VGA.Kind = VGANone
		return nil
	}
	v := &b.spec.Devices.Videos[0]
	if v.Model == "" {
		v.Model = "cirrus"
	}
	if v.VRAM == nil {
		ram := defaultVRAM(v.Model, b.dmType)
		v.VRAM = &ram
	}
	vram := *v.VRAM
	qemuXen := b.dmType == DeviceModelQemuXen
	switch v.Model {
	case "vga", "xen":
		bi.HVM.VGA.Kind = VGAStd
		if qemuXen && vram < 16*1024 {
			return unsupportedf("videoram must be at least 16MB for VGA")
		}
		if !qemuXen && vram < 8*1024 {
			return unsupportedf("videoram must be at least 8MB for VGA")
		}
	case "cirrus":
		bi.HVM.VGA.Kind = VGACirrus
		if qemuXen && vram < 8*1024 {
			return unsupportedf("videoram must be at least 8MB for CIRRUS")
		}
		if !qemuXen && vram < 4*1024 {
			return unsupportedf("videoram must be at least 4MB for CIRRUS")
		}
	case "qxl":
		bi.HVM.VGA.Kind = VGAQXL
		if vram < 128*1024 {
			return unsupportedf("videoram must be at least 128MB for QXL")
		}
	default:
		return unsupportedf("video type %s is not supported by libxl", v.Model)
	}
	bi.VideoMemkb = uint64(vram)
	return nil
}
