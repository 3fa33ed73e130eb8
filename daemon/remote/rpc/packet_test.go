package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func lengthWord(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func TestReadPacketBounds(t *testing.T) {
	valid, err := AppendPacket(nil, Header{Program: ProgramRemote, Version: 1, Procedure: 66, Serial: 3}, []byte{0, 0, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"short length word", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"length 0", lengthWord(0), ErrFrame},
		{"length 8", append(lengthWord(8), make([]byte, 8)...), ErrFrame},
		{"length 27", append(lengthWord(27), make([]byte, 27)...), ErrFrame},
		{"length over 32 MiB", lengthWord(MaxPacketSize + 1), ErrFrame},
		{"length 0x7fffffff", lengthWord(0x7fffffff), ErrFrame},
		{"length 0xffffffff", lengthWord(0xffffffff), ErrFrame},
		{"truncated header", valid[:10], io.ErrUnexpectedEOF},
		{"truncated body", valid[:len(valid)-1], io.ErrUnexpectedEOF},
		{"valid", valid, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadPacket(bytes.NewReader(tc.in), nil)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPacketRoundTrip(t *testing.T) {
	h := Header{Program: ProgramKeepalive, Version: 1, Procedure: -5, Type: TypeStream, Serial: 0xfffffffe, Status: StatusContinue}
	body := []byte("hello, xen")
	var buf bytes.Buffer
	if err := WritePacket(&buf, h, body); err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint32(buf.Bytes()); got != uint32(HeaderSize+len(body)) {
		t.Fatalf("length word %d", got)
	}
	scratch := make([]byte, 64)
	gotH, gotBody, err := ReadPacket(&buf, scratch)
	if err != nil {
		t.Fatal(err)
	}
	if gotH != h || string(gotBody) != string(body) {
		t.Fatalf("got %s %q", gotH, gotBody)
	}
	if &gotBody[0] != &scratch[0] {
		t.Fatal("body does not reuse the buffer")
	}
}

func TestAppendPacketTooLarge(t *testing.T) {
	if _, err := AppendPacket(nil, Header{}, make([]byte, MaxPacketSize-HeaderSize+1)); !errors.Is(err, ErrFrame) {
		t.Fatalf("got %v", err)
	}
	if _, err := AppendPacket(nil, Header{}, make([]byte, MaxPacketSize-HeaderSize)); err != nil {
		t.Fatalf("largest packet refused: %v", err)
	}
}

// TestTraceAuthListBytes checks the first packet of every virsh session byte for byte (01-connect-disconnect).
func TestTraceAuthListBytes(t *testing.T) {
	body, err := Marshal(&struct{ Types []int32 }{Types: []int32{0}})
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := AppendPacket(nil, Header{Program: ProgramRemote, Version: 1, Procedure: ProcAuthList, Type: TypeReply}, body)
	if err != nil {
		t.Fatal(err)
	}
	want := "00 00 00 24 20 00 80 86 00 00 00 01 00 00 00 42 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00"
	if got := hexdump(pkt); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
