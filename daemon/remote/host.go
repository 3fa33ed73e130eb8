package remote

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// LibVersion is the libvirt release virtxend answers CONNECT_GET_LIB_VERSION with (major*1000000 +
// minor*1000 + micro): libvirt 11.3.0, the release whose libxl driver virtxend reproduces (and whose test data
// the conformance tests use). Clients gate features on it, so it names the behaviour clients get.
const LibVersion = 11003000

// DriverType is the hypervisor driver's name (LIBXL_DRIVER_EXTERNAL_NAME), what virsh prints as "Using API: Xen".
const DriverType = "Xen"

// dmiDir is where the kernel publishes the SMBIOS tables' strings.
func (f *Facade) dmiDir() string {
	if f.DMIDir != "" {
		return f.DMIDir
	}
	return "/sys/class/dmi/id"
}

// registerHost: what a connection says about itself and the host: type, versions, hostname, URI, limits,
// SMBIOS data, security.
func registerHost(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcConnectGetType, func(context.Context, *rpc.Call, *struct{}) (*libvirt.ConnectGetTypeRet, error) {
		return &libvirt.ConnectGetTypeRet{Type: DriverType}, nil
	}, rpc.Inline())
	rpc.Register(p, rpc.ProcConnectGetVersion, func(ctx context.Context, _ *rpc.Call, _ *struct{}) (*libvirt.ConnectGetVersionRet, error) {
		info, err := f.hostInfo(ctx)
		if err != nil {
			return nil, err
		}
		return &libvirt.ConnectGetVersionRet{HvVer: hypervisorVersion(info.XenVersion)}, nil
	})
	rpc.Register(p, rpc.ProcConnectGetLibVersion, func(context.Context, *rpc.Call, *struct{}) (*libvirt.ConnectGetLibVersionRet, error) {
		return &libvirt.ConnectGetLibVersionRet{LibVer: LibVersion}, nil
	}, rpc.Inline())
	rpc.Register(p, rpc.ProcConnectGetHostname, func(ctx context.Context, _ *rpc.Call, _ *struct{}) (*libvirt.ConnectGetHostnameRet, error) {
		info, err := f.hostInfo(ctx)
		if err != nil {
			return nil, err
		}
		name := info.Hostname
		if name == "" {
			if name, err = os.Hostname(); err != nil {
				return nil, rpc.Errorf(rpc.CodeSystemError, rpc.DomainNone, "failed to determine host name: %v", err)
			}
		}
		return &libvirt.ConnectGetHostnameRet{Hostname: canonicalHostname(ctx, name)}, nil
	})
	rpc.Register(p, rpc.ProcConnectGetURI, func(_ context.Context, call *rpc.Call, _ *struct{}) (*libvirt.ConnectGetUriRet, error) {
		uri, _ := call.Client.Value(connURI{}).(string)
		if uri == "" {
			uri = "xen:///system"
		}
		return &libvirt.ConnectGetUriRet{Uri: uri}, nil
	})
	rpc.Register(p, rpc.ProcConnectGetMaxVcpus, func(ctx context.Context, _ *rpc.Call, _ *libvirt.ConnectGetMaxVcpusArgs) (*libvirt.ConnectGetMaxVcpusRet, error) {
		// libxlConnectGetMaxVcpus ignores the type and answers libxl_get_max_cpus: the host's cpus.
		info, err := f.hostInfo(ctx)
		if err != nil {
			return nil, err
		}
		return &libvirt.ConnectGetMaxVcpusRet{MaxVcpus: int32(max(info.CPUs, f.Facts.MaxCPUs))}, nil
	})
	rpc.Register(p, rpc.ProcConnectGetSysinfo, func(_ context.Context, _ *rpc.Call, a *libvirt.ConnectGetSysinfoArgs) (*libvirt.ConnectGetSysinfoRet, error) {
		if err := checkHostFlags(a.Flags, 0, "libxlConnectGetSysinfo"); err != nil {
			return nil, err
		}
		s := readSMBIOS(f.dmiDir())
		if s.empty() {
			// libvirt reads the host's SMBIOS once with dmidecode; without it, the call fails this way.
			return nil, rpc.NewError(rpc.CodeConfigUnsupported, rpc.DomainLibxl, "Host SMBIOS information is not available")
		}
		return &libvirt.ConnectGetSysinfoRet{Sysinfo: formatSysinfo(s)}, nil
	})
	rpc.Register(p, rpc.ProcConnectIsSecure, func(context.Context, *rpc.Call, *struct{}) (*libvirt.ConnectIsSecureRet, error) {
		// Only local Unix sockets are served: nobody can eavesdrop. The client's virConnectIsEncrypted is
		// answered by its own transport (no RPC): 0 on a Unix socket.
		return &libvirt.ConnectIsSecureRet{Secure: 1}, nil
	})
	rpc.Register(p, rpc.ProcNodeGetSecurityModel, func(context.Context, *rpc.Call, *struct{}) (*libvirt.NodeGetSecurityModelRet, error) {
		// libxlNodeGetSecurityModel succeeds with no model; the daemon sends each string with its NUL.
		return &libvirt.NodeGetSecurityModelRet{Model: []int8{0}, Doi: []int8{0}}, nil
	})
}

// hypervisorVersion encodes a Xen version as libvirt's libxl driver does (libxlDriverConfigInit):
// major*1000000 + minor*1000. libxl reports the micro version only as a string (xen_version_extra, ".3"), which
// libvirt leaves out, so virsh shows "Running hypervisor: Xen 4.17.0" on Xen 4.17.3.
func hypervisorVersion(v libxl.Version) uint64 {
	return uint64(v.Major)*1000000 + uint64(v.Minor)*1000
}

// netResolver canonicalizes host names (a variable for tests).
var netResolver interface {
	LookupCNAME(ctx context.Context, host string) (string, error)
} = net.DefaultResolver

// hostnames caches canonical host names, so that a slow or unreachable resolver delays one call, not every one.
var hostnames sync.Map

// canonicalHostname is virGetHostname: a name that is already qualified or starts with "localhost" is returned
// as is; a short name is replaced by its canonical name when the resolver knows one.
func canonicalHostname(ctx context.Context, name string) string {
	if strings.HasPrefix(name, "localhost") || strings.Contains(name, ".") {
		return name
	}
	if c, ok := hostnames.Load(name); ok {
		return c.(string)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	canon, err := netResolver.LookupCNAME(ctx, name)
	canon = strings.TrimSuffix(canon, ".")
	if err != nil || canon == "" || strings.HasPrefix(canon, "localhost") {
		canon = name
	}
	hostnames.Store(name, canon)
	return canon
}

// smbios is the host's firmware identity, as far as Linux publishes it without dmidecode.
type smbios struct {
	BIOS, System, BaseBoard, Chassis []smbiosEntry
}

// smbiosEntry is one named string of an SMBIOS structure.
type smbiosEntry struct{ Name, Value string }

// smbiosFiles maps libvirt's entries, in its order, to the files of /sys/class/dmi/id.
var smbiosFiles = []struct {
	section string
	entries [][2]string
}{
	{"bios", [][2]string{{"vendor", "bios_vendor"}, {"version", "bios_version"}, {"date", "bios_date"}, {"release", "bios_release"}}},
	{"system", [][2]string{{"manufacturer", "sys_vendor"}, {"product", "product_name"}, {"version", "product_version"},
		{"serial", "product_serial"}, {"uuid", "product_uuid"}, {"sku", "product_sku"}, {"family", "product_family"}}},
	{"baseBoard", [][2]string{{"manufacturer", "board_vendor"}, {"product", "board_name"}, {"version", "board_version"},
		{"serial", "board_serial"}, {"asset", "board_asset_tag"}}},
	{"chassis", [][2]string{{"manufacturer", "chassis_vendor"}, {"version", "chassis_version"}, {"serial", "chassis_serial"},
		{"asset", "chassis_asset_tag"}}},
}

// readSMBIOS reads the SMBIOS strings the kernel publishes in dir (/sys/class/dmi/id). libvirt runs dmidecode
// instead, which also lists processors and memory devices; the serial numbers and the UUID are readable by
// root only, and a file that cannot be read is left out.
func readSMBIOS(dir string) smbios {
	var s smbios
	for _, sec := range smbiosFiles {
		var entries []smbiosEntry
		for _, e := range sec.entries {
			b, err := os.ReadFile(filepath.Join(dir, e[1]))
			if v := strings.TrimSpace(string(b)); err == nil && v != "" {
				entries = append(entries, smbiosEntry{Name: e[0], Value: v})
			}
		}
		switch sec.section {
		case "bios":
			s.BIOS = entries
		case "system":
			s.System = entries
		case "baseBoard":
			s.BaseBoard = entries
		case "chassis":
			s.Chassis = entries
		}
	}
	return s
}

// empty reports whether the host published no SMBIOS string at all.
func (s smbios) empty() bool {
	return len(s.BIOS)+len(s.System)+len(s.BaseBoard)+len(s.Chassis) == 0
}

// formatSysinfo is virSysinfoFormat for SMBIOS data: sections without an entry are left out.
func formatSysinfo(s smbios) string {
	w := &capsWriter{}
	sections := []struct {
		name    string
		entries []smbiosEntry
	}{{"bios", s.BIOS}, {"system", s.System}, {"baseBoard", s.BaseBoard}, {"chassis", s.Chassis}}
	w.line(0, "<sysinfo type='smbios'>")
	for _, sec := range sections {
		if len(sec.entries) == 0 {
			continue
		}
		w.line(1, "<%s>", sec.name)
		for _, e := range sec.entries {
			w.line(2, "<entry name='%s'>%s</entry>", e.Name, capsEscape(e.Value))
		}
		w.line(1, "</%s>", sec.name)
	}
	w.line(0, "</sysinfo>")
	return w.String()
}
