package remote

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// libvirt's virDomainXMLFlags the libxl driver accepts (VIR_DOMAIN_XML_COMMON_FLAGS).
const (
	xmlSecure     = 1 << 0 // VIR_DOMAIN_XML_SECURE
	xmlInactive   = 1 << 1 // VIR_DOMAIN_XML_INACTIVE
	xmlMigratable = 1 << 3 // VIR_DOMAIN_XML_MIGRATABLE
)

// libvirt's virDomainMetadataType.
const (
	metadataDescription = 0
	metadataTitle       = 1
	metadataElement     = 2
)

// registerXML: the domain XML and its metadata.
func registerXML(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcDomainGetXMLDesc, func(ctx context.Context, call *rpc.Call, a *libvirt.DomainGetXMLDescArgs) (*libvirt.DomainGetXMLDescRet, error) {
		flags := uint32(a.Flags)
		if err := noFlags(flags&^(xmlSecure|xmlInactive|xmlMigratable), "libxlDomainGetXMLDesc"); err != nil {
			return nil, err
		}
		if flags&xmlSecure != 0 && call.Client.ReadOnly() {
			return nil, rpc.NewError(rpc.CodeOperationDenied, rpc.DomainDomain, "virDomainGetXMLDesc with secure flag")
		}
		d, err := f.lookup(ctx, a.Dom)
		if err != nil {
			return nil, err
		}
		out, err := f.domainXML(ctx, d, flags)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainGetXMLDescRet{XML: out}, nil
	})
	rpc.Register(p, rpc.ProcDomainGetMetadata, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetMetadataArgs) (*libvirt.DomainGetMetadataRet, error) {
		v, err := f.getMetadata(ctx, a)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainGetMetadataRet{Metadata: v}, nil
	})
	rpc.Register(p, rpc.ProcDomainSetMetadata, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSetMetadataArgs) (*struct{}, error) {
		return nil, f.setMetadata(ctx, a)
	})
}

// domainXML is libxlDomainGetXMLDesc: the live definition of a running domain (with its id, what the start
// changed and the --live changes since), and with VIR_DOMAIN_XML_INACTIVE the persistent one (newDef); a
// transient domain has none, so its live definition is formatted as inactive. An inactive domain has only the
// persistent one.
func (f *Facade) domainXML(ctx context.Context, d *dom, flags uint32) (string, error) {
	live := d.Active() && flags&xmlInactive == 0
	if d.Obj == nil {
		return bareXML(d, live), nil
	}
	var spec *v1alpha1.DomainSpec
	opts := domxml.Inactive
	switch {
	case live:
		spec = f.liveDef(ctx, d)
		controllers.FillPtys(ctx, f.HV, d.Obs.Info.DomID, &spec.Devices) // a pty libxl reported after the start
		opts = domxml.FormatOptions{DomID: int(d.ID())}
	case d.Active() && !d.Persistent():
		spec = f.liveDef(ctx, d)
	default:
		spec = d.Obj.Spec.Domain.DeepCopy()
	}
	if spec.Name == "" {
		spec.Name = d.Name
	}
	if spec.UUID == "" {
		spec.UUID = d.UUID
	}
	if flags&xmlSecure == 0 {
		for i := range spec.Devices.Graphics {
			spec.Devices.Graphics[i].Passwd = ""
		}
	}
	out, err := domxml.Format(spec, opts)
	if err != nil {
		return "", internalErr(fmt.Errorf("format the definition of %q: %w", d.Name, err))
	}
	return string(out), nil
}

// liveSpec rebuilds the definition of a running domain the reconciler keeps no live definition of (yet): what
// libxlBuildDomainConfig makes of it at start (memory rounded to MiB, explicit loader, default disk formats...),
// the memory and vcpus Xen reports now, and the interface names libxl gave the domain.
func (f *Facade) liveSpec(ctx context.Context, d *dom, spec *v1alpha1.DomainSpec) *v1alpha1.DomainSpec {
	if b, err := controllers.LibxlBuilder(f.Facts)(spec, false); err == nil {
		spec = b.Spec
	} else {
		domxml.RoundMemoryAtStart(spec)
	}
	info := d.Obs.Info
	if fresh, err := f.HV.DomainInfo(ctx, info.DomID); err == nil {
		info = fresh
	}
	if info.MaxMemKiB > 0 {
		spec.Memory = kibQuantity(info.MaxMemKiB)
	}
	if info.TargetKiB > 0 {
		q := kibQuantity(info.TargetKiB)
		spec.CurrentMemory = &q
	}
	if spec.VCPU != nil && info.OnlineVcpus > 0 {
		spec.VCPU.Current = nil
		if n := uint32(info.OnlineVcpus); n != spec.VCPU.Count {
			spec.VCPU.Current = &n
		}
	}
	for i := range spec.Devices.Interfaces {
		if spec.Devices.Interfaces[i].Target == "" {
			spec.Devices.Interfaces[i].Target = fmt.Sprintf("vif%d.%d", info.DomID, i)
		}
	}
	controllers.FillPtys(ctx, f.HV, info.DomID, &spec.Devices)
	return spec
}

// bareXML describes a domain virtxend holds no definition of: Domain-0 as libxlAddDom0 makes it, or a domain
// started outside virtxend, from what Xen reports.
func bareXML(d *dom, live bool) string {
	var info libxl.DomainInfo
	if d.Obs != nil {
		info = d.Obs.Info
	}
	maxKiB := info.MaxMemKiB
	if maxKiB == 0 {
		maxKiB = info.CurrentKiB
	}
	var b strings.Builder
	b.WriteString("<domain type='xen'")
	if live {
		fmt.Fprintf(&b, " id='%d'", d.ID())
	}
	b.WriteString(">\n")
	fmt.Fprintf(&b, "  <name>%s</name>\n  <uuid>%s</uuid>\n", escapeText(d.Name), d.UUID)
	fmt.Fprintf(&b, "  <memory unit='KiB'>%d</memory>\n  <currentMemory unit='KiB'>%d</currentMemory>\n", maxKiB, info.CurrentKiB)
	vcpus := max(info.MaxVcpus, 1)
	if info.OnlineVcpus > 0 && info.OnlineVcpus != vcpus {
		fmt.Fprintf(&b, "  <vcpu placement='static' current='%d'>%d</vcpu>\n", info.OnlineVcpus, vcpus)
	} else {
		fmt.Fprintf(&b, "  <vcpu placement='static'>%d</vcpu>\n", vcpus)
	}
	os := "linux" // libvirt prints a PV guest's os type "xen" as "linux"
	switch info.Type {
	case libxl.DomainTypeHVM:
		os = "hvm"
	case libxl.DomainTypePVH:
		os = "xenpvh"
	}
	fmt.Fprintf(&b, "  <os>\n    <type>%s</type>\n  </os>\n", os)
	b.WriteString("  <clock offset='utc'/>\n")
	b.WriteString("  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n  <on_crash>destroy</on_crash>\n")
	b.WriteString("  <devices>\n  </devices>\n</domain>\n")
	return b.String()
}

func escapeText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func optString(o libvirt.OptString) (string, bool) {
	if len(o) == 0 {
		return "", false
	}
	return o[0], true
}

// getMetadata is virDomainGetMetadata.
func (f *Facade) getMetadata(ctx context.Context, a *libvirt.DomainGetMetadataArgs) (string, error) {
	flags := uint32(a.Flags)
	if err := noFlags(flags&^(affectLive|affectConfig), "libxlDomainGetMetadata"); err != nil {
		return "", err
	}
	if flags&affectLive != 0 && flags&affectConfig != 0 {
		return "", rpc.NewError(rpc.CodeInvalidArg, rpc.DomainDomain,
			"flags 'affect live' and 'affect config' in virDomainObjGetOneDefState are mutually exclusive")
	}
	d, err := f.lookup(ctx, a.Dom)
	if err != nil {
		return "", err
	}
	if _, err := modificationImpact(d, flags); err != nil {
		return "", err
	}
	var spec v1alpha1.DomainSpec
	if d.Obj != nil {
		spec = d.Obj.Spec.Domain
	}
	var v string
	switch a.Type {
	case metadataDescription:
		v = spec.Description
	case metadataTitle:
		v = spec.Title
	case metadataElement:
		uri, _ := optString(a.Uri)
		elems, err := splitMetadata(spec.Metadata)
		if err != nil {
			return "", internalErr(err)
		}
		for _, e := range elems {
			if e.ns == uri {
				v = e.raw
				break
			}
		}
	default:
		return "", rpc.NewError(rpc.CodeInvalidArg, rpc.DomainDomain, "unknown metadata type")
	}
	if v == "" {
		return "", rpc.NewError(rpc.CodeNoDomainMetadata, rpc.DomainDomain, "Requested metadata element is not present")
	}
	return v, nil
}

// setMetadata is virDomainSetMetadata. virtxend keeps one definition per domain, so a live change is also a
// change of the persistent definition of a persistent domain.
func (f *Facade) setMetadata(ctx context.Context, a *libvirt.DomainSetMetadataArgs) error {
	flags := uint32(a.Flags)
	if err := noFlags(flags&^(affectLive|affectConfig), "libxlDomainSetMetadata"); err != nil {
		return err
	}
	d, err := f.lookup(ctx, a.Dom)
	if err != nil {
		return err
	}
	obj, err := managed(d)
	if err != nil {
		return err
	}
	if err := f.editRefusal(d, obj); err != nil {
		return err
	}
	if _, err := modificationImpact(d, flags); err != nil {
		return err
	}
	value, _ := optString(a.Metadata)
	uri, hasURI := optString(a.Uri)
	key, hasKey := optString(a.Key)
	spec := obj.Spec.Domain.DeepCopy()
	switch a.Type {
	case metadataTitle:
		if strings.ContainsRune(value, '\n') {
			return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainDomain, "metadata title can't contain newlines")
		}
		spec.Title = value
	case metadataDescription:
		spec.Description = value
	case metadataElement:
		if !hasURI || (value != "" && !hasKey) {
			return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainDomain, "metadata element needs a namespace uri and a key")
		}
		spec.Metadata, err = setMetadataElement(spec.Metadata, value, key, uri)
		if err != nil {
			return err
		}
	default:
		return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainDomain, "unknown metadata type")
	}
	if out, err := domxml.Format(spec, domxml.Inactive); err != nil {
		return xmlErr(err)
	} else if _, err := domxml.Parse(out); err != nil {
		return xmlErr(err)
	}
	if d.Persistent() {
		if err := f.Defines.Save(spec); err != nil {
			return internalErr(err)
		}
	}
	if _, err := f.update(ctx, obj, func(o *v1alpha1.XenDomain) error {
		o.Spec.Domain.Title, o.Spec.Domain.Description, o.Spec.Domain.Metadata = spec.Title, spec.Description, spec.Metadata
		return nil
	}); err != nil {
		return err
	}
	var ns *string
	if a.Type == metadataElement {
		ns = &uri
	}
	f.publishExtra(domainEvent{id: eventIDMetadataChange, dom: d.Wire(), metaType: a.Type, metaURI: ns})
	return nil
}

// metaElem is one top-level element of a domain's <metadata>: its namespace and its XML.
type metaElem struct {
	ns, raw string
}

// splitMetadata splits the content of <metadata> into its elements.
func splitMetadata(content string) ([]metaElem, error) {
	content = strings.TrimSpace(content)
	if content == "" {
		return nil, nil
	}
	const open = "<metadata>"
	doc := open + content + "</metadata>"
	dec := xml.NewDecoder(strings.NewReader(doc))
	var out []metaElem
	depth, start := 0, int64(0)
	var ns string
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("domain metadata: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				start, ns = before, t.Name.Space
			}
		case xml.EndElement:
			if depth == 2 {
				out = append(out, metaElem{ns: ns, raw: doc[start:dec.InputOffset()]})
			}
			depth--
		}
	}
}

// setMetadataElement replaces the element in namespace uri of the <metadata> content with value (none when
// value is empty), its root element put in that namespace with prefix key, as virDomainDefSetMetadata does.
func setMetadataElement(content, value, key, uri string) (string, error) {
	elems, err := splitMetadata(content)
	if err != nil {
		return "", internalErr(err)
	}
	kept := make([]string, 0, len(elems)+1)
	for _, e := range elems {
		if e.ns != uri {
			kept = append(kept, e.raw)
		}
	}
	if value != "" {
		if !validXMLName(key) {
			return "", rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainDomain, "invalid metadata key '%s'", key)
		}
		elem, err := namespaced(value, key, uri)
		if err != nil {
			return "", rpc.Errorf(rpc.CodeXMLDetail, rpc.DomainXML, "(metadata_xml): %v", err)
		}
		kept = append(kept, elem)
	}
	return strings.Join(kept, "\n    "), nil
}

// namespaced rewrites the root element of the XML fragment value as key:NAME with xmlns:key="uri".
func namespaced(value, key, uri string) (string, error) {
	dec := xml.NewDecoder(strings.NewReader(value))
	var root xml.StartElement
	var innerFrom, innerTo int64
	depth := 0
	for {
		before := dec.InputOffset()
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if root.Name.Local != "" {
					return "", errors.New("extra content at the end of the document")
				}
				root, innerFrom = t.Copy(), dec.InputOffset()
			}
			depth++
		case xml.EndElement:
			depth--
			if depth < 0 {
				return "", errors.New("unbalanced end tag")
			}
			if depth == 0 {
				innerTo = before
			}
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return "", errors.New("text outside the root element")
			}
		}
	}
	if root.Name.Local == "" || depth != 0 {
		return "", errors.New("no complete root element")
	}
	var b strings.Builder
	name := key + ":" + root.Name.Local
	fmt.Fprintf(&b, "<%s xmlns:%s=\"%s\"", name, key, escapeAttr(uri))
	for _, at := range root.Attr {
		if at.Name.Space == "xmlns" && at.Name.Local == key {
			continue
		}
		n := at.Name.Local
		if at.Name.Space != "" {
			n = at.Name.Space + ":" + n
		}
		fmt.Fprintf(&b, " %s=\"%s\"", n, escapeAttr(at.Value))
	}
	inner := ""
	if innerTo > innerFrom {
		inner = value[innerFrom:innerTo]
	}
	if inner == "" {
		b.WriteString("/>")
	} else {
		fmt.Fprintf(&b, ">%s</%s>", inner, name)
	}
	return b.String(), nil
}

func escapeAttr(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// validXMLName reports whether s can be a namespace prefix.
func validXMLName(s string) bool {
	if s == "" || strings.ContainsAny(s, ":") {
		return false
	}
	for i, r := range s {
		letter := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r > 0x7f
		if i == 0 && !letter {
			return false
		}
		if !letter && !(r >= '0' && r <= '9') && r != '-' && r != '.' {
			return false
		}
	}
	return true
}
