package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
)

// DomainSpec is a domain definition: the parts of libvirt's domain XML that the Xen (libxl) driver honours.
// Field names follow the XML element and attribute names. Memory sizes are quantities ("1Gi", "524288Ki").
type DomainSpec struct {
	// Name is the domain name; empty means the object's name.
	// +optional
	Name string `json:"name,omitempty"`
	// UUID is the domain UUID; generated when empty.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`
	UUID string `json:"uuid,omitempty"`
	// +optional
	Title string `json:"title,omitempty"`
	// +optional
	Description string `json:"description,omitempty"`
	// Metadata is the raw XML content of <metadata>: application elements in their own namespaces.
	// +optional
	Metadata string `json:"metadata,omitempty"`

	// Memory is the maximum memory (<memory>).
	Memory resource.Quantity `json:"memory"`
	// CurrentMemory is the balloon target at start (<currentMemory>); defaults to Memory.
	// +optional
	CurrentMemory *resource.Quantity `json:"currentMemory,omitempty"`

	// VCPU is the number of virtual cpus.
	// +optional
	VCPU *VCPU `json:"vcpu,omitempty"`
	// +optional
	CPUTune *CPUTune `json:"cputune,omitempty"`
	// +optional
	CPU *CPU `json:"cpu,omitempty"`

	// OS says how the domain boots.
	OS OS `json:"os"`
	// +optional
	Features *Features `json:"features,omitempty"`
	// +optional
	Clock *Clock `json:"clock,omitempty"`

	// +optional
	OnPoweroff LifecycleAction `json:"onPoweroff,omitempty"`
	// +optional
	OnReboot LifecycleAction `json:"onReboot,omitempty"`
	// +optional
	OnCrash LifecycleAction `json:"onCrash,omitempty"`

	// +optional
	Devices Devices `json:"devices,omitempty"`

	// SecLabels are the <seclabel> elements (FLASK labels on Xen).
	// +optional
	SecLabels []SecLabel `json:"seclabels,omitempty"`

	// DeviceModelArgs are extra arguments for the device model (<xen:commandline>).
	// +optional
	DeviceModelArgs []string `json:"deviceModelArgs,omitempty"`
}

// LifecycleAction is what happens when the guest powers off, reboots or crashes.
// +kubebuilder:validation:Enum=destroy;restart;rename-restart;preserve;coredump-destroy;coredump-restart
type LifecycleAction string

// Lifecycle actions.
const (
	ActionDestroy         LifecycleAction = "destroy"
	ActionRestart         LifecycleAction = "restart"
	ActionRenameRestart   LifecycleAction = "rename-restart"
	ActionPreserve        LifecycleAction = "preserve"
	ActionCoredumpDestroy LifecycleAction = "coredump-destroy"
	ActionCoredumpRestart LifecycleAction = "coredump-restart"
)

// VCPU is <vcpu>.
type VCPU struct {
	// Count is the maximum number of vcpus.
	// +kubebuilder:validation:Minimum=1
	Count uint32 `json:"count"`
	// Current is the number online at start; defaults to Count.
	// +optional
	Current *uint32 `json:"current,omitempty"`
	// Placement is static or auto.
	// +optional
	// +kubebuilder:validation:Enum=static;auto
	Placement string `json:"placement,omitempty"`
	// CPUSet is the default physical cpu set, e.g. "0-3,^2".
	// +optional
	CPUSet string `json:"cpuset,omitempty"`
}

// CPUTune is <cputune>.
type CPUTune struct {
	// Shares is the scheduler weight.
	// +optional
	Shares *uint32 `json:"shares,omitempty"`
	// +optional
	VCPUPins []VCPUPin `json:"vcpupins,omitempty"`
}

// VCPUPin pins one vcpu to a physical cpu set.
type VCPUPin struct {
	VCPU   uint32 `json:"vcpu"`
	CPUSet string `json:"cpuset"`
}

// CPU is <cpu>.
type CPU struct {
	// +optional
	// +kubebuilder:validation:Enum=custom;host-model;host-passthrough;maximum
	Mode string `json:"mode,omitempty"`
	// +optional
	Match string `json:"match,omitempty"`
	// +optional
	Check string `json:"check,omitempty"`
	// +optional
	Migratable string `json:"migratable,omitempty"`
	// +optional
	Model *CPUModel `json:"model,omitempty"`
	// +optional
	Vendor string `json:"vendor,omitempty"`
	// +optional
	Topology *CPUTopology `json:"topology,omitempty"`
	// +optional
	Features []CPUFeature `json:"features,omitempty"`
	// +optional
	NUMA *NUMA `json:"numa,omitempty"`
}

// CPUModel is <cpu><model>.
type CPUModel struct {
	// +optional
	Fallback string `json:"fallback,omitempty"`
	Name     string `json:"name"`
}

// CPUTopology is <cpu><topology>.
type CPUTopology struct {
	Sockets uint32 `json:"sockets"`
	// +optional
	Dies uint32 `json:"dies,omitempty"`
	// Clusters is the number of clusters per die (libvirt prints it, default 1).
	// +optional
	Clusters uint32 `json:"clusters,omitempty"`
	Cores    uint32 `json:"cores"`
	Threads  uint32 `json:"threads"`
}

// CPUFeature is <cpu><feature>.
type CPUFeature struct {
	Name string `json:"name"`
	// +kubebuilder:validation:Enum=force;require;optional;disable;forbid
	// +optional
	Policy string `json:"policy,omitempty"`
}

// NUMA is <cpu><numa>: the guest's virtual NUMA topology.
type NUMA struct {
	Cells []NUMACell `json:"cells"`
}

// NUMACell is one virtual NUMA node.
type NUMACell struct {
	// +optional
	ID *uint32 `json:"id,omitempty"`
	// CPUs is the vcpu set of the cell, e.g. "0-1".
	CPUs   string            `json:"cpus"`
	Memory resource.Quantity `json:"memory"`
	// +optional
	MemAccess string `json:"memAccess,omitempty"`
	// +optional
	Distances []NUMADistance `json:"distances,omitempty"`
}

// NUMADistance is the distance from a cell to sibling ID.
type NUMADistance struct {
	ID    uint32 `json:"id"`
	Value uint32 `json:"value"`
}

// OS is <os> together with the top-level <bootloader> and <bootloader_args>.
type OS struct {
	// Type is hvm, xen (PV, "linux" is read as xen) or xenpvh.
	// +kubebuilder:validation:Enum=hvm;xen;linux;xenpvh
	Type string `json:"type"`
	// +optional
	Arch string `json:"arch,omitempty"`
	// +optional
	Machine string `json:"machine,omitempty"`
	// Firmware is "efi" or "bios" (<os firmware>).
	// +optional
	Firmware string `json:"firmware,omitempty"`
	// +optional
	Loader *Loader `json:"loader,omitempty"`
	// Boot is the boot device order: hd, cdrom, fd, network.
	// +optional
	Boot []string `json:"boot,omitempty"`
	// +optional
	BootMenu *BootMenu `json:"bootmenu,omitempty"`
	// +optional
	Kernel string `json:"kernel,omitempty"`
	// +optional
	Initrd string `json:"initrd,omitempty"`
	// +optional
	Cmdline string `json:"cmdline,omitempty"`
	// +optional
	Bootloader string `json:"bootloader,omitempty"`
	// +optional
	BootloaderArgs string `json:"bootloaderArgs,omitempty"`
	// ACPITables are <os><acpi><table> entries.
	// +optional
	ACPITables []ACPITable `json:"acpiTables,omitempty"`
}

// Loader is <os><loader>.
type Loader struct {
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	Readonly string `json:"readonly,omitempty"`
	// +optional
	Secure string `json:"secure,omitempty"`
	// +optional
	Type string `json:"type,omitempty"`
	// +optional
	Format string `json:"format,omitempty"`
}

// BootMenu is <os><bootmenu>.
type BootMenu struct {
	Enable string `json:"enable"`
	// +optional
	Timeout string `json:"timeout,omitempty"`
}

// ACPITable is an ACPI table handed to the guest.
type ACPITable struct {
	Type string `json:"type"`
	Path string `json:"path"`
}

// Features is <features>.
type Features struct {
	// +optional
	PAE bool `json:"pae,omitempty"`
	// +optional
	ACPI bool `json:"acpi,omitempty"`
	// +optional
	APIC bool `json:"apic,omitempty"`
	// +optional
	HAP *FeatureState `json:"hap,omitempty"`
	// +optional
	Viridian bool `json:"viridian,omitempty"`
	// +optional
	PrivNet bool `json:"privnet,omitempty"`
	// +optional
	HyperV *HyperV `json:"hyperv,omitempty"`
	// +optional
	Xen *XenFeatures `json:"xen,omitempty"`
}

// FeatureState is a feature that can be present, and switched on or off.
type FeatureState struct {
	// State is "on", "off", or empty (present, default state).
	// +optional
	State string `json:"state,omitempty"`
}

// HyperV is <features><hyperv>: Hyper-V enlightenments (Xen's viridian).
type HyperV struct {
	// Mode is custom or passthrough.
	// +optional
	Mode string `json:"mode,omitempty"`
	// +optional
	Relaxed *FeatureState `json:"relaxed,omitempty"`
	// +optional
	VAPIC *FeatureState `json:"vapic,omitempty"`
	// +optional
	Spinlocks *HyperVSpinlocks `json:"spinlocks,omitempty"`
	// +optional
	VPIndex *FeatureState `json:"vpindex,omitempty"`
	// +optional
	Synic *FeatureState `json:"synic,omitempty"`
	// +optional
	STimer *FeatureState `json:"stimer,omitempty"`
	// +optional
	VendorID *HyperVVendorID `json:"vendorId,omitempty"`
	// +optional
	Frequencies *FeatureState `json:"frequencies,omitempty"`
	// +optional
	TLBFlush *FeatureState `json:"tlbflush,omitempty"`
	// +optional
	IPI *FeatureState `json:"ipi,omitempty"`
}

// HyperVSpinlocks is <hyperv><spinlocks>.
type HyperVSpinlocks struct {
	// +optional
	State string `json:"state,omitempty"`
	// +optional
	Retries *uint32 `json:"retries,omitempty"`
}

// HyperVVendorID is <hyperv><vendor_id>.
type HyperVVendorID struct {
	// +optional
	State string `json:"state,omitempty"`
	// +optional
	Value string `json:"value,omitempty"`
}

// XenFeatures is <features><xen>.
type XenFeatures struct {
	// +optional
	E820Host *FeatureState `json:"e820Host,omitempty"`
	// +optional
	Passthrough *XenPassthrough `json:"passthrough,omitempty"`
}

// XenPassthrough is <features><xen><passthrough>.
type XenPassthrough struct {
	// +optional
	State string `json:"state,omitempty"`
	// Mode is sync_pt or share_pt.
	// +optional
	Mode string `json:"mode,omitempty"`
}

// Clock is <clock>.
type Clock struct {
	// Offset is utc, localtime or variable.
	// +optional
	Offset string `json:"offset,omitempty"`
	// Basis is utc or localtime (offset variable).
	// +optional
	Basis string `json:"basis,omitempty"`
	// Adjustment in seconds (offset variable), or "reset".
	// +optional
	Adjustment string `json:"adjustment,omitempty"`
	// +optional
	Timers []Timer `json:"timers,omitempty"`
}

// Timer is <clock><timer>.
type Timer struct {
	Name string `json:"name"`
	// Present is "yes" or "no".
	// +optional
	Present string `json:"present,omitempty"`
	// +optional
	Mode string `json:"mode,omitempty"`
	// +optional
	TickPolicy string `json:"tickpolicy,omitempty"`
}

// SecLabel is <seclabel>.
type SecLabel struct {
	// +optional
	Type string `json:"type,omitempty"`
	// +optional
	Model string `json:"model,omitempty"`
	// +optional
	Relabel string `json:"relabel,omitempty"`
	// +optional
	Label string `json:"label,omitempty"`
	// +optional
	ImageLabel string `json:"imageLabel,omitempty"`
	// +optional
	BaseLabel string `json:"baseLabel,omitempty"`
}
