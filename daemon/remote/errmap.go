package remote

import (
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/daemon/defines"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// libvirtErr is the one place where an error of the layers below the facade becomes the error libvirt answers
// in its place; ok is false for an error it knows no libvirt answer for. An *rpc.Error is kept as it is.
//
//   - The store's NotFound is a domain that went away while the call ran (an undefine or a transient domain
//     stopping in between): libvirt's VIR_ERR_NO_DOMAIN, never the store's own words.
//   - A definition file that could not be written is libvirt's system error with the errno's text.
//   - domxml's errors are what libvirt's XML parser answers (xmlErr), VIR_ERR_OVERFLOW for a number too large.
func libvirtErr(err error) (e *rpc.Error, ok bool) {
	var fe *defines.FileError
	switch {
	case err == nil:
		return nil, false
	case errors.As(err, &e):
		return e, true
	case apierrors.IsNotFound(err):
		return noDomainErr(err), true
	case errors.As(err, &fe):
		return rpc.SystemError(fileOpDomain(fe.Op), fe.Err, "%s '%s'", fe.Op, fe.Path), true
	case errors.Is(err, domxml.ErrInvalid), errors.Is(err, domxml.ErrUnsupported):
		ok = errors.As(xmlErr(err), &e)
		return e, ok
	}
	return nil, false
}

// mapCallErr is the REMOTE program's error map: every error a handler returns passes here, so that no error
// of the store or the file system reaches a client in its own words. An error libvirtErr does not know stays
// as it is (an internal error of VIR_FROM_LIBXL).
func mapCallErr(err error) error {
	if e, ok := libvirtErr(err); ok {
		return e
	}
	return err
}

// noDomainErr is libvirt's answer for a domain the store no longer holds: "Domain not found: no domain with
// matching name 'web'", as libvirt's drivers word a lookup that finds nothing.
func noDomainErr(err error) *rpc.Error {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		if d := se.Status().Details; d != nil && d.Name != "" {
			return rpc.Errorf(rpc.CodeNoDomain, rpc.DomainLibxl, "no domain with matching name '%s'", d.Name)
		}
	}
	return rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
}

// fileOpDomain is the libvirt error domain that reports a failed step of writing a definition: the XML writer
// (virxml.c) writes the data, domain_conf.c makes the directory, virfile.c does the rest.
func fileOpDomain(op defines.FileOp) rpc.ErrorDomain {
	switch op {
	case defines.OpWrite:
		return rpc.DomainXML
	case defines.OpCreateDir:
		return rpc.DomainDomain
	}
	return rpc.DomainNone
}
