// Package xlcfg converts between Xen's native domain configuration files and the typed domain definition of a
// XenDomain (v1alpha1.DomainSpec): xl.cfg(5), the format of the xl toolstack (ParseXL, FormatXL), and the legacy
// format of xm/xend (ParseXM, FormatXM).
//
// It is what libvirt's libxl driver does for `virsh domxml-from-native xen-xl` and `domxml-to-native xen-xl`
// (src/libxl/xen_common.c, xen_xl.c and xen_xm.c): the same keys, the same defaults, the same errors, and output
// that matches libvirt byte for byte. Parsing ends, as libvirt's does, with the libxl driver's post-parse defaults
// (domxml.ApplyDefaults), so domxml.Format of a parsed spec prints what libvirt prints. Formatting expects a
// completed spec (domxml.Parse then domxml.ApplyDefaults) and writes the keys in libvirt's fixed order, quoted the
// way libvirt's virConf writer quotes them. The conversions are lossy where libvirt's are: the native formats have
// no place for titles, metadata, vcpu pinning and the like, and libvirt drops them too.
//
// The config syntax itself (libvirt's virConf) is read by package config. Disk specifications of xl.cfg are read
// by a re-implementation of libxlutil's disk parser (xl-disk-configuration(5)).
//
// Errors match ErrSyntax (libvirt's VIR_ERR_CONF_SYNTAX), ErrUnsupported (VIR_ERR_CONFIG_UNSUPPORTED) or ErrInvalid
// (a malformed value, libvirt's VIR_ERR_INTERNAL_ERROR); errors from the final domain checks are domxml's.
//
// The conformance corpus of libvirt's xlconfigtest and xmconfigtest (from libvirt's release, see test/libvirtsrc)
// runs in both directions in this package's tests.
package xlcfg
