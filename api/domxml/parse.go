package domxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// ErrNoName is the error for a definition without <name> (libvirt's VIR_ERR_NO_NAME). It matches ErrInvalid.
var ErrNoName error = &kindError{kind: ErrInvalid, msg: "missing domain name"}

// Parse reads a libvirt domain definition, as virsh define hands it over, into a spec. It is strict: the domain
// type must be xen, and anything in the document the spec cannot carry is an error naming it (errors.Is
// ErrUnsupported); malformed XML is a *SyntaxError with the position. Runtime-only parts of a live
// definition (the domain id, device aliases, generated interface names, pty paths) are accepted and ignored, as
// libvirt ignores them. No defaults are applied: see ApplyDefaults.
func Parse(data []byte) (*v1alpha1.DomainSpec, error) {
	spec, _, err := ParseLive(data)
	return spec, err
}

// ParseLive is Parse for the XML of a running domain: it also returns the domain id of <domain id='N'>, or -1
// when there is none.
func ParseLive(data []byte) (*v1alpha1.DomainSpec, int, error) {
	in, err := parseTree(data)
	if err != nil {
		return nil, -1, err
	}
	if in.name.Local != "domain" || in.name.Space != "" {
		return nil, -1, invalidf("unexpected root element <%s>, expecting <domain>", in.name.Local)
	}
	typ, ok := in.attr("type")
	switch {
	case !ok || typ == "":
		return nil, -1, invalidf("missing domain type attribute")
	case typ != "xen":
		return nil, -1, unsupportedf("domain type '%s' is not supported by the Xen driver: could not find "+
			"capabilities for domaintype=%s", typ, typ)
	}
	id := -1
	if v, ok := in.attr("id"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			return nil, -1, invalidf("invalid domain id '%s'", v)
		}
		id = n
	}

	if err := checkNumbers(in); err != nil {
		return nil, -1, err
	}
	var d libvirtxml.Domain
	if err := xml.Unmarshal(data, &d); err != nil {
		var num *strconv.NumError
		if errors.As(err, &num) {
			return nil, -1, invalidf("domain XML: invalid number '%s'", num.Num)
		}
		return nil, -1, invalidf("domain XML: %v", err)
	}
	switch {
	case strings.TrimSpace(d.Name) == "":
		return nil, -1, ErrNoName
	case strings.ContainsRune(d.Name, '\n'):
		return nil, -1, invalidf("invalid char in name: %q", d.Name)
	case strings.ContainsRune(d.Name, '/'):
		return nil, -1, invalidf("name %s cannot contain '/'", d.Name)
	case strings.ContainsRune(d.Title, '\n'):
		return nil, -1, invalidf("domain title can't contain newlines")
	}
	spec, err := fromDomain(&d)
	if err != nil {
		return nil, -1, err
	}
	if spec.Metadata != "" {
		// Metadata that uses namespace prefixes declared further up is printed with its own declarations.
		raw, err := parseTree([]byte("<metadata>" + spec.Metadata + "</metadata>"))
		if m := in.child("metadata"); m != nil && (err != nil || subset(m, raw, nil) != nil) {
			spec.Metadata = serializeChildren(m)
		}
	}
	keepUnused(in, spec)
	if err := checkKept(in, spec); err != nil {
		return nil, -1, err
	}
	return spec, id, nil
}

// unusedDevices are the devices libvirt's parser accepts in a Xen domain and its libxl driver neither uses nor
// refuses: libvirt keeps them in the definition and ignores them at start, and so does virtxend
// (Devices.Unused).
var unusedDevices = setOf("rng", "tpm", "watchdog", "panic", "shmem", "memory", "iommu", "vsock", "crypto",
	"pstore", "smartcard", "redirdev", "redirfilter", "hub", "lease", "audio", "nvram")

// keepUnused copies the unused devices of the document into the spec, as written.
func keepUnused(in *node, spec *v1alpha1.DomainSpec) {
	devs := in.child("devices")
	if devs == nil {
		return
	}
	for _, c := range devs.children {
		if c.name.Space == "" && unusedDevices[c.name.Local] {
			var b bytes.Buffer
			serializeNode(&b, c, "")
			spec.Devices.Unused = append(spec.Devices.Unused, v1alpha1.UnusedDevice{XML: b.String()})
		}
	}
}

// checkKept verifies that everything in the input document survives in the spec.
func checkKept(in *node, spec *v1alpha1.DomainSpec) error {
	printed, err := Format(spec, Inactive)
	if err != nil {
		return err
	}
	out, err := parseTree(printed)
	if err != nil {
		return fmt.Errorf("domxml: reprint of the spec is not well-formed: %w", err)
	}
	stripRuntime(in)
	canonicalize(in)
	canonicalize(out)
	return subset(in, out, nil)
}
