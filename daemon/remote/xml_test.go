package remote

import (
	"strconv"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
)

func TestGetXMLDesc(t *testing.T) {
	e := newTxEnv(t)
	d, err := e.L.DomainDefineXML(lcXML("web", "", 100))
	if err != nil {
		t.Fatal(err)
	}
	inactive, err := e.L.DomainGetXMLDesc(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(inactive, " id=") || !strings.Contains(inactive, "<memory unit='KiB'>102400</memory>") {
		t.Fatalf("inactive XML:\n%s", inactive)
	}
	if _, err := domxml.Parse([]byte(inactive)); err != nil {
		t.Fatalf("dumpxml does not parse back: %v\n%s", err, inactive)
	}
	if err := e.L.DomainCreate(d); err != nil {
		t.Fatal(err)
	}
	d, _ = e.L.DomainLookupByName("web")
	live, err := e.L.DomainGetXMLDesc(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(live, "<domain type='xen' id='"+strconv.Itoa(int(d.ID))+"'>") {
		t.Fatalf("live XML lacks the domain id %d:\n%s", d.ID, live)
	}
	// The console's pty, as libvirt shows it for a running domain (and never in a definition).
	if !strings.Contains(live, "<console type='pty' tty='/dev/pts/") || !strings.Contains(live, "<source path='/dev/pts/") {
		t.Fatalf("live XML lacks the console's pty:\n%s", live)
	}
	if spec, id, err := domxml.ParseLive([]byte(live)); err != nil || id != int(d.ID) || spec.Name != "web" {
		t.Fatalf("live XML does not parse back: %v (id %d)\n%s", err, id, live)
	}
	again, err := e.L.DomainGetXMLDesc(d, libvirt.DomainXMLInactive)
	if err != nil || strings.Contains(again, " id=") || strings.Contains(again, "tty=") {
		t.Fatalf("--inactive of a running domain: %v\n%s", err, again)
	}
	if _, err := e.L.DomainGetXMLDesc(d, libvirt.DomainXMLUpdateCPU); err == nil {
		t.Fatal("UPDATE_CPU accepted; libvirt's libxl driver refuses it")
	}

	dom0, _ := e.L.DomainLookupByID(0)
	x, err := e.L.DomainGetXMLDesc(dom0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<domain type='xen' id='0'>", "<name>Domain-0</name>",
		"<uuid>00000000-0000-0000-0000-000000000000</uuid>", "<type>linux</type>"} {
		if !strings.Contains(x, want) {
			t.Errorf("Domain-0 XML lacks %q:\n%s", want, x)
		}
	}
}

func TestGetXMLDescSecure(t *testing.T) {
	e := newTxEnv(t)
	xml := strings.Replace(lcXML("vnc", "", 64), "</domain>",
		"  <devices>\n    <graphics type='vnc' port='5901' passwd='s3cret'/>\n  </devices>\n</domain>", 1)
	d, err := e.L.DomainDefineXML(xml)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := e.L.DomainGetXMLDesc(d, 0)
	if err != nil || strings.Contains(plain, "s3cret") {
		t.Fatalf("the password shows without SECURE: %v\n%s", err, plain)
	}
	secure, err := e.L.DomainGetXMLDesc(d, libvirt.DomainXMLSecure)
	if err != nil || !strings.Contains(secure, "passwd='s3cret'") {
		t.Fatalf("the password is missing with SECURE: %v\n%s", err, secure)
	}
}

func TestMetadata(t *testing.T) {
	e := newTxEnv(t)
	d, err := e.L.DomainDefineXML(lcXML("meta", "", 64))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.L.DomainGetMetadata(d, metadataTitle, nil, 0)
	txWantErr(t, err, libvirt.ErrNoDomainMetadata, "Requested metadata element is not present")

	set := func(typ int32, value, key, uri string) error {
		var k, u libvirt.OptString
		if key != "" {
			k = libvirt.OptString{key}
		}
		if uri != "" {
			u = libvirt.OptString{uri}
		}
		var v libvirt.OptString
		if value != "" {
			v = libvirt.OptString{value}
		}
		return e.L.DomainSetMetadata(d, typ, v, k, u, 0)
	}
	if err := set(metadataTitle, "A title", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := set(metadataDescription, "Some\ndescription", "", ""); err != nil {
		t.Fatal(err)
	}
	txWantErr(t, set(metadataTitle, "two\nlines", "", ""), libvirt.ErrInvalidArg, "newlines")
	const uri = "http://example.org/app/1"
	if err := set(metadataElement, "<foo bar='1'><baz>x</baz></foo>", "app", uri); err != nil {
		t.Fatal(err)
	}
	if err := set(metadataElement, "<other/>", "o", "http://example.org/other"); err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[int32]string{metadataTitle: "A title", metadataDescription: "Some\ndescription"} {
		got, err := e.L.DomainGetMetadata(d, typ, nil, 0)
		if err != nil || got != want {
			t.Errorf("metadata %d: %q, %v", typ, got, err)
		}
	}
	got, err := e.L.DomainGetMetadata(d, metadataElement, libvirt.OptString{uri}, 0)
	if want := `<app:foo xmlns:app="http://example.org/app/1" bar="1"><baz>x</baz></app:foo>`; err != nil || got != want {
		t.Fatalf("element: %q, %v; want %q", got, err, want)
	}
	// Replacing and removing an element leaves the others.
	if err := set(metadataElement, "<foo2/>", "app", uri); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.L.DomainGetMetadata(d, metadataElement, libvirt.OptString{uri}, 0); got != `<app:foo2 xmlns:app="http://example.org/app/1"/>` {
		t.Fatalf("replaced element: %q", got)
	}
	if err := set(metadataElement, "", "", uri); err != nil {
		t.Fatal(err)
	}
	_, err = e.L.DomainGetMetadata(d, metadataElement, libvirt.OptString{uri}, 0)
	txWantErr(t, err, libvirt.ErrNoDomainMetadata, "")
	if _, err := e.L.DomainGetMetadata(d, metadataElement, libvirt.OptString{"http://example.org/other"}, 0); err != nil {
		t.Fatal(err)
	}
	txWantErr(t, set(metadataElement, "<unclosed>", "k", uri), libvirt.ErrXMLDetail, "metadata_xml")

	// The persisted definition carries it all.
	x, err := e.L.DomainGetXMLDesc(d, libvirt.DomainXMLInactive)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>A title</title>", "<o:other xmlns:o=\"http://example.org/other\"/>"} {
		if !strings.Contains(x, want) {
			t.Errorf("XML lacks %q:\n%s", want, x)
		}
	}
	// LIVE on an inactive domain, and edits of file domains, are refused.
	txWantErr(t, e.L.DomainSetMetadata(d, metadataTitle, libvirt.OptString{"x"}, nil, nil, libvirt.DomainAffectLive),
		libvirt.ErrOperationInvalid, "domain is not running")
	file := e.add("filed", v1alpha1.SourceKindFile, false)
	txWantErr(t, e.L.DomainSetMetadata(file, metadataTitle, libvirt.OptString{"x"}, nil, nil, 0),
		libvirt.ErrOperationInvalid, "edit that file instead")
}

func TestSplitMetadata(t *testing.T) {
	content := `<a:x xmlns:a="urn:a"><y/></a:x>
    <b:x xmlns:b="urn:b">t</b:x>`
	elems, err := splitMetadata(content)
	if err != nil {
		t.Fatal(err)
	}
	if len(elems) != 2 || elems[0].ns != "urn:a" || elems[1].raw != `<b:x xmlns:b="urn:b">t</b:x>` {
		t.Fatalf("split: %+v", elems)
	}
	out, err := setMetadataElement(content, "<z/>", "c", "urn:a")
	if err != nil {
		t.Fatal(err)
	}
	if want := `<b:x xmlns:b="urn:b">t</b:x>` + "\n    " + `<c:z xmlns:c="urn:a"/>`; out != want {
		t.Fatalf("set: %q, want %q", out, want)
	}
	for _, bad := range []string{"text", "<a/><b/>", "<a>"} {
		if _, err := namespaced(bad, "k", "urn:k"); err == nil {
			t.Errorf("namespaced(%q) accepted", bad)
		}
	}
}
