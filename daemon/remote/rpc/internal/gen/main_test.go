package main

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/test/libvirtsrc"
)

const (
	tablePath     = "procs.tsv"
	generatedPath = "../../zz_generated.procs.go"
)

// TestTableMatchesLibvirt checks that the checked-in table is what the pinned libvirt release's protocol
// definitions and public symbols give.
func TestTableMatchesLibvirt(t *testing.T) {
	for _, rel := range []string{remoteProtocolX, adminProtocolX, publicSyms, adminPublicSyms} {
		libvirtsrc.Path(t, rel)
	}
	rows, err := fromLibvirt(libvirtsrc.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := writeTable(&want, rows); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(tablePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("internal/gen/%s is not what libvirt %s gives: from daemon/remote/rpc, run\n"+
			"\tgo run ./internal/gen -from-libvirt \"$(../../../hack/libvirt-src.sh)\" -table internal/gen/procs.tsv\n%s",
			tablePath, libvirtsrc.Version, firstDiff(got, want.Bytes()))
	}
}

// TestGeneratedMatchesTable checks that zz_generated.procs.go is what the checked-in table gives, so that a
// stale file fails here as well as in make verify.
func TestGeneratedMatchesTable(t *testing.T) {
	data, err := os.ReadFile(tablePath)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parseTable(tablePath, data)
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate("internal/gen/"+tablePath, rows)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(generatedPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("zz_generated.procs.go is stale: run make generate\n%s", firstDiff(got, want))
	}
}

// TestGoNamesFollowAPIs keeps the acronyms table honest: a constant's name spells its procedure the way the
// public API does, but for the exceptions acronyms documents and the *_CALLBACK_* procedures, which carry an
// API of other words.
func TestGoNamesFollowAPIs(t *testing.T) {
	data, err := os.ReadFile(tablePath)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parseTable(tablePath, data)
	if err != nil {
		t.Fatal(err)
	}
	exceptions := map[string]bool{
		"REMOTE_PROC_DOMAIN_SET_BLOCK_IO_TUNE":                     true,
		"REMOTE_PROC_DOMAIN_GET_BLOCK_IO_TUNE":                     true,
		"ADMIN_PROC_SERVER_GET_THREADPOOL_PARAMETERS":              true,
		"ADMIN_PROC_SERVER_SET_THREADPOOL_PARAMETERS":              true,
		"REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY":   true,
		"REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY": true,
	}
	for _, r := range rows {
		if r.api == "" {
			continue
		}
		prefix, apiPrefix := "REMOTE_PROC_", "vir"
		if r.program == "admin" {
			prefix, apiPrefix = "ADMIN_PROC_", "virAdm"
		}
		goName := camel(strings.Split(strings.TrimPrefix(r.name, prefix), "_"))
		if same := apiPrefix+goName == r.api; same == exceptions[r.name] {
			t.Errorf("%s: Go name %s, API %s: exception=%v", r.name, goName, r.api, exceptions[r.name])
		}
	}
}

// TestTableRoundTrip checks that parseTable reads back what writeTable writes, empty fields included.
func TestTableRoundTrip(t *testing.T) {
	rows := []row{
		{program: "remote", number: 1, name: "REMOTE_PROC_CONNECT_OPEN", generate: "none", priority: "high",
			acl: []string{"connect:getattr"}, api: "virConnectOpen"},
		{program: "remote", number: 14, name: "REMOTE_PROC_DOMAIN_GET_XML_DESC", generate: "both", priority: "low",
			acl: []string{"domain:read", "domain:read_secure:VIR_DOMAIN_XML_SECURE"}, api: "virDomainGetXMLDesc"},
		{program: "remote", number: 66, name: "REMOTE_PROC_AUTH_LIST", generate: "none", priority: "high",
			acl: []string{"none"}},
		{program: "admin", number: 1, name: "ADMIN_PROC_CONNECT_OPEN", generate: "none", priority: "low",
			api: "virAdmConnectOpen"},
	}
	var b bytes.Buffer
	if err := writeTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	got, err := parseTable("table", b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rows) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, rows)
	}
}

// TestParseProtocol covers what libvirt's protocol files do that a naive reading gets wrong: the annotations
// documented in the enum's leading comment, an annotation without a space, repeated @acl lines, and a
// procedure without @priority.
func TestParseProtocol(t *testing.T) {
	x := `enum remote_procedure {
    /* Each function must be preceded by a comment providing one or
     * more annotations:
     *
     * - @generate: none|client|server|both
     * - @acl: <object>:<permission>
     */

    /**
     * @generate: none
     * @priority: high
     * @acl: connect:getattr
     */
    REMOTE_PROC_CONNECT_OPEN = 1,

    /**
     * @generate:both
     * @acl: domain:write
     * @acl: domain:start
     * @aclfilter: domain:getattr
     */
    REMOTE_PROC_DOMAIN_CREATE_XML = 10,

    /**
     * @generate: none
     * @priority: high
     * @acl: connect:search_domains
     */
    REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY = 316
};
`
	p := programs[0]
	rows, err := parseProtocol(p, []byte(x))
	if err != nil {
		t.Fatal(err)
	}
	syms := []string{"virConnectOpen", "virDomainCreateXML", "virConnectDomainEventRegisterAny", "virDomainFree"}
	if err := nameAPIs(p, rows, syms); err != nil {
		t.Fatal(err)
	}
	want := []row{
		{program: "remote", number: 1, name: "REMOTE_PROC_CONNECT_OPEN", generate: "none", priority: "high",
			acl: []string{"connect:getattr"}, api: "virConnectOpen"},
		{program: "remote", number: 10, name: "REMOTE_PROC_DOMAIN_CREATE_XML", generate: "both", priority: "low",
			acl: []string{"domain:write", "domain:start"}, api: "virDomainCreateXML"},
		{program: "remote", number: 316, name: "REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY",
			generate: "none", priority: "high", acl: []string{"connect:search_domains"},
			api: "virConnectDomainEventRegisterAny"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got\n%+v\nwant\n%+v", rows, want)
	}

	// A remote procedure without @acl would leave its read-only rule undecided: refused.
	if _, err := parseProtocol(p, []byte("enum remote_procedure {\n/**\n * @generate: both\n */\nREMOTE_PROC_X = 1\n};\n")); err == nil {
		t.Error("a procedure without @acl was accepted")
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	line := func(l []string, i int) string {
		if i < len(l) {
			return fmt.Sprintf("%q", l[i])
		}
		return "(end of file)"
	}
	for i := 0; i < len(g) || i < len(w); i++ {
		if line(g, i) != line(w, i) {
			return fmt.Sprintf("first difference at line %d:\n\thave %s\n\twant %s", i+1, line(g, i), line(w, i))
		}
	}
	return ""
}
