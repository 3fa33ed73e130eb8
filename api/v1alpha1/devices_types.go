package v1alpha1

// Devices is <devices>.
type Devices struct {
	// Emulator is the device model binary (HVM).
	// +optional
	Emulator string `json:"emulator,omitempty"`
	// +optional
	Disks []Disk `json:"disks,omitempty"`
	// +optional
	Controllers []Controller `json:"controllers,omitempty"`
	// +optional
	Interfaces []Interface `json:"interfaces,omitempty"`
	// +optional
	Inputs []Input `json:"inputs,omitempty"`
	// +optional
	Graphics []Graphics `json:"graphics,omitempty"`
	// +optional
	Videos []Video `json:"videos,omitempty"`
	// +optional
	Sounds []Sound `json:"sounds,omitempty"`
	// +optional
	Serials []Chardev `json:"serials,omitempty"`
	// +optional
	Parallels []Chardev `json:"parallels,omitempty"`
	// +optional
	Consoles []Chardev `json:"consoles,omitempty"`
	// +optional
	Channels []Chardev `json:"channels,omitempty"`
	// +optional
	Hostdevs []Hostdev `json:"hostdevs,omitempty"`
	// +optional
	MemBalloon *MemBalloon `json:"memballoon,omitempty"`
	// Unused are devices libvirt accepts in a Xen domain's definition and its libxl driver does not use (rng, tpm,
	// watchdog, panic, shmem...): kept as given, shown by dumpxml, ignored at start.
	// +optional
	Unused []UnusedDevice `json:"unused,omitempty"`
}

// UnusedDevice is one device kept in the definition without meaning to Xen.
type UnusedDevice struct {
	// XML is the device element in libvirt's domain XML, e.g. <rng model='virtio'>...</rng>.
	XML string `json:"xml"`
}

// Disk is <disk>.
type Disk struct {
	// Type is file, block, network or volume (a storage pool's volume, resolved to its path at start).
	// +kubebuilder:validation:Enum=file;block;network;volume
	Type string `json:"type"`
	// Device is disk, cdrom or floppy.
	// +optional
	// +kubebuilder:validation:Enum=disk;cdrom;floppy
	Device string `json:"device,omitempty"`
	// +optional
	Driver *DiskDriver `json:"driver,omitempty"`
	// +optional
	Source *DiskSource `json:"source,omitempty"`
	Target DiskTarget  `json:"target"`
	// +optional
	ReadOnly bool `json:"readonly,omitempty"`
	// +optional
	Shareable bool `json:"shareable,omitempty"`
	// +optional
	Transient bool `json:"transient,omitempty"`
	// BackendDomain is the name of the driver domain serving the disk.
	// +optional
	BackendDomain string `json:"backendDomain,omitempty"`
	// +optional
	Address *Address `json:"address,omitempty"`
}

// DiskDriver is <disk><driver>.
type DiskDriver struct {
	// Name is the backend: qemu, tap, tap2, file, phy.
	// +optional
	Name string `json:"name,omitempty"`
	// Type is the image format: raw, qcow, qcow2, qed, vhd.
	// +optional
	Type string `json:"type,omitempty"`
	// +optional
	Cache string `json:"cache,omitempty"`
	// +optional
	Discard string `json:"discard,omitempty"`
}

// DiskSource is <disk><source>.
type DiskSource struct {
	// +optional
	File string `json:"file,omitempty"`
	// +optional
	Dev string `json:"dev,omitempty"`
	// Protocol of a network disk (rbd).
	// +optional
	Protocol string `json:"protocol,omitempty"`
	// Name of a network disk (pool/image).
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Hosts []DiskHost `json:"hosts,omitempty"`
	// +optional
	Auth *DiskAuth `json:"auth,omitempty"`
	// ConfigFile is a network disk's <config file>.
	// +optional
	ConfigFile string `json:"configFile,omitempty"`
	// Pool is the storage pool of a volume disk (<disk type='volume'>), resolved through the storage driver.
	// +optional
	Pool string `json:"pool,omitempty"`
	// Volume is the volume of a volume disk, in Pool.
	// +optional
	Volume string `json:"volume,omitempty"`
	// Mode is a volume disk's mode (host or direct: how an iSCSI volume is reached).
	// +optional
	Mode string `json:"mode,omitempty"`
}

// DiskHost is a network disk's server.
type DiskHost struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Port string `json:"port,omitempty"`
	// +optional
	Transport string `json:"transport,omitempty"`
	// +optional
	Socket string `json:"socket,omitempty"`
}

// DiskAuth is <auth>: the secret a network disk authenticates with.
type DiskAuth struct {
	Username string `json:"username"`
	// +optional
	SecretType string `json:"secretType,omitempty"`
	// +optional
	SecretUUID string `json:"secretUUID,omitempty"`
	// +optional
	SecretUsage string `json:"secretUsage,omitempty"`
}

// DiskTarget is <disk><target>.
type DiskTarget struct {
	// Dev is the guest device name: xvda, hda, sda...
	Dev string `json:"dev"`
	// Bus is xen, ide, scsi, usb.
	// +optional
	Bus string `json:"bus,omitempty"`
}

// Address is a device address: type pci (domain/bus/slot/function) or drive (controller/bus/target/unit).
type Address struct {
	Type string `json:"type"`
	// +optional
	Domain *uint32 `json:"domain,omitempty"`
	// +optional
	Bus *uint32 `json:"bus,omitempty"`
	// +optional
	Slot *uint32 `json:"slot,omitempty"`
	// +optional
	Function *uint32 `json:"function,omitempty"`
	// +optional
	Controller *uint32 `json:"controller,omitempty"`
	// +optional
	Target *uint32 `json:"target,omitempty"`
	// +optional
	Unit *uint32 `json:"unit,omitempty"`
}

// Controller is <controller>.
type Controller struct {
	// Type is xenbus, usb, ide, scsi...
	Type string `json:"type"`
	// +optional
	Index *uint32 `json:"index,omitempty"`
	// +optional
	Model string `json:"model,omitempty"`
	// Ports of a USB controller.
	// +optional
	Ports *uint32 `json:"ports,omitempty"`
	// MaxGrantFrames of a xenbus controller.
	// +optional
	MaxGrantFrames *uint32 `json:"maxGrantFrames,omitempty"`
	// MaxEventChannels of a xenbus controller.
	// +optional
	MaxEventChannels *uint32 `json:"maxEventChannels,omitempty"`
}

// Interface is <interface>.
type Interface struct {
	// Type is bridge, ethernet, network or hostdev.
	// +kubebuilder:validation:Enum=bridge;ethernet;network;hostdev
	Type string `json:"type"`
	// Managed applies to hostdev interfaces.
	// +optional
	Managed string `json:"managed,omitempty"`
	// MAC address; generated with Xen's prefix 00:16:3e when empty.
	// +optional
	MAC string `json:"mac,omitempty"`
	// +optional
	Source *InterfaceSource `json:"source,omitempty"`
	// +optional
	Script string `json:"script,omitempty"`
	// Target is the host-side interface name (vifname).
	// +optional
	Target string `json:"target,omitempty"`
	// Model is the NIC model (netfront, e1000, rtl8139...).
	// +optional
	Model string `json:"model,omitempty"`
	// +optional
	IPs []IP `json:"ips,omitempty"`
	// +optional
	VirtualPort string `json:"virtualport,omitempty"`
	// +optional
	VLAN *VLAN `json:"vlan,omitempty"`
	// +optional
	Bandwidth *Bandwidth `json:"bandwidth,omitempty"`
	// +optional
	BackendDomain string `json:"backendDomain,omitempty"`
	// Driver is the <driver name> of the interface: for a hostdev interface the PCI backend (xen).
	// +optional
	Driver string `json:"driver,omitempty"`
}

// InterfaceSource is <interface><source>.
type InterfaceSource struct {
	// +optional
	Bridge string `json:"bridge,omitempty"`
	// +optional
	Network string `json:"network,omitempty"`
	// Address is the PCI function of a hostdev interface.
	// +optional
	Address *Address `json:"address,omitempty"`
}

// IP is an address assigned to an interface.
type IP struct {
	Address string `json:"address"`
	// +optional
	Family string `json:"family,omitempty"`
	// +optional
	Prefix *uint32 `json:"prefix,omitempty"`
}

// VLAN is <interface><vlan>.
type VLAN struct {
	// +optional
	Trunk bool     `json:"trunk,omitempty"`
	Tags  []uint32 `json:"tags"`
}

// Bandwidth is <interface><bandwidth>; rates in KiB/s.
type Bandwidth struct {
	// +optional
	Inbound *BandwidthParams `json:"inbound,omitempty"`
	// +optional
	Outbound *BandwidthParams `json:"outbound,omitempty"`
}

// BandwidthParams are the rates of one direction.
type BandwidthParams struct {
	// +optional
	Average *uint64 `json:"average,omitempty"`
	// +optional
	Peak *uint64 `json:"peak,omitempty"`
	// +optional
	Burst *uint64 `json:"burst,omitempty"`
}

// Input is <input>.
type Input struct {
	// Type is mouse, tablet or keyboard.
	Type string `json:"type"`
	// Bus is ps2, usb or xen.
	// +optional
	Bus string `json:"bus,omitempty"`
}

// Graphics is <graphics>.
type Graphics struct {
	// Type is vnc, sdl or spice.
	// +kubebuilder:validation:Enum=vnc;sdl;spice
	Type string `json:"type"`
	// +optional
	Port *int32 `json:"port,omitempty"`
	// +optional
	TLSPort *int32 `json:"tlsPort,omitempty"`
	// AutoPort is "yes" or "no".
	// +optional
	AutoPort string `json:"autoport,omitempty"`
	// Listen is the listen attribute; Listens the <listen> elements.
	// +optional
	Listen string `json:"listen,omitempty"`
	// +optional
	Listens []GraphicsListen `json:"listens,omitempty"`
	// +optional
	Passwd string `json:"passwd,omitempty"`
	// +optional
	Keymap string `json:"keymap,omitempty"`
	// Display and XAuth are for SDL.
	// +optional
	Display string `json:"display,omitempty"`
	// +optional
	XAuth string `json:"xauth,omitempty"`
	// +optional
	FullScreen string `json:"fullscreen,omitempty"`
	// MouseMode is SPICE's <mouse mode>: client or server.
	// +optional
	MouseMode string `json:"mouseMode,omitempty"`
	// CopyPaste is SPICE's <clipboard copypaste>: yes or no.
	// +optional
	CopyPaste string `json:"copypaste,omitempty"`
}

// GraphicsListen is <graphics><listen>.
type GraphicsListen struct {
	Type string `json:"type"`
	// +optional
	Address string `json:"address,omitempty"`
	// +optional
	Network string `json:"network,omitempty"`
	// +optional
	Socket string `json:"socket,omitempty"`
}

// Video is <video>.
type Video struct {
	// Model is vga, cirrus, xen or qxl.
	// +optional
	Model string `json:"model,omitempty"`
	// VRAM in KiB.
	// +optional
	VRAM *uint32 `json:"vram,omitempty"`
	// +optional
	Heads *uint32 `json:"heads,omitempty"`
	// +optional
	Primary string `json:"primary,omitempty"`
}

// Sound is <sound>.
type Sound struct {
	// Model is ich6, es1370, ac97 or sb16.
	Model string `json:"model"`
}

// Chardev is a <serial>, <parallel>, <console> or <channel>.
type Chardev struct {
	// Type is null, stdio, vc, pty, file, pipe, dev, udp, tcp or unix.
	Type string `json:"type"`
	// Sources are the <source> elements (udp has a connect and a bind source).
	// +optional
	Sources []ChardevSource `json:"sources,omitempty"`
	// Protocol is tcp's <protocol type>: raw or telnet.
	// +optional
	Protocol string `json:"protocol,omitempty"`
	// +optional
	Target *ChardevTarget `json:"target,omitempty"`
}

// ChardevSource is a chardev's <source>.
type ChardevSource struct {
	// +optional
	Mode string `json:"mode,omitempty"`
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	Host string `json:"host,omitempty"`
	// +optional
	Service string `json:"service,omitempty"`
}

// ChardevTarget is a chardev's <target>.
type ChardevTarget struct {
	// Type is serial/xen for consoles, xen for channels.
	// +optional
	Type string `json:"type,omitempty"`
	// +optional
	Port *uint32 `json:"port,omitempty"`
	// Name of a channel.
	// +optional
	Name string `json:"name,omitempty"`
}

// Hostdev is <hostdev>: a host PCI or USB device given to the guest.
type Hostdev struct {
	// Mode is subsystem.
	// +optional
	Mode string `json:"mode,omitempty"`
	// Type is pci or usb.
	Type string `json:"type"`
	// +optional
	Managed string `json:"managed,omitempty"`
	// PCI is the host PCI address.
	// +optional
	PCI *Address `json:"pci,omitempty"`
	// WriteFiltering is "no" to give the guest permissive config-space access.
	// +optional
	WriteFiltering string `json:"writeFiltering,omitempty"`
	// USB identifies a host USB device.
	// +optional
	USB *USBSource `json:"usb,omitempty"`
	// Driver is the backend driver name (xen).
	// +optional
	Driver string `json:"driver,omitempty"`
}

// USBSource identifies a host USB device by vendor/product or bus/device.
type USBSource struct {
	// +optional
	Vendor string `json:"vendor,omitempty"`
	// +optional
	Product string `json:"product,omitempty"`
	// +optional
	Bus *uint32 `json:"bus,omitempty"`
	// +optional
	Device *uint32 `json:"device,omitempty"`
}

// MemBalloon is <memballoon>.
type MemBalloon struct {
	// Model is xen (the only one Xen supports) or none.
	Model string `json:"model"`
}
