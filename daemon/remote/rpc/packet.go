package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Program numbers served by virtxend.
const (
	// ProgramRemote is libvirt's REMOTE_PROGRAM: the hypervisor API.
	ProgramRemote uint32 = 0x20008086
	// ProgramKeepalive is libvirt's KEEPALIVE_PROGRAM ("keep").
	ProgramKeepalive uint32 = 0x6b656570
	// ProgramAdmin is libvirt's ADMIN_PROGRAM: the daemon administration API of virt-admin.
	ProgramAdmin uint32 = 0x06900690
	// ProtocolVersion is the version of every program above.
	ProtocolVersion uint32 = 1
)

// Keepalive procedures (program ProgramKeepalive, type MESSAGE, serial 0, empty body).
const (
	// ProcKeepalivePing asks the peer to answer with ProcKeepalivePong.
	ProcKeepalivePing int32 = 1
	// ProcKeepalivePong answers ProcKeepalivePing.
	ProcKeepalivePong int32 = 2
)

// Type is the message type of a packet (virNetMessageType).
type Type uint32

// Message types.
const (
	// TypeCall is a client request that expects a reply.
	TypeCall Type = 0
	// TypeReply is the server's answer to a TypeCall.
	TypeReply Type = 1
	// TypeMessage is an asynchronous message: events, keepalive.
	TypeMessage Type = 2
	// TypeStream carries stream data or stream control in either direction.
	TypeStream Type = 3
	// TypeCallWithFDs is a call whose arguments pass file descriptors.
	TypeCallWithFDs Type = 4
	// TypeReplyWithFDs is a reply that passes file descriptors.
	TypeReplyWithFDs Type = 5
	// TypeStreamHole describes a hole in a sparse stream.
	TypeStreamHole Type = 6
)

// Status is the status of a packet (virNetMessageStatus).
type Status uint32

// Message statuses.
const (
	// StatusOK marks a successful reply, an event, or the end of a stream.
	StatusOK Status = 0
	// StatusError marks an error reply (the body is an Error) or an aborted stream.
	StatusError Status = 1
	// StatusContinue marks stream data with more to follow.
	StatusContinue Status = 2
)

// Framing limits (virnetprotocol.x).
const (
	// HeaderSize is the size of the length word plus the fixed header.
	HeaderSize = 28
	// MaxMessageSize bounds the header and body of a packet, the length word excluded (VIR_NET_MESSAGE_MAX):
	// libvirt subtracts the length word before it compares.
	MaxMessageSize = 32 << 20
	// MaxPayloadSize bounds the XDR body of a packet (VIR_NET_MESSAGE_PAYLOAD_MAX, 33554408).
	MaxPayloadSize = MaxMessageSize - (HeaderSize - 4)
	// MaxPacketSize bounds a whole packet, length word included: MaxMessageSize plus the length word.
	MaxPacketSize = MaxMessageSize + 4
	// MaxStreamChunk bounds the data of one STREAM packet the server sends (VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX).
	MaxStreamChunk = 262120
)

// ErrFrame reports a length word outside [HeaderSize, MaxPacketSize]: the peer is not speaking the protocol and
// its connection must be closed.
var ErrFrame = errors.New("rpc: packet length out of bounds")

// Header is the fixed header that follows the length word of every packet.
type Header struct {
	// Program identifies the protocol, e.g. ProgramRemote.
	Program uint32
	// Version is the program version, always ProtocolVersion.
	Version uint32
	// Procedure is the procedure number within Program.
	Procedure int32
	// Type is the message type.
	Type Type
	// Serial matches a reply to its call; streams carry the serial of the call that opened them.
	Serial uint32
	// Status is the message status.
	Status Status
}

// String renders a header for logs.
func (h Header) String() string {
	return fmt.Sprintf("prog=%#x vers=%d proc=%d type=%d serial=%d status=%d",
		h.Program, h.Version, h.Procedure, h.Type, h.Serial, h.Status)
}

// ReadPacket reads one packet from r and returns its header and body. It reads into buf when buf is large enough
// (the body then aliases buf) and allocates otherwise. A length word outside the bounds yields ErrFrame before
// anything is allocated; a packet cut short yields io.ErrUnexpectedEOF; a clean end between packets yields io.EOF.
func ReadPacket(r io.Reader, buf []byte) (Header, []byte, error) {
	n, err := readLength(r)
	if err != nil {
		return Header{}, nil, err
	}
	return readRest(r, n, buf)
}

// readLength reads a packet's length word and returns the packet's size, length word included, checked against
// the bounds.
func readLength(r io.Reader) (int, error) {
	var word [4]byte
	if _, err := io.ReadFull(r, word[:]); err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32(word[:])
	if n < HeaderSize || n > MaxPacketSize {
		return 0, fmt.Errorf("%w: %d", ErrFrame, n)
	}
	return int(n), nil
}

// readRest reads the header and body of a packet of n bytes whose length word was read.
func readRest(r io.Reader, n int, buf []byte) (Header, []byte, error) {
	var hdr [HeaderSize - 4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Header{}, nil, unexpected(err)
	}
	h := decodeHeader(hdr[:])
	size := n - HeaderSize
	var body []byte
	if cap(buf) >= size {
		body = buf[:size]
	} else {
		body = make([]byte, size)
	}
	if _, err := io.ReadFull(r, body); err != nil {
		return Header{}, nil, unexpected(err)
	}
	return h, body, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func decodeHeader(b []byte) Header {
	return Header{
		Program:   binary.BigEndian.Uint32(b[0:]),
		Version:   binary.BigEndian.Uint32(b[4:]),
		Procedure: int32(binary.BigEndian.Uint32(b[8:])),
		Type:      Type(binary.BigEndian.Uint32(b[12:])),
		Serial:    binary.BigEndian.Uint32(b[16:]),
		Status:    Status(binary.BigEndian.Uint32(b[20:])),
	}
}

// putHeader writes the length word and h into the first HeaderSize bytes of pkt, whose length is the packet size.
func putHeader(pkt []byte, h Header) {
	binary.BigEndian.PutUint32(pkt[0:], uint32(len(pkt)))
	binary.BigEndian.PutUint32(pkt[4:], h.Program)
	binary.BigEndian.PutUint32(pkt[8:], h.Version)
	binary.BigEndian.PutUint32(pkt[12:], uint32(h.Procedure))
	binary.BigEndian.PutUint32(pkt[16:], uint32(h.Type))
	binary.BigEndian.PutUint32(pkt[20:], h.Serial)
	binary.BigEndian.PutUint32(pkt[24:], uint32(h.Status))
}

// AppendPacket appends the packet made of h and body to dst. It fails with ErrFrame when the packet would exceed
// MaxPacketSize.
func AppendPacket(dst []byte, h Header, body []byte) ([]byte, error) {
	if len(body) > MaxPacketSize-HeaderSize {
		return dst, fmt.Errorf("%w: body of %d bytes", ErrFrame, len(body))
	}
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst = append(dst, body...)
	putHeader(dst[start:], h)
	return dst, nil
}

// WritePacket writes the packet made of h and body to w in one Write.
func WritePacket(w io.Writer, h Header, body []byte) error {
	pkt, err := AppendPacket(make([]byte, 0, HeaderSize+len(body)), h, body)
	if err != nil {
		return err
	}
	_, err = w.Write(pkt)
	return err
}
