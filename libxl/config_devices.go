package libxl

// DeviceDisk mirrors libxl_device_disk.
type DeviceDisk struct {
	BackendDomid   uint32            `json:"backend_domid"`
	BackendDomname string            `json:"backend_domname"`
	PdevPath       string            `json:"pdev_path"`
	Vdev           string            `json:"vdev"`
	Backend        DiskBackend       `json:"backend"`
	Format         DiskFormat        `json:"format"`
	Script         string            `json:"script"`
	Removable      int               `json:"removable"`
	Readwrite      int               `json:"readwrite"`
	IsCdrom        int               `json:"is_cdrom"`
	DirectIOSafe   bool              `json:"direct_io_safe"`
	DiscardEnable  Defbool           `json:"discard_enable"`
	Specification  DiskSpecification `json:"specification"`
	Transport      DiskTransport     `json:"transport"`
	IRQ            uint32            `json:"irq"`
	Base           uint64            `json:"base"`
	ActiveDisk     string            `json:"active_disk"`
	HiddenDisk     string            `json:"hidden_disk"`
	Trusted        Defbool           `json:"trusted"`
}

// DeviceNic mirrors libxl_device_nic.
type DeviceNic struct {
	BackendDomid   uint32 `json:"backend_domid"`
	BackendDomname string `json:"backend_domname"`
	// Devid is the device id; DevidDefault lets libxl choose.
	Devid int    `json:"devid" libxl:"devid"`
	MTU   int    `json:"mtu"`
	Model string `json:"model"`
	// Mac is "xx:xx:xx:xx:xx:xx"; empty lets libxl generate one.
	Mac                  string  `json:"mac"`
	IP                   string  `json:"ip"`
	Bridge               string  `json:"bridge"`
	Ifname               string  `json:"ifname"`
	Script               string  `json:"script"`
	Nictype              NicType `json:"nictype"`
	RateBytesPerInterval uint64  `json:"rate_bytes_per_interval"`
	RateIntervalUsecs    uint32  `json:"rate_interval_usecs"`
	GatewayDev           string  `json:"gatewaydev"`
	Trusted              Defbool `json:"trusted"`
}

// NewDeviceNic returns a NIC at libxl's defaults (libxl_device_nic_init).
func NewDeviceNic() DeviceNic { return DeviceNic{Devid: DevidDefault} }

// DevicePci mirrors libxl_device_pci: a host PCI function given to the guest.
type DevicePci struct {
	Func         int    `json:"func"`
	Dev          int    `json:"dev"`
	Bus          int    `json:"bus"`
	Domain       int    `json:"domain"`
	VDevFn       uint32 `json:"vdevfn"`
	VFuncMask    uint32 `json:"vfunc_mask"`
	MSITranslate bool   `json:"msitranslate"`
	PowerMgmt    bool   `json:"power_mgmt"`
	// Permissive gives the guest write access to the whole config space.
	Permissive bool             `json:"permissive"`
	Seize      bool             `json:"seize"`
	RDMPolicy  RDMReservePolicy `json:"rdm_policy"`
	Name       string           `json:"name"`
}

// DeviceRdm mirrors libxl_device_rdm.
type DeviceRdm struct {
	Start  uint64           `json:"start"`
	Size   uint64           `json:"size"`
	Policy RDMReservePolicy `json:"policy"`
}

// DeviceDtdev mirrors libxl_device_dtdev.
type DeviceDtdev struct {
	Path string `json:"path"`
}

// DeviceVfb mirrors libxl_device_vfb: a virtual frame buffer.
type DeviceVfb struct {
	BackendDomid   uint32  `json:"backend_domid"`
	BackendDomname string  `json:"backend_domname"`
	Devid          int     `json:"devid" libxl:"devid"`
	VNC            VncInfo `json:"vnc"`
	SDL            SdlInfo `json:"sdl"`
	Keymap         string  `json:"keymap"`
}

// NewDeviceVfb returns a frame buffer at libxl's defaults (libxl_device_vfb_init).
func NewDeviceVfb() DeviceVfb { return DeviceVfb{Devid: DevidDefault} }

// DeviceVkb mirrors libxl_device_vkb: a virtual keyboard and pointer.
type DeviceVkb struct {
	BackendDomid           uint32     `json:"backend_domid"`
	BackendDomname         string     `json:"backend_domname"`
	Devid                  int        `json:"devid" libxl:"devid"`
	BackendType            VkbBackend `json:"backend_type"`
	UniqueID               string     `json:"unique_id"`
	FeatureDisableKeyboard bool       `json:"feature_disable_keyboard"`
	FeatureDisablePointer  bool       `json:"feature_disable_pointer"`
	FeatureAbsPointer      bool       `json:"feature_abs_pointer"`
	FeatureRawPointer      bool       `json:"feature_raw_pointer"`
	FeatureMultiTouch      bool       `json:"feature_multi_touch"`
	Width                  uint32     `json:"width"`
	Height                 uint32     `json:"height"`
	MultiTouchWidth        uint32     `json:"multi_touch_width"`
	MultiTouchHeight       uint32     `json:"multi_touch_height"`
	MultiTouchNumContacts  uint32     `json:"multi_touch_num_contacts"`
}

// NewDeviceVkb returns a keyboard at libxl's defaults (libxl_device_vkb_init).
func NewDeviceVkb() DeviceVkb { return DeviceVkb{Devid: DevidDefault} }

// DeviceVtpm mirrors libxl_device_vtpm.
type DeviceVtpm struct {
	BackendDomid   uint32 `json:"backend_domid"`
	BackendDomname string `json:"backend_domname"`
	Devid          int    `json:"devid" libxl:"devid"`
	UUID           string `json:"uuid"`
}

// DeviceP9 mirrors libxl_device_p9.
type DeviceP9 struct {
	BackendDomid   uint32 `json:"backend_domid"`
	BackendDomname string `json:"backend_domname"`
	Tag            string `json:"tag"`
	Path           string `json:"path"`
	SecurityModel  string `json:"security_model"`
	Devid          int    `json:"devid" libxl:"devid"`
}

// DevicePvcallsif mirrors libxl_device_pvcallsif.
type DevicePvcallsif struct {
	BackendDomid   uint32 `json:"backend_domid"`
	BackendDomname string `json:"backend_domname"`
	Devid          int    `json:"devid" libxl:"devid"`
}

// DeviceChannel mirrors libxl_device_channel: a named PV console. Connection is the key of the union; Socket holds
// the socket member.
type DeviceChannel struct {
	BackendDomid   uint32            `json:"backend_domid"`
	BackendDomname string            `json:"backend_domname"`
	Devid          int               `json:"devid" libxl:"devid"`
	Name           string            `json:"name"`
	Connection     ChannelConnection `json:"connection" libxl:"key"`
	Socket         *ChannelSocket    `json:"socket" libxl:"arm"`
}

// ChannelSocket is the socket member of libxl_device_channel: a listening Unix socket.
type ChannelSocket struct {
	Path string `json:"path"`
}

// NewDeviceChannel returns a channel at libxl's defaults (libxl_device_channel_init).
func NewDeviceChannel() DeviceChannel { return DeviceChannel{Devid: DevidDefault} }

// DeviceUsbctrl mirrors libxl_device_usbctrl.
type DeviceUsbctrl struct {
	Type           UsbctrlType `json:"type"`
	Devid          int         `json:"devid" libxl:"devid"`
	Version        int         `json:"version"`
	Ports          int         `json:"ports"`
	BackendDomid   uint32      `json:"backend_domid"`
	BackendDomname string      `json:"backend_domname"`
}

// NewDeviceUsbctrl returns a USB controller at libxl's defaults (libxl_device_usbctrl_init).
func NewDeviceUsbctrl() DeviceUsbctrl { return DeviceUsbctrl{Devid: DevidDefault} }

// DeviceUsbdev mirrors libxl_device_usbdev. Ctrl is the controller's devid (DevidDefault lets libxl choose); Type is
// the key of the union and Hostdev its only member.
type DeviceUsbdev struct {
	Ctrl    int            `json:"ctrl" libxl:"devid"`
	Port    int            `json:"port"`
	Type    UsbdevType     `json:"type" libxl:"key"`
	Hostdev *UsbdevHostdev `json:"hostdev" libxl:"arm"`
}

// UsbdevHostdev is the hostdev member of libxl_device_usbdev: the host bus and address of the device.
type UsbdevHostdev struct {
	HostBus  uint8 `json:"hostbus"`
	HostAddr uint8 `json:"hostaddr"`
}

// NewDeviceUsbdev returns a USB device at libxl's defaults (libxl_device_usbdev_init).
func NewDeviceUsbdev() DeviceUsbdev { return DeviceUsbdev{Ctrl: DevidDefault} }

// MarshalJSON prints d as libxl does.
func (d DeviceDisk) MarshalJSON() ([]byte, error) { return marshalIDL(d) }

// UnmarshalJSON reads what libxl prints.
func (d *DeviceDisk) UnmarshalJSON(b []byte) error { return unmarshalIDL(b, d) }

// MarshalJSON prints d as libxl does.
func (d DeviceNic) MarshalJSON() ([]byte, error) { return marshalIDL(d) }

// UnmarshalJSON reads what libxl prints; an absent devid is DevidDefault.
func (d *DeviceNic) UnmarshalJSON(b []byte) error { return unmarshalIDL(b, d) }

// MarshalJSON prints d as libxl does.
func (d DevicePci) MarshalJSON() ([]byte, error) { return marshalIDL(d) }

// UnmarshalJSON reads what libxl prints.
func (d *DevicePci) UnmarshalJSON(b []byte) error { return unmarshalIDL(b, d) }

// MarshalJSON prints d as libxl does.
func (d DeviceVfb) MarshalJSON() ([]byte, error) { return marshalIDL(d) }

// UnmarshalJSON reads what libxl prints; an absent devid is DevidDefault.
func (d *DeviceVfb) UnmarshalJSON(b []byte) error { return unmarshalIDL(b, d) }

// MarshalJSON prints d as libxl does.
func (d DeviceVkb) MarshalJSON() ([]byte, error) { return marshalIDL(d) }

// UnmarshalJSON reads what libxl prints; an absent devid is DevidDefault.
func (d *DeviceVkb) UnmarshalJSON(b []byte) error { return unmarshalIDL(b, d) }

// MarshalJSON prints d as libxl does, the keyed union included.
func (d DeviceChannel) MarshalJSON() ([]byte, error) { return marshalIDL(d) }

// UnmarshalJSON reads what libxl prints.
func (d *DeviceChannel) UnmarshalJSON(b []byte) error { return unmarshalIDL(b, d) }

// MarshalJSON prints d as libxl does.
func (d DeviceUsbctrl) MarshalJSON() ([]byte, error) { return marshalIDL(d) }

// UnmarshalJSON reads what libxl prints; an absent devid is DevidDefault.
func (d *DeviceUsbctrl) UnmarshalJSON(b []byte) error { return unmarshalIDL(b, d) }

// MarshalJSON prints d as libxl does, the keyed union included.
func (d DeviceUsbdev) MarshalJSON() ([]byte, error) { return marshalIDL(d) }

// UnmarshalJSON reads what libxl prints; an absent ctrl is DevidDefault.
func (d *DeviceUsbdev) UnmarshalJSON(b []byte) error { return unmarshalIDL(b, d) }
