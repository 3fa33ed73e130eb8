package controllers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/virtxend/virtxend/api/deffile"
)

// libvirt's libxl save image starts with a 64-byte header (libxlSavefileHeader, libxl_conf.h): a 16-byte magic,
// the format version, the length of the domain XML that follows (NUL included), and padding. The hypervisor's
// own stream comes after the XML. The fields are in host byte order; virtxend runs on little-endian x86.
const (
	saveMagic       = "libvirt-xml\n \x00 \r"
	saveVersion     = 2
	saveHeaderBytes = 64
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
	if n == 0 || n > deffile.MaxSize { // the bound on every definition virtxend reads
		return nil, &SaveHeaderError{Problem: HeaderBadXMLLength, Msg: fmt.Sprintf("invalid XML length: %d", int32(n))}
	}
	xml := make([]byte, n)
	if _, err := io.ReadFull(r, xml); err != nil {
		return nil, &SaveHeaderError{Problem: HeaderXMLUnreadable, Msg: "failed to read XML", Err: err}
	}
	return bytes.TrimRight(xml, "\x00"), nil
}

// ErrNotSeekable is returned (inside an *fs.PathError naming the file) by OpenSaveImage for a file that is
// neither a regular file nor a block device: a FIFO, a socket or a character device.
var ErrNotSeekable = errors.New("not a regular file or block device: a save image is read twice, its header to " +
	"learn the domain, then the whole image to restore it")

// OpenSaveImage opens a save image for reading. It never waits: a FIFO without a writer would block open(2),
// and reading one could wait for ever, so the file is opened non-blocking and anything but a regular file or a
// block device is refused with ErrNotSeekable. A FIFO could not be restored anyway: its header, once read to
// learn the domain, is gone when the image is read again to restore it. Other errors are os.OpenFile's.
func OpenSaveImage(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if m := fi.Mode(); !m.IsRegular() && (m&fs.ModeDevice == 0 || m&fs.ModeCharDevice != 0) {
		_ = f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: ErrNotSeekable}
	}
	return f, nil
}
