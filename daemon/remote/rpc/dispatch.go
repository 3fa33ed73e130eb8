package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"time"
)

// readLoop reads packets until the connection fails; a framing error ends it, and with it the connection.
func (c *Client) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		h, body, err := ReadPacket(br, nil)
		if err != nil {
			switch {
			case errors.Is(err, ErrFrame), errors.Is(err, io.ErrUnexpectedEOF):
				c.log.Info("closing a connection that broke the framing", "err", err.Error())
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			default:
				c.log.V(1).Info("read failed", "err", err.Error())
			}
			return err
		}
		c.lastRecv.Store(time.Now().UnixNano())
		if err := c.handlePacket(h, body); err != nil {
			return err
		}
	}
}

// handlePacket routes one incoming packet. It blocks while the client has MaxClientRequests calls in flight, or
// while a stream's input is full: that client stops being read, and nobody else is affected.
func (c *Client) handlePacket(h Header, body []byte) error {
	if h.Program == ProgramKeepalive && h.Version == ProtocolVersion && h.Type == TypeMessage {
		if h.Procedure == ProcKeepalivePing {
			c.sendKeepalive(ProcKeepalivePong)
		}
		return nil
	}
	if h.Type == TypeStream || h.Type == TypeStreamHole {
		c.routeStream(h, body)
		return nil
	}
	p := c.srv.program(h.Program, h.Version)
	isCall := h.Type == TypeCall || h.Type == TypeCallWithFDs
	if !isCall {
		// libvirt drops non-call messages it cannot place without answering: no reply is expected.
		c.log.V(1).Info("dropping an unexpected message", "header", h.String())
		return nil
	}
	select {
	case c.slots <- struct{}{}:
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	}
	c.inflight.Add(1)
	if p == nil {
		go c.reply(&Call{Client: c, Header: h}, nil, errUnknownProgram(h))
		return nil
	}
	info, entry, known := p.lookup(h.Procedure)
	if entry != nil && info.Inline {
		c.dispatch(p, h, body, info, entry, known) // no goroutine to start and wake: the reply leaves before the next read
		return nil
	}
	go c.dispatch(p, h, body, info, entry, known)
	return nil
}

// dispatch serves one call of program p, whose procedure lookup found info, entry and known.
func (c *Client) dispatch(p *Program, h Header, body []byte, info ProcInfo, entry *procEntry, known bool) {
	call := &Call{Client: c, Header: h, program: p, Info: info}
	var err error
	var out []byte
	switch {
	case h.Status != StatusOK:
		err = Errorf(CodeRPC, DomainRPC, "Unexpected message status %d", h.Status)
	case h.Type == TypeCallWithFDs:
		err = NewError(CodeRPC, DomainRPC, "file descriptor passing is not supported")
	case !known:
		err = errUnknownProcedure(h.Procedure)
	case p.requireOpen && !info.PreOpen && !c.Opened():
		err = ErrNotOpen()
	case !info.ReadOnlyOK && c.ReadOnly():
		err = ErrReadOnly(info.API)
	case entry == nil:
		err = ErrNoSupport(info.API)
	default:
		out, err = c.invoke(entry, call, body)
	}
	c.reply(call, out, err)
}

// invoke runs the handler; a panic becomes an internal error for this call only.
func (c *Client) invoke(entry *procEntry, call *Call, body []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error(fmt.Errorf("panic: %v", r), "handler panicked", "proc", call.Info.Name, "stack", string(debug.Stack()))
			out, err = nil, NewError(CodeInternalError, DomainRPC, fmt.Sprintf("%s failed unexpectedly", call.Info.API))
		}
	}()
	return entry.handle(c.ctx, call, body, make([]byte, HeaderSize, 512))
}

// reply queues the reply to call: out (starting with HeaderSize bytes of room for the header) or err. The call's
// request slot is released once the reply is written, which bounds what a client that does not read can cost.
func (c *Client) reply(call *Call, out []byte, err error) {
	defer c.inflight.Done()
	h := call.Header
	h.Type, h.Status = TypeReply, StatusOK
	if err == nil && len(out) > MaxPacketSize {
		err = Errorf(CodeRPC, DomainRPC, "reply of %d bytes exceeds the message limit", len(out))
	}
	if err != nil {
		domain := DomainRPC
		if call.program != nil {
			domain = call.program.errDomain
		}
		e := AsError(err, domain)
		if e.Code == CodeInternalError || e.Code == CodeRPC {
			c.log.V(1).Info("call failed", "proc", call.Info.Name, "number", h.Procedure, "err", e.Message, "decodeErr", errString(call.decodeErr))
		}
		h.Status = StatusError
		out = append(make([]byte, HeaderSize, HeaderSize+256), MarshalError(e)...)
	}
	putHeader(out, h)
	release := func() { <-c.slots }
	done := release
	if call.closeAfter {
		done = func() { release(); c.Close() }
	}
	for _, st := range call.streams {
		st.accepting.Store(err == nil)
	}
	sent := c.out.pushWrite(outItem{buf: out, kind: pushReply, done: done}) == nil
	for _, st := range call.streams {
		if err == nil && sent {
			st.activate()
		} else {
			st.end(ErrStreamClosed, false)
		}
	}
}

func (c *Client) sendKeepalive(proc int32) {
	pkt := make([]byte, HeaderSize)
	putHeader(pkt, Header{Program: ProgramKeepalive, Version: ProtocolVersion, Procedure: proc, Type: TypeMessage})
	_ = c.out.push(outItem{buf: pkt, kind: pushReply})
}

// StartKeepalive makes the server ping the client whenever it has been silent for the keepalive interval, and
// drop it after KeepaliveCount unanswered pings, as libvirt does once a client probed
// VIR_DRV_FEATURE_PROGRAM_KEEPALIVE. Pings from the client are answered whether or not this was called. It does
// nothing when keepalive is disabled or already running.
func (c *Client) StartKeepalive() {
	interval, count := c.srv.opts.KeepaliveInterval, c.srv.opts.KeepaliveCount
	if interval <= 0 || !c.keepaliveOn.CompareAndSwap(false, true) {
		return
	}
	go c.keepaliveLoop(interval, count)
}

func (c *Client) keepaliveLoop(interval time.Duration, count int) {
	timer := time.NewTimer(interval)
	defer timer.Stop()
	missed := 0
	var seen int64
	for {
		select {
		case <-timer.C:
		case <-c.closed:
			return
		}
		last := c.lastRecv.Load()
		if last != seen {
			seen, missed = last, 0
		}
		if idle := time.Since(time.Unix(0, last)); idle < interval {
			timer.Reset(interval - idle)
			continue
		}
		if missed >= count {
			c.log.Info("dropping a client that stopped answering keepalive pings", "interval", interval, "count", count)
			c.closeWith(errors.New("keepalive timeout"))
			return
		}
		missed++
		c.sendKeepalive(ProcKeepalivePing)
		timer.Reset(interval)
	}
}
