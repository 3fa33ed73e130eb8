package libxl

// DomainConfig mirrors libxl_domain_config. Marshalled with encoding/json it prints the JSON libxl's own
// libxl_domain_config_to_json prints for the same configuration: fields at their IDL default are omitted, defbools are
// "True"/"False", enumerations are lower-case names, bitmaps are lists of set bits and the build info's type union is
// the keyed member "type.hvm", "type.pv" or "type.pvh". LibxlJSON gives libxl's exact indented text.
//
// The Go zero value of every field is its libxl default (the value libxl_domain_config_init leaves), except device
// ids: a Devid field is printed unless it is DevidDefault (-1), because 0 is a valid id; the New* constructors of
// the devices set it as libxl's *_init functions do.
type DomainConfig struct {
	CInfo DomainCreateInfo `json:"c_info"`
	BInfo DomainBuildInfo  `json:"b_info"`

	Disks      []DeviceDisk      `json:"disks"`
	Nics       []DeviceNic       `json:"nics"`
	PCIDevs    []DevicePci       `json:"pcidevs"`
	RDMs       []DeviceRdm       `json:"rdms"`
	DTDevs     []DeviceDtdev     `json:"dtdevs"`
	Vfbs       []DeviceVfb       `json:"vfbs"`
	Vkbs       []DeviceVkb       `json:"vkbs"`
	Vtpms      []DeviceVtpm      `json:"vtpms"`
	P9s        []DeviceP9        `json:"p9s"`
	PVCallsIfs []DevicePvcallsif `json:"pvcallsifs"`
	Channels   []DeviceChannel   `json:"channels"`
	USBCtrls   []DeviceUsbctrl   `json:"usbctrls"`
	USBDevs    []DeviceUsbdev    `json:"usbdevs"`

	OnPoweroff  ActionOnShutdown `json:"on_poweroff"`
	OnReboot    ActionOnShutdown `json:"on_reboot"`
	OnWatchdog  ActionOnShutdown `json:"on_watchdog"`
	OnCrash     ActionOnShutdown `json:"on_crash"`
	OnSoftReset ActionOnShutdown `json:"on_soft_reset"`
}

// DomainType mirrors libxl_domain_type, printed lowercase.
type DomainType string

// The domain types libxl knows.
const (
	DomainTypeHVM DomainType = "hvm"
	DomainTypePV  DomainType = "pv"
	DomainTypePVH DomainType = "pvh"
)

// DomainCreateInfo mirrors libxl_domain_create_info.
type DomainCreateInfo struct {
	Type      DomainType `json:"type"`
	Hap       Defbool    `json:"hap"`
	Oos       Defbool    `json:"oos"`
	SSIDRef   uint32     `json:"ssidref"`
	SSIDLabel string     `json:"ssid_label"`
	Name      string     `json:"name"`
	Domid     uint32     `json:"domid"`
	// UUID is the canonical 36-character form.
	UUID              string       `json:"uuid"`
	XSData            KeyValueList `json:"xsdata"`
	PlatformData      KeyValueList `json:"platformdata"`
	PoolID            uint32       `json:"poolid"`
	PoolName          string       `json:"pool_name"`
	RunHotplugScripts Defbool      `json:"run_hotplug_scripts"`
	DriverDomain      Defbool      `json:"driver_domain"`
	Passthrough       Passthrough  `json:"passthrough"`
	XendSuspendCompat Defbool      `json:"xend_suspend_evtchn_compat"`
}

// DomainBuildInfo mirrors libxl_domain_build_info. Type is the key of the union: HVM, PV or PVH holds the
// type-specific part (a nil member prints as the member at its defaults, as libxl prints it).
// Memory sizes are KiB; a zero size means LIBXL_MEMKB_DEFAULT.
type DomainBuildInfo struct {
	MaxVcpus         int         `json:"max_vcpus"`
	AvailVcpus       Bitmap      `json:"avail_vcpus"`
	CPUMap           Bitmap      `json:"cpumap"`
	NodeMap          Bitmap      `json:"nodemap"`
	VcpuHardAffinity []Bitmap    `json:"vcpu_hard_affinity"`
	VcpuSoftAffinity []Bitmap    `json:"vcpu_soft_affinity"`
	NUMAPlacement    Defbool     `json:"numa_placement"`
	TSCMode          TSCMode     `json:"tsc_mode"`
	MaxMemkb         uint64      `json:"max_memkb" libxl:"memkb"`
	TargetMemkb      uint64      `json:"target_memkb" libxl:"memkb"`
	VideoMemkb       uint64      `json:"video_memkb" libxl:"memkb"`
	ShadowMemkb      uint64      `json:"shadow_memkb" libxl:"memkb"`
	IOMMUMemkb       uint64      `json:"iommu_memkb" libxl:"memkb"`
	RTCTimeoffset    uint32      `json:"rtc_timeoffset"`
	ExecSSIDRef      uint32      `json:"exec_ssidref"`
	ExecSSIDLabel    string      `json:"exec_ssid_label"`
	Localtime        Defbool     `json:"localtime"`
	DisableMigrate   Defbool     `json:"disable_migrate"`
	CPUID            CPUIDPolicy `json:"cpuid"`
	BlkdevStart      string      `json:"blkdev_start"`
	VnumaNodes       []VnodeInfo `json:"vnuma_nodes"`
	// MaxGrantFrames and MaxMaptrackFrames: zero means LIBXL_MAX_GRANT_DEFAULT.
	MaxGrantFrames    uint32 `json:"max_grant_frames" libxl:"default=4294967295"`
	MaxMaptrackFrames uint32 `json:"max_maptrack_frames" libxl:"default=4294967295"`
	// MaxGrantVersion: zero means the default (-1).
	MaxGrantVersion       int                `json:"max_grant_version" libxl:"default=-1"`
	DeviceModelVersion    DeviceModelVersion `json:"device_model_version"`
	DeviceModelStubdomain Defbool            `json:"device_model_stubdomain"`
	StubdomainMemkb       uint64             `json:"stubdomain_memkb" libxl:"memkb"`
	StubdomainKernel      string             `json:"stubdomain_kernel"`
	StubdomainCmdline     string             `json:"stubdomain_cmdline"`
	StubdomainRamdisk     string             `json:"stubdomain_ramdisk"`
	DeviceModel           string             `json:"device_model"`
	DeviceModelSSIDRef    uint32             `json:"device_model_ssidref"`
	DeviceModelSSIDLabel  string             `json:"device_model_ssid_label"`
	DeviceModelUser       string             `json:"device_model_user"`
	// Extra are extra device-model arguments for every guest type; ExtraPV and ExtraHVM for one type only.
	Extra          []string            `json:"extra"`
	ExtraPV        []string            `json:"extra_pv"`
	ExtraHVM       []string            `json:"extra_hvm"`
	SchedParams    DomainSchedParams   `json:"sched_params"`
	IOPorts        []IOPortRange       `json:"ioports"`
	IRQs           []uint32            `json:"irqs"`
	IOMem          []IOMemRange        `json:"iomem"`
	ClaimMode      Defbool             `json:"claim_mode"`
	EventChannels  uint32              `json:"event_channels"`
	Kernel         string              `json:"kernel"`
	Cmdline        string              `json:"cmdline"`
	Ramdisk        string              `json:"ramdisk"`
	DeviceTree     string              `json:"device_tree"`
	ACPI           Defbool             `json:"acpi"`
	Bootloader     string              `json:"bootloader"`
	BootloaderArgs []string            `json:"bootloader_args"`
	TimerMode      TimerMode           `json:"timer_mode"`
	NestedHVM      Defbool             `json:"nested_hvm"`
	APIC           Defbool             `json:"apic"`
	DMRestrict     Defbool             `json:"dm_restrict"`
	TEE            TEEType             `json:"tee"`
	Type           DomainType          `json:"type" libxl:"key"`
	HVM            *DomainBuildInfoHVM `json:"hvm" libxl:"arm"`
	PV             *DomainBuildInfoPV  `json:"pv" libxl:"arm"`
	PVH            *DomainBuildInfoPVH `json:"pvh" libxl:"arm"`
	ArchARM        ArchARM             `json:"arch_arm"`
	ArchX86        ArchX86             `json:"arch_x86"`
	Altp2m         Altp2mMode          `json:"altp2m"`
	VmtraceBufKB   int                 `json:"vmtrace_buf_kb"`
	VPMU           Defbool             `json:"vpmu"`
}

// DomainSchedParams mirrors libxl_domain_sched_params. Zero means the scheduler's default
// (LIBXL_DOMAIN_SCHED_PARAM_*_DEFAULT, -1).
type DomainSchedParams struct {
	Sched     Scheduler `json:"sched"`
	Weight    int       `json:"weight" libxl:"default=-1"`
	Cap       int       `json:"cap" libxl:"default=-1"`
	Period    int       `json:"period" libxl:"default=-1"`
	Budget    int       `json:"budget" libxl:"default=-1"`
	Extratime int       `json:"extratime" libxl:"default=-1"`
	Slice     int       `json:"slice" libxl:"default=-1"`
	Latency   int       `json:"latency" libxl:"default=-1"`
}

// VnodeInfo mirrors libxl_vnode_info: one virtual NUMA node.
type VnodeInfo struct {
	Memkb uint64 `json:"memkb" libxl:"memkb"`
	// Distances from this node to every node, itself included.
	Distances []uint32 `json:"distances"`
	// Pnode is the physical node backing this one.
	Pnode uint32 `json:"pnode"`
	Vcpus Bitmap `json:"vcpus"`
}

// IOPortRange mirrors libxl_ioport_range.
type IOPortRange struct {
	First  uint32 `json:"first"`
	Number uint32 `json:"number"`
}

// IOMemRange mirrors libxl_iomem_range; a zero GFN means LIBXL_INVALID_GFN.
type IOMemRange struct {
	Start  uint64 `json:"start"`
	Number uint64 `json:"number"`
	GFN    uint64 `json:"gfn" libxl:"default=18446744073709551615"`
}

// ArchARM mirrors b_info.arch_arm.
type ArchARM struct {
	GICVersion GICVersion `json:"gic_version"`
	Vuart      VuartType  `json:"vuart"`
}

// ArchX86 mirrors b_info.arch_x86.
type ArchX86 struct {
	MSRRelaxed Defbool `json:"msr_relaxed"`
}

// MarshalJSON prints c as libxl_domain_config_to_json does (compact).
func (c DomainConfig) MarshalJSON() ([]byte, error) { return marshalIDL(c) }

// UnmarshalJSON reads what libxl_domain_config_to_json prints; keys it does not know are ignored, as libxl's
// parser ignores them.
func (c *DomainConfig) UnmarshalJSON(b []byte) error { return unmarshalIDL(b, c) }

// LibxlJSON returns c exactly as libxl_domain_config_to_json prints it: yajl's beautified form with a 4-space
// indent.
func (c *DomainConfig) LibxlJSON() ([]byte, error) {
	b, err := marshalIDL(*c)
	if err != nil {
		return nil, err
	}
	return indentLibxl(b), nil
}

// MarshalJSON prints i as libxl does.
func (i DomainCreateInfo) MarshalJSON() ([]byte, error) { return marshalIDL(i) }

// UnmarshalJSON reads what libxl prints.
func (i *DomainCreateInfo) UnmarshalJSON(b []byte) error { return unmarshalIDL(b, i) }

// MarshalJSON prints i as libxl does.
func (i DomainBuildInfo) MarshalJSON() ([]byte, error) { return marshalIDL(i) }

// UnmarshalJSON reads what libxl prints, the keyed union included.
func (i *DomainBuildInfo) UnmarshalJSON(b []byte) error { return unmarshalIDL(b, i) }
