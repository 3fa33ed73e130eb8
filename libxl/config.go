package libxl

// DomainConfig mirrors libxl_domain_config. Marshalled with encoding/json it prints the JSON libxl's own
// libxl_domain_config_to_json prints for the same configuration: fields at their IDL default are omitted.
//
// This file holds the core fields every package relies on; the builder's file set extends the IDL mirror.
type DomainConfig struct {
	CInfo DomainCreateInfo `json:"c_info"`
	BInfo DomainBuildInfo  `json:"b_info"`
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
	Type DomainType `json:"type,omitempty"`
	Hap  Defbool    `json:"hap,omitempty"`
	Name string     `json:"name,omitempty"`
	// UUID is the canonical 36-character form.
	UUID string `json:"uuid,omitempty"`
}

// DomainBuildInfo mirrors libxl_domain_build_info.
type DomainBuildInfo struct {
	MaxVcpus    int    `json:"max_vcpus,omitempty"`
	AvailVcpus  Bitmap `json:"avail_vcpus,omitempty"`
	MaxMemkb    uint64 `json:"max_memkb,omitempty"`
	TargetMemkb uint64 `json:"target_memkb,omitempty"`
}

// DeviceDisk mirrors libxl_device_disk.
type DeviceDisk struct {
	PdevPath string `json:"pdev_path,omitempty"`
	Vdev     string `json:"vdev,omitempty"`
}

// DeviceNic mirrors libxl_device_nic.
type DeviceNic struct {
	Devid int    `json:"devid"`
	Mac   string `json:"mac,omitempty"`
}

// DevicePci mirrors libxl_device_pci.
type DevicePci struct {
	Func   int `json:"func,omitempty"`
	Dev    int `json:"dev,omitempty"`
	Bus    int `json:"bus,omitempty"`
	Domain int `json:"domain,omitempty"`
}

// DeviceUsbdev mirrors libxl_device_usbdev.
type DeviceUsbdev struct {
	Ctrl int `json:"ctrl,omitempty"`
	Port int `json:"port,omitempty"`
}
