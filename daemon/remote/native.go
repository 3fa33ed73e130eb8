package remote

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/api/domxml"
	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/api/xlcfg"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// The native configuration formats of libvirt's Xen driver (XEN_CONFIG_FORMAT_*).
const (
	nativeFormatXL   = "xen-xl"
	nativeFormatXM   = "xen-xm"
	nativeFormatSexp = "xen-sxpr"
)

// nativeMaxConfig is libvirt's MAX_CONFIG_SIZE, the buffer domxml-to-native writes into; virConfWriteMem needs
// room for the terminating NUL.
const nativeMaxConfig = 1024 * 65

// registerNative: converting between domain XML and Xen's native configuration formats (virsh
// domxml-from-native and domxml-to-native), as libxlConnectDomainXMLFromNative and ...ToNative do.
func registerNative(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcConnectDomainXMLFromNative, func(_ context.Context, _ *rpc.Call, a *libvirt.ConnectDomainXMLFromNativeArgs) (*libvirt.ConnectDomainXMLFromNativeRet, error) {
		if err := noFlags(a.Flags, "libxlConnectDomainXMLFromNative"); err != nil {
			return nil, err
		}
		xml, err := f.nativeToXML(a.NativeFormat, []byte(a.NativeConfig))
		if err != nil {
			return nil, err
		}
		return &libvirt.ConnectDomainXMLFromNativeRet{DomainXML: string(xml)}, nil
	})
	rpc.Register(p, rpc.ProcConnectDomainXMLToNative, func(_ context.Context, _ *rpc.Call, a *libvirt.ConnectDomainXMLToNativeArgs) (*libvirt.ConnectDomainXMLToNativeRet, error) {
		if err := noFlags(a.Flags, "libxlConnectDomainXMLToNative"); err != nil {
			return nil, err
		}
		cfg, err := f.xmlToNative(a.NativeFormat, []byte(a.DomainXML))
		if err != nil {
			return nil, err
		}
		return &libvirt.ConnectDomainXMLToNativeRet{NativeConfig: string(cfg)}, nil
	})
}

// nativeOptions are the host facts of a conversion from a native format.
func (f *Facade) nativeOptions() xlcfg.Options {
	o := xlcfg.Options{
		HostSVM:  f.Facts.HostSVM && !f.Facts.HostVMX,
		Defaults: domxml.Defaults{HostArch: f.Facts.Arch},
	}
	for _, fw := range f.Facts.Firmwares {
		if path.Base(fw) == "hvmloader" {
			o.FirmwareDir = path.Dir(fw)
		}
	}
	return o
}

// nativeToXML is libxlConnectDomainXMLFromNative: the inactive domain XML of an xl or xm configuration, without
// secrets.
func (f *Facade) nativeToXML(format string, data []byte) ([]byte, error) {
	var parse func([]byte) (*v1alpha1.DomainSpec, error)
	domain := rpc.DomainXenXL
	switch format {
	case nativeFormatXL:
		parse = f.nativeOptions().ParseXL
	case nativeFormatXM:
		parse, domain = f.nativeOptions().ParseXM, rpc.DomainXenXM
	case nativeFormatSexp:
		return nil, rpc.NewError(rpc.CodeOperationUnsupported, rpc.DomainLibxl,
			"conversion from 'xen-sxpr' format is no longer supported")
	default:
		return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "unsupported config type %s", format)
	}
	spec, err := parse(data)
	if err != nil {
		return nil, nativeError(err, domain)
	}
	// libvirt formats with VIR_DOMAIN_DEF_FORMAT_INACTIVE and without ..._SECURE: display passwords are left out.
	for i := range spec.Devices.Graphics {
		spec.Devices.Graphics[i].Passwd = ""
	}
	xml, err := domxml.Format(spec, domxml.Inactive)
	if err != nil {
		return nil, nativeError(err, rpc.DomainDomain)
	}
	return xml, nil
}

// xmlToNative is libxlConnectDomainXMLToNative: the XML is read (and completed) first, then written in the
// native format.
func (f *Facade) xmlToNative(format string, xml []byte) ([]byte, error) {
	spec, err := domxml.Parse(xml)
	if err == nil {
		err = domxml.ApplyDefaults(spec, domxml.Defaults{HostArch: f.Facts.Arch})
	}
	if err != nil {
		return nil, nativeXMLError(err)
	}
	var cfg []byte
	switch format {
	case nativeFormatXL:
		if cfg, err = xlcfg.FormatXL(spec); err != nil {
			return nil, nativeError(err, rpc.DomainXenXL)
		}
	case nativeFormatXM:
		if cfg, err = xlcfg.FormatXM(spec); err != nil {
			return nil, nativeError(err, rpc.DomainXenXM)
		}
	default:
		return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "unsupported config type %s", format)
	}
	if len(cfg) >= nativeMaxConfig {
		return nil, rpc.Errorf(rpc.CodeInternalError, rpc.DomainConf,
			"native configuration of %d bytes does not fit the %d bytes libvirt allows", len(cfg), nativeMaxConfig-1)
	}
	return cfg, nil
}

// nativeError maps a conversion error to libvirt's error codes; domain is the converter's error domain.
func nativeError(err error, domain rpc.ErrorDomain) error {
	switch {
	case errors.Is(err, xlcfg.ErrSyntax):
		return nativeConfSyntax(domain, err.Error())
	case errors.Is(err, xlcfg.ErrUnsupported):
		return rpc.NewError(rpc.CodeConfigUnsupported, domain, err.Error())
	case errors.Is(err, domxml.ErrUnsupported):
		return rpc.NewError(rpc.CodeConfigUnsupported, rpc.DomainDomain, err.Error())
	case errors.Is(err, domxml.ErrInvalid):
		return rpc.NewError(rpc.CodeInternalError, rpc.DomainDomain, err.Error())
	}
	return rpc.NewError(rpc.CodeInternalError, domain, err.Error())
}

// nativeXMLError maps an error about the domain XML given to domxml-to-native.
func nativeXMLError(err error) error {
	var syn *domxml.SyntaxError
	switch {
	case errors.As(err, &syn):
		return rpc.NewError(rpc.CodeXMLDetail, rpc.DomainXML, err.Error())
	case errors.Is(err, domxml.ErrUnsupported):
		return rpc.NewError(rpc.CodeConfigUnsupported, rpc.DomainDomain, err.Error())
	case errors.Is(err, domxml.ErrInvalid):
		return rpc.NewError(rpc.CodeXMLError, rpc.DomainDomain, err.Error())
	}
	return rpc.NewError(rpc.CodeInternalError, rpc.DomainDomain, err.Error())
}

// nativeConfSyntax is VIR_ERR_CONF_SYNTAX, whose message template the rpc package does not carry.
func nativeConfSyntax(domain rpc.ErrorDomain, detail string) *rpc.Error {
	const tmpl = "configuration file syntax error"
	return &rpc.Error{
		Code: rpc.Code(libvirt.ErrConfSyntax), Domain: domain, Level: rpc.LevelError,
		Message: fmt.Sprintf("%s: %s", tmpl, detail), Str1: tmpl + ": %s", Str2: detail, Int1: -1, Int2: -1,
	}
}
