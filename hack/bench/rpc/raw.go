package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// The libvirt wire protocol, as much of it as a minimal client needs (FACTS.md): a 4-byte length, a 24-byte
// header (program, version 1, procedure, type, serial, status), an XDR body.
const (
	remoteProgram     = 0x20008086
	procConnectOpen   = 1
	procConnectGetTyp = 3
	procDomainGetInfo = 16
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

// rawCall is one call a raw client makes: a procedure and the XDR body of its arguments, which depend on k, a
// running count that spreads calls about domains over them.
type rawCall struct {
	proc uint32
	body func(k int) []byte
}

// rawGetType is CONNECT_GET_TYPE, the cheapest call there is.
var rawGetType = rawCall{proc: procConnectGetTyp, body: func(int) []byte { return nil }}

// rawGetInfo is DOMAIN_GET_INFO of d's domains, their arguments encoded once.
func rawGetInfo(d *daemon) rawCall {
	bodies := make([][]byte, len(d.doms))
	for i, dom := range d.doms {
		// remote_nonnull_domain: a string (length, bytes, padding to 4), a 16-byte uuid, an int id.
		b := binary.BigEndian.AppendUint32(nil, uint32(len(dom.Name)))
		b = append(b, dom.Name...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		b = append(b, dom.UUID[:]...)
		bodies[i] = binary.BigEndian.AppendUint32(b, uint32(dom.ID))
	}
	return rawCall{proc: procDomainGetInfo, body: func(k int) []byte { return bodies[k%len(bodies)] }}
}

// rawRate makes c on clients raw connections of their own, one call at a time on each, for dur, and returns the
// calls per second and each call's latency. Client k starts its count at k×7919, as the go-libvirt clients do.
func rawRate(sock, uri string, clients int, dur time.Duration, c rawCall) (float64, [][]time.Duration, error) {
	rs := make([]*rawClient, clients)
	for k := range rs {
		r, err := dialRaw(sock, uri)
		if err != nil {
			return 0, nil, err
		}
		defer r.c.Close()
		rs[k] = r
	}
	lats := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for k, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			for n := k * 7919; time.Since(start) < dur; n++ {
				t := time.Now()
				if err := r.call(c.proc, c.body(n)); err != nil {
					errs[k] = err
					return
				}
				lat = append(lat, time.Since(t))
			}
			lats[k] = lat
		}()
	}
	wg.Wait()
	calls := 0
	for _, l := range lats {
		calls += len(l)
	}
	return float64(calls) / time.Since(start).Seconds(), lats, errors.Join(errs...)
}
