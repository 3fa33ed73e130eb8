package rpc

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"time"
)

// readBufferSize is the buffer a connection is read through: room for a burst of small calls in one read, and
// small enough that a thousand idle connections cost little. Larger bodies are read past it, straight into
// their own allocation.
const readBufferSize = 8 << 10

// readLoop reads packets until the connection fails; a framing error ends it, and with it the connection. Before
// each packet it waits until the connection is within its memory budget (Options.MaxClientMemory): a client
// that does not read its replies, PONGs or events, or sends more than its calls release, is no longer read,
// and costs the daemon no more than its budget.
func (c *Client) readLoop() error {
	br := bufio.NewReaderSize(c.nc, readBufferSize)
	budget := c.srv.opts.MaxClientMemory
	for {
		h, rt, body, inPlace, err := c.readPacket(br, budget)
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
		now := time.Now()
		c.lastRecv.Store(now.UnixNano())
		if err := c.handlePacket(h, rt, body, now); err != nil {
			return err
		}
		if inPlace {
			_, _ = br.Discard(len(body)) // the inline call that read it in place is over
		}
	}
}

// readPacket reads the next packet once the connection's budget has room for it, and routes it (routeOf). The
// length word and the header are read in place from br's buffer, without a copy. So is the body of a call
// served inline (inPlace), which is over before the next read: readLoop discards it then. Any other body gets an
// allocation of its own (the call may be served on another goroutine while br reads on), unless it is empty.
func (c *Client) readPacket(br *bufio.Reader, budget int) (h Header, rt route, body []byte, inPlace bool, err error) {
	if err := c.waitBudget(0, budget); err != nil {
		return Header{}, route{}, nil, false, err
	}
	word, err := br.Peek(4)
	if err != nil {
		if err == io.EOF && len(word) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, route{}, nil, false, err
	}
	n := int(binary.BigEndian.Uint32(word))
	if n < HeaderSize || n > MaxPacketSize {
		return Header{}, route{}, nil, false, fmt.Errorf("%w: %d", ErrFrame, n)
	}
	_, _ = br.Discard(4)
	if err := c.waitBudget(n, budget); err != nil {
		return Header{}, route{}, nil, false, err
	}
	hdr, err := br.Peek(HeaderSize - 4)
	if err != nil {
		return Header{}, route{}, nil, false, unexpected(err)
	}
	h = decodeHeader(hdr)
	_, _ = br.Discard(HeaderSize - 4)
	rt = c.routeOf(h)
	size := n - HeaderSize
	switch {
	case size == 0:
		return h, rt, nil, false, nil
	case size <= br.Size() && rt.inline():
		if body, err = br.Peek(size); err != nil {
			return Header{}, route{}, nil, false, unexpected(err)
		}
		return h, rt, body, true, nil
	}
	body = make([]byte, size)
	if _, err := io.ReadFull(br, body); err != nil {
		return Header{}, route{}, nil, false, unexpected(err)
	}
	return h, rt, body, false, nil
}

// route is where a call goes: its program (nil when unknown) and the procedure as that program has it. It is
// zero for a packet that is not a call.
type route struct {
	p     *Program
	info  ProcInfo
	entry *procEntry
	known bool
}

// routeOf looks the call h up once, for readPacket (whether its body may be read in place) and handlePacket.
func (c *Client) routeOf(h Header) route {
	if h.Type != TypeCall && h.Type != TypeCallWithFDs {
		return route{}
	}
	p := c.srv.program(h.Program, h.Version)
	if p == nil {
		return route{}
	}
	info, entry, known := p.lookup(h.Procedure)
	return route{p: p, info: info, entry: entry, known: known}
}

// inline says whether handlePacket serves the call on the reading goroutine: a call of an Inline procedure,
// whose arguments are decoded (copied) before the next read.
func (rt route) inline() bool { return rt.entry != nil && rt.info.Inline }

// waitBudget waits until n more bytes fit in the connection's budget, and says so in the log the first time the
// client is held back.
func (c *Client) waitBudget(n, budget int) error {
	if used, _ := c.out.usage(); used == 0 || used+n <= budget {
		return nil
	}
	if c.throttled.CompareAndSwap(false, true) {
		used, _ := c.out.usage()
		c.log.V(1).Info("not reading a client over its memory budget until it reads what it was sent",
			"held", used, "next", n, "budget", budget)
	}
	if err := c.out.waitBudget(n, budget, c.closed); err != nil {
		return ErrClientClosed
	}
	return nil
}

// handlePacket routes one incoming packet. It blocks while the client has MaxClientRequests calls in flight, or
// while a stream's input is full: that client stops being read, and nobody else is affected.
func (c *Client) handlePacket(h Header, rt route, body []byte, now time.Time) error {
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
	p := rt.p
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
	c.out.hold(len(body)) // until the reply is queued
	if p == nil {
		go c.reply(&Call{Client: c, Header: h, held: len(body), start: now}, nil, errUnknownProgram(h))
		return nil
	}
	info, entry, known := rt.info, rt.entry, rt.known
	if rt.inline() {
		// No goroutine to start and wake: the reply leaves before the next read, and the call's record is the
		// connection's own, reused call after call.
		c.inline = Call{Client: c, Header: h, program: p, Info: info, held: len(body), start: now}
		c.dispatch(&c.inline, body, entry, known)
		return nil
	}
	go c.dispatch(&Call{Client: c, Header: h, program: p, Info: info, held: len(body), start: now}, body, entry, known)
	return nil
}

// dispatch serves call, whose procedure lookup found entry and known.
func (c *Client) dispatch(call *Call, body []byte, entry *procEntry, known bool) {
	h, p, info := call.Header, call.program, call.Info
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
	case info.Inline:
		out, err = c.invoke(entry, call, body)
	default:
		prio, ok := c.srv.workers.acquire(info.Priority, c.closed)
		if !ok {
			err = ErrClientClosed // nobody is left to answer
			break
		}
		out, err = c.invoke(entry, call, body)
		c.srv.workers.release(prio)
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
	call.buf = getReplyBuf()
	return entry.handle(c.ctx, call, body, (*call.buf)[:HeaderSize])
}

// reply queues the reply to call: out (starting with HeaderSize bytes of room for the header) or err. The call's
// request slot is released once the reply is written, which bounds what a client that does not read can cost.
func (c *Client) reply(call *Call, out []byte, err error) {
	defer c.inflight.Done()
	h := call.Header
	h.Type, h.Status = TypeReply, StatusOK
	c.out.release(call.held)
	if err == nil && len(out) > MaxPacketSize {
		call.encodeErr = fmt.Errorf("reply of %d bytes exceeds the message limit of %d", len(out), MaxPacketSize)
		err = errEncode()
	}
	code := 0
	if err != nil {
		domain := DomainRPC
		if call.program != nil {
			domain = call.program.errDomain
			err = call.program.mapError(err)
		}
		e := AsError(err, domain)
		c.logFailure(call, e)
		code = int(e.Code)
		h.Status = StatusError
		if cap(out) < HeaderSize {
			out = make([]byte, HeaderSize, HeaderSize+256)
		}
		out = append(out[:HeaderSize], MarshalError(e)...)
	}
	if obs := c.srv.callObserver.Load(); obs != nil {
		(*obs)(call.procName(), code, time.Since(call.start))
	}
	putHeader(out, h)
	done := c.releaseSlot
	if call.closeAfter {
		done = func() { c.releaseSlot(); c.Close() }
	}
	for _, st := range call.streams {
		st.accepting.Store(err == nil)
	}
	sent := c.out.pushWrite(outItem{buf: out, kind: pushReply, done: done, recycle: call.buf}) == nil
	call.buf = nil
	for _, st := range call.streams {
		if err == nil && sent {
			st.activate()
		} else {
			st.end(ErrStreamClosed, false)
		}
	}
}

// logFailure says at debug level (log_level 1) which call of which client failed and how, so that an operator can
// see what a client asked for: every failure, NO_SUPPORT answers and timeouts included.
func (c *Client) logFailure(call *Call, e *Error) {
	if !c.log.V(1).Enabled() {
		return
	}
	h := call.Header
	kv := []any{"proc", call.procName(), "number", h.Procedure, "serial", h.Serial,
		"code", int32(e.Code), "error", e.Code.String(), "domain", int32(e.Domain), "message", e.Message}
	if call.Info.API != "" {
		kv = append(kv, "api", call.Info.API)
	}
	if c.peer != nil {
		kv = append(kv, "pid", c.peer.PID, "uid", c.peer.UID)
	}
	if call.decodeErr != nil {
		kv = append(kv, "decodeErr", call.decodeErr.Error())
	}
	if call.encodeErr != nil {
		kv = append(kv, "encodeErr", call.encodeErr.Error())
	}
	c.log.V(1).Info("call failed", kv...)
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
