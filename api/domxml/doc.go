// Package domxml converts between libvirt domain XML and the typed domain definition of a XenDomain
// (v1alpha1.DomainSpec).
//
// Parse reads the XML that virsh define and the libvirt RPC calls hand over (built on libvirt.org/go/libvirtxml)
// and is strict: a domain type other than xen, or anything in the document that the Xen driver does not honour,
// is an error naming the element or attribute (ErrUnsupported); malformed XML is a *SyntaxError with its position
// (ErrInvalid). The check is generic: the spec is printed again and the input document must be a subset of the
// printed one, so nothing is dropped silently, even elements libvirtxml does not know.
//
// ApplyDefaults completes a definition as libvirt's libxl driver does when it reads one (generated UUID and MAC
// addresses, implicit console, inputs, controllers, memory balloon, video, forced features), and Format prints a
// spec the way virDomainDefFormat does, so that `virsh dumpxml` looks as it does against libvirt's own daemon.
//
// The conformance corpus of libvirt's Xen tests (from libvirt's release; see test/libvirtsrc) round-trips through Parse and
// Format; the xl.cfg→XML expected files are reproduced byte for byte from Parse, ApplyDefaults and Format.
package domxml
