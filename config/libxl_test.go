package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseLibxl(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		in   string
		want *Libxl
	}{
		{"empty", "", DefaultLibxl()},
		{"autoballoon off", "autoballoon = 0", &Libxl{Autoballoon: &no, LockManager: LockNop, KeepaliveInterval: 5, KeepaliveCount: 5}},
		{"all set", "autoballoon = 1\nlock_manager = \"lockd\"\nkeepalive_interval = -1\nkeepalive_count = 0\nnested_hvm = 1\n",
			&Libxl{Autoballoon: &yes, LockManager: LockLockd, KeepaliveInterval: -1, KeepaliveCount: 0, NestedHVM: true}},
		{"sanlock", `lock_manager = "sanlock"`, &Libxl{LockManager: LockSanlock, KeepaliveInterval: 5, KeepaliveCount: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseLibxl("libxl.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(l, tt.want) {
				t.Errorf("got %+v, want %+v", l, tt.want)
			}
		})
	}
}

func TestParseLibxlErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"autoballoon = 2", "x.conf:1: autoballoon: expected 0 or 1, got integer 2"},
		{`autoballoon = "yes"`, `x.conf:1: autoballoon: expected 0 or 1, got string "yes"`},
		{`lock_manager = "flock"`, `x.conf:1: lock_manager: "flock" is not one of "nop", "lockd", "sanlock"`},
		{"lock_manager = 1", "x.conf:1: lock_manager: expected a string, got integer 1"},
		{"\nkeepalive_interval = 9999999", "x.conf:2: keepalive_interval: 9999999 seconds is more than the 2147483 libvirt's keepalive allows"},
		{"keepalive_count = -1", "x.conf:1: keepalive_count: expected a non-negative integer, got integer -1"},
		{"nested_hvm = [ 1 ]", "x.conf:1: nested_hvm: expected 0 or 1, got a list"},
		{"nested_hvm = ", "x.conf:1:14: nested_hvm: expected a value, got end of file"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			l, err := ParseLibxl("x.conf", []byte(tt.in))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v, %v; want error %s", l, err, tt.want)
			}
			if l != nil {
				t.Error("a Libxl came back with the error")
			}
		})
	}
}

func TestParseLibxlWarnings(t *testing.T) {
	l, err := ParseLibxl("x.conf", []byte("nested_hvm = 1\nnested_hvm = 0\nautoballon = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range l.Warnings() {
		got = append(got, w.String())
	}
	want := []string{
		"x.conf:2: nested_hvm: given again; the value at line 1 applies, as in libvirt",
		"x.conf:3: autoballon: unknown setting, ignored (did you mean autoballoon?)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	if !l.NestedHVM || l.Autoballoon != nil {
		t.Errorf("got %+v", l)
	}
}

func TestLoadLibxl(t *testing.T) {
	dir := t.TempDir()
	l, err := LoadLibxl(filepath.Join(dir, "absent.conf"))
	if err != nil || !reflect.DeepEqual(l, DefaultLibxl()) {
		t.Errorf("missing file: %+v, %v; want the defaults", l, err)
	}
	p := filepath.Join(dir, "libxl.conf")
	if err := os.WriteFile(p, []byte("nested_hvm = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := LoadLibxl(p); err != nil || !l.NestedHVM {
		t.Errorf("LoadLibxl: %+v, %v", l, err)
	}
	if err := os.WriteFile(p, []byte("nested_hvm = yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var ce *Error
	if _, err := LoadLibxl(p); !errors.As(err, &ce) || ce.File != p || ce.Line != 1 {
		t.Errorf("malformed file: %v", err)
	}
	if os.Geteuid() != 0 {
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		l, err := LoadLibxl(p)
		if err != nil || len(l.Warnings()) != 1 || l.NestedHVM {
			t.Errorf("unreadable file: %+v, %v; want the defaults and a warning", l, err)
		}
	}
	if _, err := LoadLibxl(dir); err == nil {
		t.Error("a directory loaded")
	}
}

func TestAutoballoonFor(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		set     *bool
		cmdline string
		want    bool
	}{
		{nil, "", true},
		{nil, "placeholder console=com1", true},
		{nil, "dom0_mem=4096M", false},
		{nil, "console=vga dom0_mem=4G,max:8G loglvl=all", false},
		{nil, "dom0_mem=min:1G,max:2G", false},
		{nil, "dom0_mem=1024", false},
		{nil, "xdom0_mem=1G", true},
		{nil, "dom0_mem=lots", true},
		{nil, "dom0_max_vcpus=2", true},
		{&yes, "dom0_mem=4G", true},
		{&no, "", false},
	}
	for _, tt := range tests {
		l := DefaultLibxl()
		l.Autoballoon = tt.set
		if got := l.AutoballoonFor(tt.cmdline); got != tt.want {
			t.Errorf("autoballoon %v with %q: got %v, want %v", tt.set, tt.cmdline, got, tt.want)
		}
	}
}

func TestLibxlValidate(t *testing.T) {
	if err := DefaultLibxl().Validate(); err != nil {
		t.Fatal(err)
	}
	l := DefaultLibxl()
	l.KeepaliveCount = -2
	l.LockManager = ""
	want := "keepalive_count: expected a non-negative integer, got integer -2\n" +
		`lock_manager: "" is not one of "nop", "lockd", "sanlock"`
	if err := l.Validate(); err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
