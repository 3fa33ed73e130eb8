package libxl

// DomainBuildInfoHVM mirrors b_info.u.hvm, printed as "type.hvm".
type DomainBuildInfoHVM struct {
	Firmware string   `json:"firmware"`
	BIOS     BIOSType `json:"bios"`
	PAE      Defbool  `json:"pae"`
	// APIC and ACPI are deprecated by DomainBuildInfo.APIC and ACPI; libxl still reads them.
	APIC            Defbool `json:"apic"`
	ACPI            Defbool `json:"acpi"`
	ACPIS3          Defbool `json:"acpi_s3"`
	ACPIS4          Defbool `json:"acpi_s4"`
	ACPILaptopSlate Defbool `json:"acpi_laptop_slate"`
	NX              Defbool `json:"nx"`
	Viridian        Defbool `json:"viridian"`
	// ViridianEnable and ViridianDisable are sets of Viridian* enlightenment bits.
	ViridianEnable  Bitmap  `json:"viridian_enable"`
	ViridianDisable Bitmap  `json:"viridian_disable"`
	Timeoffset      string  `json:"timeoffset"`
	HPET            Defbool `json:"hpet"`
	VPTAlign        Defbool `json:"vpt_align"`
	MMIOHoleMemkb   uint64  `json:"mmio_hole_memkb" libxl:"memkb"`
	// TimerMode and NestedHVM are deprecated by the DomainBuildInfo fields of the same name.
	TimerMode       TimerMode        `json:"timer_mode"`
	NestedHVM       Defbool          `json:"nested_hvm"`
	Altp2m          Defbool          `json:"altp2m"`
	SystemFirmware  string           `json:"system_firmware"`
	SMBIOSFirmware  string           `json:"smbios_firmware"`
	ACPIFirmware    string           `json:"acpi_firmware"`
	HDType          HDType           `json:"hdtype"`
	NoGraphic       Defbool          `json:"nographic"`
	VGA             VGAInterfaceInfo `json:"vga"`
	VNC             VncInfo          `json:"vnc"`
	Keymap          string           `json:"keymap"`
	SDL             SdlInfo          `json:"sdl"`
	Spice           SpiceInfo        `json:"spice"`
	GfxPassthru     Defbool          `json:"gfx_passthru"`
	GfxPassthruKind GfxPassthruKind  `json:"gfx_passthru_kind"`
	// Serial is the one serial port; SerialList is used for several.
	Serial              string       `json:"serial"`
	Boot                string       `json:"boot"`
	USB                 Defbool      `json:"usb"`
	USBVersion          int          `json:"usbversion"`
	USBDevice           string       `json:"usbdevice"`
	VkbDevice           Defbool      `json:"vkb_device"`
	SoundHW             string       `json:"soundhw"`
	XenPlatformPCI      Defbool      `json:"xen_platform_pci"`
	USBDeviceList       []string     `json:"usbdevice_list"`
	VendorDevice        VendorDevice `json:"vendor_device"`
	MSVMGenID           [16]byte     `json:"ms_vm_genid"`
	SerialList          []string     `json:"serial_list"`
	RDM                 RDMReserve   `json:"rdm"`
	RDMMemBoundaryMemkb uint64       `json:"rdm_mem_boundary_memkb" libxl:"memkb"`
	MCACaps             uint64       `json:"mca_caps"`
}

// DomainBuildInfoPV mirrors b_info.u.pv, printed as "type.pv". Kernel, Bootloader, BootloaderArgs, Cmdline and
// Ramdisk are deprecated by the DomainBuildInfo fields of the same names; libxl still reads them.
type DomainBuildInfoPV struct {
	Kernel         string   `json:"kernel"`
	SlackMemkb     uint64   `json:"slack_memkb" libxl:"memkb"`
	Bootloader     string   `json:"bootloader"`
	BootloaderArgs []string `json:"bootloader_args"`
	Cmdline        string   `json:"cmdline"`
	Ramdisk        string   `json:"ramdisk"`
	E820Host       Defbool  `json:"e820_host"`
}

// DomainBuildInfoPVH mirrors b_info.u.pvh, printed as "type.pvh".
type DomainBuildInfoPVH struct {
	PVShim        Defbool `json:"pvshim"`
	PVShimPath    string  `json:"pvshim_path"`
	PVShimCmdline string  `json:"pvshim_cmdline"`
	PVShimExtra   string  `json:"pvshim_extra"`
}

// VGAInterfaceInfo mirrors libxl_vga_interface_info.
type VGAInterfaceInfo struct {
	Kind VGAInterfaceType `json:"kind"`
}

// VncInfo mirrors libxl_vnc_info.
type VncInfo struct {
	Enable Defbool `json:"enable"`
	// Listen is the address (optionally "address:port") to listen on.
	Listen  string `json:"listen"`
	Passwd  string `json:"passwd"`
	Display int    `json:"display"`
	// FindUnused asks the device model to look for a free port itself.
	FindUnused Defbool `json:"findunused"`
}

// SdlInfo mirrors libxl_sdl_info.
type SdlInfo struct {
	Enable     Defbool `json:"enable"`
	OpenGL     Defbool `json:"opengl"`
	Display    string  `json:"display"`
	XAuthority string  `json:"xauthority"`
}

// SpiceInfo mirrors libxl_spice_info.
type SpiceInfo struct {
	Enable           Defbool `json:"enable"`
	Port             int     `json:"port"`
	TLSPort          int     `json:"tls_port"`
	Host             string  `json:"host"`
	DisableTicketing Defbool `json:"disable_ticketing"`
	Passwd           string  `json:"passwd"`
	AgentMouse       Defbool `json:"agent_mouse"`
	VDAgent          Defbool `json:"vdagent"`
	ClipboardSharing Defbool `json:"clipboard_sharing"`
	USBRedirection   int     `json:"usbredirection"`
	ImageCompression string  `json:"image_compression"`
	StreamingVideo   string  `json:"streaming_video"`
}

// RDMReserve mirrors libxl_rdm_reserve.
type RDMReserve struct {
	Strategy RDMReserveStrategy `json:"strategy"`
	Policy   RDMReservePolicy   `json:"policy"`
}
