// Package libxl is virtxend's port to the Xen toolstack, in three parts.
//
// The port: Hypervisor is the narrow interface the controllers drive a Xen host through, in this package's own
// types. Two adapters implement it: libxl/sim, the embedded simulated host used wherever there is no Xen, and
// libxl/xenlight, cgo to libxenlight 4.17 (build tag xenlight), which hands the configuration over as libxl JSON.
//
// The IDL mirror: DomainConfig and the types it holds mirror libxl_domain_config of Xen 4.17's libxl_types.idl.
// Their JSON is the text libxl_domain_config_to_json prints (fields at their IDL default omitted, defbools as
// "True"/"False", enumerations as lower-case names, bitmaps as lists of set bits, keyed unions such as
// "type.hvm"), and they read what libxl prints. That JSON is the contract with libxenlight: the xenlight adapter
// passes it to libxl_domain_config_from_json, and the tests check it against libxl's own parser where libxen-dev
// is installed (testdata/libxltool). ConfigDiff compares two configurations the way libvirt's tests do.
//
// The builder: Build turns a domain definition (api/v1alpha1.DomainSpec, after domxml.ApplyDefaults) into the
// DomainConfig libvirt's libxlBuildDomainConfig produces for it, given HostFacts about the host and the driver
// configuration, and returns the definition with libvirt's start-time changes (rounded memory, allocated graphics
// ports, default listen addresses). Its errors carry libvirt's messages and wrap sentinels (ErrUnsupportedConfig,
// ErrInternal, ErrOperationInvalid, ErrOperationFailed) that map to libvirt error codes. The conformance test runs
// libvirt's libxlxml2domconfig corpus through domxml and Build.
package libxl
