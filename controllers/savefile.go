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

// ErrNotSaveImage is returned for a file that is not a libvirt libxl save image.
var ErrNotSaveImage = errors.New("not a libvirt Xen save image")

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
		return nil, fmt.Errorf("%w: %v", ErrNotSaveImage, err)
	}
	if string(hdr[:16]) != saveMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrNotSaveImage)
	}
	if v := binary.LittleEndian.Uint32(hdr[16:]); v != saveVersion {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrNotSaveImage, v)
	}
	n := binary.LittleEndian.Uint32(hdr[20:])
	if n == 0 || n > maxSaveXML {
		return nil, fmt.Errorf("%w: bad XML length %d", ErrNotSaveImage, n)
	}
	xml := make([]byte, n)
	if _, err := io.ReadFull(r, xml); err != nil {
		return nil, fmt.Errorf("%w: truncated XML: %v", ErrNotSaveImage, err)
	}
	return bytes.TrimRight(xml, "\x00"), nil
}
