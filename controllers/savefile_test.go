package controllers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/virtxend/virtxend/api/deffile"
)

// The domain XML of a save image is bounded as every definition virtxend reads is: deffile.MaxSize.
func TestSaveHeaderXMLBound(t *testing.T) {
	for _, tc := range []struct {
		n    uint32
		want SaveHeaderProblem
	}{
		{deffile.MaxSize, HeaderXMLUnreadable}, // accepted, then found cut short
		{deffile.MaxSize + 1, HeaderBadXMLLength},
	} {
		hdr := make([]byte, saveHeaderBytes)
		copy(hdr, saveMagic)
		binary.LittleEndian.PutUint32(hdr[16:], saveVersion)
		binary.LittleEndian.PutUint32(hdr[20:], tc.n)
		_, err := ReadSaveHeader(bytes.NewReader(append(hdr, "<domain/>"...)))
		var he *SaveHeaderError
		if !errors.As(err, &he) || he.Problem != tc.want {
			t.Errorf("XML length %d: %v, want problem %d", tc.n, err, tc.want)
		}
	}
}

// OpenSaveImage never waits on a FIFO (open(2) of one blocks until a writer comes): it refuses it at once.
func TestOpenSaveImageRefusesAFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "image")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err := OpenSaveImage(fifo); !errors.Is(err, ErrNotSeekable) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("FIFO: %v, want ErrNotSeekable", err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSaveImage(file)
	if err != nil {
		t.Fatalf("regular file: %v", err)
	}
	f.Close()
}
