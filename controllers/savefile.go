package controllers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// libvirt's libxl save image starts with a 64-byte header (libxlSavefileHeader, libxl_conf.h): a 16-byte magic,
// the format version, the length of the domain XML that follows (NUL included), and padding. The hypervisor's
// own stream comes after the XML. The fields are in host byte order; virtxend runs on little-endian x86.
const (
	saveMagic       = "libvirt-xml\n \x00 \r"
	saveVersion     = 2
	saveHeaderBytes = 64
	maxSaveXML      = 10 << 20
)

// ErrNotSaveImage is returned for a file that is not a libvirt libxl save image; the error is a *SaveHeaderError.
var ErrNotSaveImage = errors.New("not a libvirt Xen save image")

// SaveHeaderError says why a file is not a readable save image. Msg is libvirt's wording
// (libxlDomainSaveImageOpen); Problem tells which check failed, for the libvirt error code.
type SaveHeaderError struct {
	Problem SaveHeaderProblem
	Msg     string
	// Err is the read error behind the problem, if any.
	Err error
}

func (e *SaveHeaderError) Error() string { return ErrNotSaveImage.Error() + ": " + e.Msg }

// Is makes every SaveHeaderError an ErrNotSaveImage.
func (e *SaveHeaderError) Is(target error) bool { return target == ErrNotSaveImage }

// Unwrap returns the read error behind the problem.
func (e *SaveHeaderError) Unwrap() error { return e.Err }

// SaveHeaderProblem is the check of a save image header that failed.
type SaveHeaderProblem int

// Problems of save image headers. libvirt reports HeaderBadMagic as an invalid argument and the others as a
// failed operation.
const (
	// HeaderUnreadable: the 64-byte header could not be read.
	HeaderUnreadable SaveHeaderProblem = iota
	// HeaderBadMagic: the file does not start with libvirt's magic.
	HeaderBadMagic
	// HeaderBadVersion: a format version virtxend does not read.
	HeaderBadVersion
	// HeaderBadXMLLength: the length of the domain XML is zero or implausible.
	HeaderBadXMLLength
	// HeaderXMLUnreadable: the domain XML is cut short.
	HeaderXMLUnreadable
)

// WriteSaveHeader writes the header and the domain XML at w's offset.
func WriteSaveHeader(w io.Writer, xml []byte) error {
	hdr := make([]byte, saveHeaderBytes)
	copy(hdr, saveMagic)
	binary.LittleEndian.PutUint32(hdr[16:], saveVersion)
	binary.LittleEndian.PutUint32(hdr[20:], uint32(len(xml)+1))
	buf := append(hdr, xml...)
	buf = append(buf, 0)
	_, err := w.Write(buf)
	return err
}

// ReadSaveHeader reads the header and returns the domain XML, leaving r at the hypervisor's stream.
func ReadSaveHeader(r io.Reader) ([]byte, error) {
	hdr := make([]byte, saveHeaderBytes)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, &SaveHeaderError{Problem: HeaderUnreadable, Msg: "failed to read libxl header", Err: err}
	}
	if string(hdr[:16]) != saveMagic {
		return nil, &SaveHeaderError{Problem: HeaderBadMagic, Msg: "image magic is incorrect"}
	}
	if v := binary.LittleEndian.Uint32(hdr[16:]); v != saveVersion {
		return nil, &SaveHeaderError{Problem: HeaderBadVersion,
			Msg: fmt.Sprintf("image version is not supported (%d > %d)", v, saveVersion)}
	}
	n := binary.LittleEndian.Uint32(hdr[20:])
	if n == 0 || n > maxSaveXML {
		return nil, &SaveHeaderError{Problem: HeaderBadXMLLength, Msg: fmt.Sprintf("invalid XML length: %d", int32(n))}
	}
	xml := make([]byte, n)
	if _, err := io.ReadFull(r, xml); err != nil {
		return nil, &SaveHeaderError{Problem: HeaderXMLUnreadable, Msg: "failed to read XML", Err: err}
	}
	return bytes.TrimRight(xml, "\x00"), nil
}
