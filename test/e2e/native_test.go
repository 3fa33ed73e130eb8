package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/test/libvirtsrc"
)

// nativePasswd matches the display passwords of a domain XML.
var nativePasswd = regexp.MustCompile(` passwd='[^']*'`)

// nativeRun is one run of libvirt's xlconfigtest or xmconfigtest, with its files resolved.
type nativeRun struct {
	format          string // xen-xl or xen-xm
	toNative        bool
	input, expected string
}

// nativeRuns returns every xl and xm run of the project's table of libvirt's test runs.
func nativeRuns(t *testing.T) []nativeRun {
	t.Helper()
	dir := libvirtsrc.Dir(t)
	var runs []nativeRun
	for _, p := range []libvirtsrc.Program{libvirtsrc.XLConfig, libvirtsrc.XMConfig} {
		format := map[libvirtsrc.Program]string{libvirtsrc.XLConfig: "xen-xl", libvirtsrc.XMConfig: "xen-xm"}[p]
		for _, r := range libvirtsrc.Runs(p) {
			runs = append(runs, nativeRun{format: format, toNative: r.ToNative,
				input: filepath.Join(dir, r.Input), expected: filepath.Join(dir, r.Expected)})
		}
	}
	return runs
}

// TestNativeVirsh: virsh domxml-from-native and domxml-to-native, over the socket, print libvirt's own output for
// every xl and xm conversion of libvirt's test suite.
func TestNativeVirsh(t *testing.T) {
	runs := nativeRuns(t)
	if len(runs) != 84+68 {
		t.Fatalf("the table has %d xl and xm runs, want 152", len(runs))
	}
	i := startInstance(t)
	for _, r := range runs {
		cmd := "domxml-from-native"
		if r.toNative {
			cmd = "domxml-to-native"
		}
		want, err := os.ReadFile(r.expected)
		if err != nil {
			t.Fatal(err)
		}
		if !r.toNative {
			// libvirt's tests format with VIR_DOMAIN_DEF_FORMAT_SECURE, the driver without: no passwords.
			want = nativePasswd.ReplaceAll(want, nil)
		}
		got := i.MustVirsh(cmd, r.format, r.input)
		// virsh prints the text and a newline of its own.
		if got != string(want)+"\n" {
			t.Errorf("virsh %s %s %s:\n%s\nwant:\n%s", cmd, r.format, filepath.Base(r.input), got, want)
		}
	}
	t.Logf("virsh domxml-from-native/domxml-to-native: %d corpus runs", len(runs))
}

// TestNativeErrors: what virsh and go-libvirt see for formats and configurations the driver refuses.
func TestNativeErrors(t *testing.T) {
	i := startInstance(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.cfg", "name = \"g\"\nmemory = 256\n")
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"domxml-from-native", "xen-sxpr", good}, "error: Operation not supported: conversion from 'xen-sxpr' format is no longer supported"},
		{[]string{"domxml-from-native", "vmware-vmx", good}, "error: invalid argument: unsupported config type vmware-vmx"},
		{[]string{"domxml-from-native", "xen-xl", write("bad.cfg", "name = g\n")}, "error: configuration file syntax error: xl config:1:8: name: expected a value"},
		{[]string{"domxml-from-native", "xen-xl", write("noname.cfg", "memory = 256\n")}, "error: internal error: config value name was missing"},
		{[]string{"domxml-from-native", "xen-xl", write("disk.cfg", "name = \"g\"\ndisk = [ \"/img,raw,xvda,rw,extra\" ]\n")},
			"too many positional parameters"},
		{[]string{"domxml-to-native", "xen-xl", write("kvm.xml", "<domain type='kvm'><name>g</name></domain>")},
			"error: unsupported configuration: domain type 'kvm' is not supported"},
	} {
		r := i.Virsh(c.args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("virsh %s: exit %d, stderr %q, want %q", strings.Join(c.args, " "), r.Code, r.Stderr, c.msg)
		}
	}

	l := i.GoLibvirt()
	_, err := l.ConnectDomainXMLFromNative("xen-sxpr", "name = \"g\"\n", 0)
	var le libvirt.Error
	if !errors.As(err, &le) || le.Code != uint32(libvirt.ErrOperationUnsupported) {
		t.Errorf("go-libvirt xen-sxpr: %v", err)
	}
	_, err = l.ConnectDomainXMLFromNative("xen-xl", "name = \"g\"\n", 1)
	if !errors.As(err, &le) || le.Code != uint32(libvirt.ErrInvalidArg) {
		t.Errorf("go-libvirt flags: %v", err)
	}
	xml, err := l.ConnectDomainXMLFromNative("xen-xl", "name = \"g\"\nuuid = \"c7a5fdb2-cdaf-9455-926a-d65c16db1809\"\n", 0)
	if err != nil || !strings.Contains(xml, "<name>g</name>") {
		t.Errorf("go-libvirt from native: %v\n%s", err, xml)
	}
	cfg, err := l.ConnectDomainXMLToNative("xen-xl", xml, 0)
	if err != nil || !strings.HasPrefix(cfg, "name = \"g\"\nuuid = \"c7a5fdb2-cdaf-9455-926a-d65c16db1809\"\nmaxmem = 128\n") {
		t.Errorf("go-libvirt to native: %v\n%s", err, cfg)
	}
}
