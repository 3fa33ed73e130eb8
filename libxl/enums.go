package libxl

// The enumerations of libxl_types.idl. libxl prints an enumeration as the lower-case name of its value, and omits it
// while it holds the IDL default; the Go zero value ("") is that default too. Each type's libxlDefault method names
// the IDL default so that an explicitly set default is omitted as libxl omits it.

// Enumeration is implemented by every enumeration of the IDL mirror.
type Enumeration interface {
	// libxlDefault returns the name of the IDL default value.
	libxlDefault() string
}

// isEnumDefault reports whether v, the name held by an enumeration e, is e's default.
func isEnumDefault(e Enumeration, v string) bool { return v == "" || v == e.libxlDefault() }

// DomainTypeInvalid is libxl_domain_type's default: the type is not set.
const DomainTypeInvalid DomainType = "invalid"

func (DomainType) libxlDefault() string { return string(DomainTypeInvalid) }

// ActionOnShutdown mirrors libxl_action_on_shutdown; the default is destroy.
type ActionOnShutdown string

// Actions on shutdown.
const (
	ActionDestroy         ActionOnShutdown = "destroy"
	ActionRestart         ActionOnShutdown = "restart"
	ActionRestartRename   ActionOnShutdown = "restart_rename"
	ActionPreserve        ActionOnShutdown = "preserve"
	ActionCoredumpDestroy ActionOnShutdown = "coredump_destroy"
	ActionCoredumpRestart ActionOnShutdown = "coredump_restart"
	ActionSoftReset       ActionOnShutdown = "soft_reset"
)

func (ActionOnShutdown) libxlDefault() string { return string(ActionDestroy) }

// TSCMode mirrors libxl_tsc_mode.
type TSCMode string

// TSC modes.
const (
	TSCModeDefault        TSCMode = "default"
	TSCModeAlwaysEmulate  TSCMode = "always_emulate"
	TSCModeNative         TSCMode = "native"
	TSCModeNativeParavirt TSCMode = "native_paravirt"
)

func (TSCMode) libxlDefault() string { return string(TSCModeDefault) }

// DeviceModelVersion mirrors libxl_device_model_version.
type DeviceModelVersion string

// Device model versions.
const (
	DeviceModelUnknown            DeviceModelVersion = "unknown"
	DeviceModelQemuXenTraditional DeviceModelVersion = "qemu_xen_traditional"
	DeviceModelQemuXen            DeviceModelVersion = "qemu_xen"
)

func (DeviceModelVersion) libxlDefault() string { return string(DeviceModelUnknown) }

// BIOSType mirrors libxl_bios_type.
type BIOSType string

// BIOS types.
const (
	BIOSUnknown BIOSType = "unknown"
	BIOSRombios BIOSType = "rombios"
	BIOSSeabios BIOSType = "seabios"
	BIOSOVMF    BIOSType = "ovmf"
)

func (BIOSType) libxlDefault() string { return string(BIOSUnknown) }

// VGAInterfaceType mirrors libxl_vga_interface_type.
type VGAInterfaceType string

// VGA interface types.
const (
	VGAUnknown VGAInterfaceType = "unknown"
	VGACirrus  VGAInterfaceType = "cirrus"
	VGAStd     VGAInterfaceType = "std"
	VGANone    VGAInterfaceType = "none"
	VGAQXL     VGAInterfaceType = "qxl"
)

func (VGAInterfaceType) libxlDefault() string { return string(VGAUnknown) }

// DiskFormat mirrors libxl_disk_format.
type DiskFormat string

// Disk formats.
const (
	DiskFormatUnknown DiskFormat = "unknown"
	DiskFormatQcow    DiskFormat = "qcow"
	DiskFormatQcow2   DiskFormat = "qcow2"
	DiskFormatVHD     DiskFormat = "vhd"
	DiskFormatRaw     DiskFormat = "raw"
	DiskFormatEmpty   DiskFormat = "empty"
	DiskFormatQED     DiskFormat = "qed"
)

func (DiskFormat) libxlDefault() string { return string(DiskFormatUnknown) }

// DiskBackend mirrors libxl_disk_backend.
type DiskBackend string

// Disk backends.
const (
	DiskBackendUnknown    DiskBackend = "unknown"
	DiskBackendPhy        DiskBackend = "phy"
	DiskBackendTap        DiskBackend = "tap"
	DiskBackendQdisk      DiskBackend = "qdisk"
	DiskBackendStandalone DiskBackend = "standalone"
)

func (DiskBackend) libxlDefault() string { return string(DiskBackendUnknown) }

// DiskSpecification mirrors libxl_disk_specification.
type DiskSpecification string

// Disk specifications.
const (
	DiskSpecUnknown DiskSpecification = "unknown"
	DiskSpecXen     DiskSpecification = "xen"
	DiskSpecVirtio  DiskSpecification = "virtio"
)

func (DiskSpecification) libxlDefault() string { return string(DiskSpecUnknown) }

// DiskTransport mirrors libxl_disk_transport.
type DiskTransport string

// Disk transports.
const (
	DiskTransportUnknown DiskTransport = "unknown"
	DiskTransportMMIO    DiskTransport = "mmio"
)

func (DiskTransport) libxlDefault() string { return string(DiskTransportUnknown) }

// NicType mirrors libxl_nic_type.
type NicType string

// NIC types.
const (
	NicTypeUnknown  NicType = "unknown"
	NicTypeVifIOEmu NicType = "vif_ioemu"
	NicTypeVif      NicType = "vif"
)

func (NicType) libxlDefault() string { return string(NicTypeUnknown) }

// Passthrough mirrors libxl_passthrough.
type Passthrough string

// Passthrough modes.
const (
	PassthroughDefault  Passthrough = "default"
	PassthroughDisabled Passthrough = "disabled"
	PassthroughEnabled  Passthrough = "enabled"
	PassthroughSyncPT   Passthrough = "sync_pt"
	PassthroughSharePT  Passthrough = "share_pt"
)

func (Passthrough) libxlDefault() string { return string(PassthroughDefault) }

// RDMReservePolicy mirrors libxl_rdm_reserve_policy; the default is invalid (unset).
type RDMReservePolicy string

// RDM reserve policies.
const (
	RDMPolicyInvalid RDMReservePolicy = "invalid"
	RDMPolicyStrict  RDMReservePolicy = "strict"
	RDMPolicyRelaxed RDMReservePolicy = "relaxed"
)

func (RDMReservePolicy) libxlDefault() string { return string(RDMPolicyInvalid) }

// RDMReserveStrategy mirrors libxl_rdm_reserve_strategy.
type RDMReserveStrategy string

// RDM reserve strategies.
const (
	RDMStrategyIgnore RDMReserveStrategy = "ignore"
	RDMStrategyHost   RDMReserveStrategy = "host"
)

func (RDMReserveStrategy) libxlDefault() string { return string(RDMStrategyIgnore) }

// UsbctrlType mirrors libxl_usbctrl_type.
type UsbctrlType string

// USB controller types.
const (
	UsbctrlAuto        UsbctrlType = "auto"
	UsbctrlPV          UsbctrlType = "pv"
	UsbctrlDeviceModel UsbctrlType = "devicemodel"
	UsbctrlQusb        UsbctrlType = "qusb"
)

func (UsbctrlType) libxlDefault() string { return string(UsbctrlAuto) }

// UsbdevType mirrors libxl_usbdev_type: the key of libxl_device_usbdev's union.
type UsbdevType string

// UsbdevTypeHostdev is the only USB device type: a host device.
const UsbdevTypeHostdev UsbdevType = "hostdev"

func (UsbdevType) libxlDefault() string { return string(UsbdevTypeHostdev) }

// ChannelConnection mirrors libxl_channel_connection: the key of libxl_device_channel's union.
type ChannelConnection string

// Channel connections.
const (
	ChannelConnUnknown ChannelConnection = "unknown"
	ChannelConnPty     ChannelConnection = "pty"
	ChannelConnSocket  ChannelConnection = "socket"
)

func (ChannelConnection) libxlDefault() string { return string(ChannelConnUnknown) }

// TimerMode mirrors libxl_timer_mode; the default is unknown (LIBXL_TIMER_MODE_DEFAULT).
type TimerMode string

// Timer modes.
const (
	TimerModeUnknown               TimerMode = "unknown"
	TimerModeDelayForMissedTicks   TimerMode = "delay_for_missed_ticks"
	TimerModeNoDelayForMissedTicks TimerMode = "no_delay_for_missed_ticks"
	TimerModeNoMissedTicksPending  TimerMode = "no_missed_ticks_pending"
	TimerModeOneMissedTickPending  TimerMode = "one_missed_tick_pending"
)

func (TimerMode) libxlDefault() string { return string(TimerModeUnknown) }

// HDType mirrors libxl_hdtype; the default is ide.
type HDType string

// HD types.
const (
	HDTypeIDE  HDType = "ide"
	HDTypeAHCI HDType = "ahci"
)

func (HDType) libxlDefault() string { return string(HDTypeIDE) }

// VendorDevice mirrors libxl_vendor_device.
type VendorDevice string

// Vendor devices.
const (
	VendorDeviceNone      VendorDevice = "none"
	VendorDeviceXenServer VendorDevice = "xenserver"
)

func (VendorDevice) libxlDefault() string { return string(VendorDeviceNone) }

// GfxPassthruKind mirrors libxl_gfx_passthru_kind.
type GfxPassthruKind string

// Graphics passthrough kinds.
const (
	GfxPassthruDefault GfxPassthruKind = "default"
	GfxPassthruIGD     GfxPassthruKind = "igd"
)

func (GfxPassthruKind) libxlDefault() string { return string(GfxPassthruDefault) }

// Scheduler mirrors libxl_scheduler.
type Scheduler string

// Schedulers.
const (
	SchedulerUnknown  Scheduler = "unknown"
	SchedulerSEDF     Scheduler = "sedf"
	SchedulerCredit   Scheduler = "credit"
	SchedulerCredit2  Scheduler = "credit2"
	SchedulerARINC653 Scheduler = "arinc653"
	SchedulerRTDS     Scheduler = "rtds"
	SchedulerNull     Scheduler = "null"
)

func (Scheduler) libxlDefault() string { return string(SchedulerUnknown) }

// GICVersion mirrors libxl_gic_version.
type GICVersion string

// GIC versions.
const (
	GICDefault GICVersion = "default"
	GICv2      GICVersion = "v2"
	GICv3      GICVersion = "v3"
)

func (GICVersion) libxlDefault() string { return string(GICDefault) }

// VuartType mirrors libxl_vuart_type.
type VuartType string

// Virtual UART types.
const (
	VuartUnknown  VuartType = "unknown"
	VuartSBSAUart VuartType = "sbsa_uart"
)

func (VuartType) libxlDefault() string { return string(VuartUnknown) }

// TEEType mirrors libxl_tee_type.
type TEEType string

// TEE types.
const (
	TEENone  TEEType = "none"
	TEEOPTEE TEEType = "optee"
)

func (TEEType) libxlDefault() string { return string(TEENone) }

// Altp2mMode mirrors libxl_altp2m_mode.
type Altp2mMode string

// Alternate p2m modes.
const (
	Altp2mDisabled Altp2mMode = "disabled"
	Altp2mMixed    Altp2mMode = "mixed"
	Altp2mExternal Altp2mMode = "external"
	Altp2mLimited  Altp2mMode = "limited"
)

func (Altp2mMode) libxlDefault() string { return string(Altp2mDisabled) }

// VkbBackend mirrors libxl_vkb_backend.
type VkbBackend string

// Virtual keyboard backends.
const (
	VkbBackendUnknown VkbBackend = "unknown"
	VkbBackendQemu    VkbBackend = "qemu"
	VkbBackendLinux   VkbBackend = "linux"
)

func (VkbBackend) libxlDefault() string { return string(VkbBackendUnknown) }

// The bits of libxl_viridian_enlightenment, the indexes of DomainBuildInfoHVM.ViridianEnable and ViridianDisable.
const (
	ViridianBase                = 0
	ViridianFreq                = 1
	ViridianTimeRefCount        = 2
	ViridianReferenceTSC        = 3
	ViridianHcallRemoteTLBFlush = 4
	ViridianAPICAssist          = 5
	ViridianCrashCtl            = 6
	ViridianSynic               = 7
	ViridianStimer              = 8
	ViridianHcallIPI            = 9
	ViridianExProcessorMasks    = 10
	ViridianNoVPLimit           = 11
	ViridianCPUHotplug          = 12
)

// ViridianWidth is LIBXL_BUILDINFO_HVM_VIRIDIAN_ENABLE_DISABLE_WIDTH: the number of viridian bits libxl accepts.
const ViridianWidth = 64
