package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// The libvirt wire protocol, as much of it as a minimal client needs (FACTS.md): a 4-byte length, a 24-byte
// header (program, version 1, procedure, type, serial, status), an XDR body.
const (
	remoteProgram     = 0x20008086
	procConnectOpen   = 1
	procConnectGetTyp = 3
	headerLen         = 28
)

// rawClient speaks the protocol directly on one connection, with one reusable buffer each way: the client's
// own cost per call is a write and a read, so the one-client rate it measures is the server's, not go-libvirt's.
type rawClient struct {
	c      net.Conn
	serial uint32
	out    []byte
	in     []byte
}

// dialRaw connects to a daemon's socket and opens uri (CONNECT_OPEN), as every client does first.
func dialRaw(sock, uri string) (*rawClient, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	r := &rawClient{c: c, in: make([]byte, 64<<10)}
	// remote_connect_open_args: remote_string name (optional: present flag, then the string), unsigned flags.
	body := binary.BigEndian.AppendUint32(nil, 1)
	body = binary.BigEndian.AppendUint32(body, uint32(len(uri)))
	body = append(body, uri...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	body = binary.BigEndian.AppendUint32(body, 0)
	if err := r.call(procConnectOpen, body); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect open: %w", err)
	}
	return r, nil
}

// call sends one call and reads its reply, failing on an error reply.
func (r *rawClient) call(proc uint32, body []byte) error {
	r.serial++
	p := r.out[:0]
	p = binary.BigEndian.AppendUint32(p, uint32(headerLen+len(body)))
	for _, v := range []uint32{remoteProgram, 1, proc, 0 /* call */, r.serial, 0 /* ok */} {
		p = binary.BigEndian.AppendUint32(p, v)
	}
	p = append(p, body...)
	r.out = p
	if _, err := r.c.Write(p); err != nil {
		return err
	}
	if _, err := io.ReadFull(r.c, r.in[:4]); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(r.in[:4]))
	if n < headerLen || n > len(r.in) {
		return fmt.Errorf("reply of %d bytes", n)
	}
	if _, err := io.ReadFull(r.c, r.in[4:n]); err != nil {
		return err
	}
	if serial, status := binary.BigEndian.Uint32(r.in[20:24]), binary.BigEndian.Uint32(r.in[24:28]); serial != r.serial || status != 0 {
		return fmt.Errorf("reply serial %d status %d to call %d", serial, status, r.serial)
	}
	return nil
}

// getType is CONNECT_GET_TYPE, the cheapest call there is.
func (r *rawClient) getType() error { return r.call(procConnectGetTyp, nil) }

// rawRate makes CONNECT_GET_TYPE calls one at a time on one raw connection for dur, and returns the calls per
// second and each call's latency.
func rawRate(sock, uri string, dur time.Duration) (float64, []time.Duration, error) {
	r, err := dialRaw(sock, uri)
	if err != nil {
		return 0, nil, err
	}
	defer r.c.Close()
	lat := make([]time.Duration, 0, 1<<16)
	start := time.Now()
	for time.Since(start) < dur {
		t := time.Now()
		if err := r.getType(); err != nil {
			return 0, nil, err
		}
		lat = append(lat, time.Since(t))
	}
	return float64(len(lat)) / time.Since(start).Seconds(), lat, nil
}
