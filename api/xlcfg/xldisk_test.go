package xlcfg

import (
	"errors"
	"strings"
	"testing"
)

// TestParseXLDisk checks the disk scanner against xl-disk-configuration(5): positional and named parameters,
// deprecated prefixes and suffixes, and the errors of libxlutil.
func TestParseXLDisk(t *testing.T) {
	tests := []struct {
		spec string
		want string // xlDisk.String()
		err  string
	}{
		{spec: "/dev/vg/guest,raw,xvda,rw", want: `target="/dev/vg/guest" vdev="xvda" format=raw backend= rw=true cdrom=false`},
		{spec: "/dev/vg/guest,,hda,,backendtype=phy", want: `target="/dev/vg/guest" vdev="hda" format=raw backend=phy rw=true cdrom=false`},
		{spec: "/img,qcow2,hdb", want: `target="/img" vdev="hdb" format=qcow2 backend= rw=true cdrom=false`},
		{spec: "/root/boot.iso,,hdc,,devtype=cdrom", want: `target="/root/boot.iso" vdev="hdc" format=raw backend= rw=false cdrom=true`},
		{spec: "format=raw,vdev=hdd,access=ro,devtype=cdrom", want: `target=<nil> vdev="hdd" format=empty backend= rw=false cdrom=true`},
		{spec: ",,hdc:cdrom", want: `target="" vdev="hdc" format=empty backend= rw=false cdrom=true`},
		{spec: "vdev=xvda, access=r, target=/a,b c,", want: `target="/a,b c" vdev="xvda" format=raw backend= rw=false cdrom=false`},
		{spec: "phy:/dev/sda8,hda,w", want: `target="/dev/sda8" vdev="hda" format=raw backend= rw=true cdrom=false`},
		{spec: "tap:aio:/root/some.img,xvda,w", want: `target="/root/some.img" vdev="xvda" format=raw backend= rw=true cdrom=false`},
		{spec: "qcow2:/img.qcow2,xvdb,w", want: `target="/img.qcow2" vdev="xvdb" format=qcow2 backend= rw=true cdrom=false`},
		{spec: "target=rbd:pool/image:mon_host=a\\\\:1,vdev=xvda", err: "no vdev specified"},
		{spec: "vdev=xvda,target=rbd:pool/image:mon_host=a\\\\:1", want: `target="rbd:pool/image:mon_host=a\\\\:1" vdev="xvda" format=raw backend= rw=true cdrom=false`},
		{spec: "discard,no-discard,direct-io-safe,/img,raw,xvda,rw", want: `target="/img" vdev="xvda" format=raw backend= rw=true cdrom=false`},
		{spec: "/img,raw,xvda,rw,extra", err: "too many positional parameters"},
		{spec: "/img,raw,xvda,rwx", err: "unknown value for access"},
		{spec: "/img,vmdk,xvda", err: "unknown value for format"},
		{spec: "format=raw,format=qcow2,vdev=xvda,target=/x", err: "format respecified"},
		{spec: "vdev=xvda,vdev=xvdb,target=/x", err: "vdev respecified"},
		{spec: "bogus=1,vdev=xvda,target=/x", err: "unknown parameter"},
		{spec: "foo:/x,xvda", err: "unknown deprecated disk prefix"},
		{spec: "/img,raw,xvda:floppy", err: "unknown deprecated type"},
		{spec: "devtype=floppy,vdev=xvda,target=/x", err: "unknown value for type"},
		{spec: "backendtype=nbd,vdev=xvda,target=/x", err: "unknown value for backendtype"},
		{spec: "vdev=xvda", err: "no target specified (and device not removable)"},
		{spec: "/img,raw,xvda,rw,=", err: "bad disk syntax"},
	}
	for _, tt := range tests {
		d, err := parseXLDisk(tt.spec)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrSyntax) {
				t.Errorf("%q: error %v, want a syntax error with %q", tt.spec, err, tt.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.spec, err)
		case d.String() != tt.want:
			t.Errorf("%q:\n got %s\nwant %s", tt.spec, d, tt.want)
		}
	}
}

// TestParseRBD checks the qemu-style RBD strings of xl disks.
func TestParseRBD(t *testing.T) {
	src, err := parseRBD(`rbd:pool/image:id=admin:auth_supported=cephx:mon_host=[fe80\:\:1]\:6789\;mon2\:6790:conf=/etc/ceph.conf`)
	if err != nil {
		t.Fatal(err)
	}
	if src.Name != "pool/image" || src.Auth == nil || src.Auth.Username != "admin" || src.ConfigFile != "/etc/ceph.conf" ||
		len(src.Hosts) != 2 || src.Hosts[0].Name != "fe80::1" || src.Hosts[0].Port != "6789" ||
		src.Hosts[1].Name != "mon2" || src.Hosts[1].Port != "6790" {
		t.Errorf("parseRBD: %+v %+v", src, src.Hosts)
	}
	if _, err := parseRBD("rbd:pool/image@snap"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("snapshot: %v", err)
	}
	out, err := formatRBD(src)
	if err != nil || out != `rbd:pool/image:auth_supported=none:mon_host=[fe80\:\:1]\\:6789\\;mon2\\:6790` {
		t.Errorf("formatRBD: %q %v", out, err)
	}
}
