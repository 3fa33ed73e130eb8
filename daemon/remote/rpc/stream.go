package rpc

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// ErrStreamAborted is what Stream.Read returns after the client aborted the stream.
var ErrStreamAborted = errors.New("rpc: stream aborted by the client")

// ErrStreamClosed is what Stream methods return once the stream is over: finished, aborted, or its client gone.
var ErrStreamClosed = errors.New("rpc: stream closed")

// streamInWindow bounds the bytes a stream buffers from its client before the client is no longer read.
const streamInWindow = 1 << 20

type streamKey struct {
	prog   uint32
	proc   int32
	serial uint32
}

// Stream is a data stream opened by a call (DOMAIN_OPEN_CONSOLE, DOMAIN_SCREENSHOT, ...). It travels as STREAM
// packets carrying the procedure and serial of that call, in both directions:
//
//   - Write sends data (status CONTINUE); nothing leaves before the call's reply. CloseWrite sends the end of
//     the data (an empty CONTINUE), after which the client confirms with a finish.
//   - Read returns the client's data, then io.EOF once the client finishes (an empty packet with status OK,
//     which the server confirms in kind), or ErrStreamAborted when the client aborts (status ERROR, which the
//     server answers with an error).
//   - Abort ends the stream from the server side with an error the client reports.
//
// Both directions are flow controlled: Write waits while the client's outgoing queue is full, and the client's
// packets are no longer read while Read lags more than a window behind.
type Stream struct {
	c   *Client
	key streamKey
	hdr Header

	ready     chan struct{} // closed once the call's reply is queued
	readyOne  sync.Once
	accepting atomic.Bool // set just before the reply is queued: the client may answer at once

	mu       sync.Mutex
	in       [][]byte
	inBytes  int
	inEOF    bool
	inErr    error
	inWake   chan struct{} // signalled when data or an end arrives
	inRoom   chan struct{} // closed and replaced when Read consumes data
	wroteEOF bool

	done    chan struct{}
	doneErr error
	endOnce sync.Once
}

// OpenStream opens the stream of this call. Open it in the handler, before returning the reply; the stream
// carries data only if the call succeeds. Pump it from other goroutines: the handler must return for the reply
// (and then the data) to go out.
func (call *Call) OpenStream() *Stream {
	h := call.Header
	st := &Stream{
		c:      call.Client,
		key:    streamKey{prog: h.Program, proc: h.Procedure, serial: h.Serial},
		hdr:    Header{Program: h.Program, Version: h.Version, Procedure: h.Procedure, Type: TypeStream, Serial: h.Serial},
		ready:  make(chan struct{}),
		inWake: make(chan struct{}, 1),
		inRoom: make(chan struct{}),
		done:   make(chan struct{}),
	}
	c := call.Client
	c.mu.Lock()
	if old := c.streams[st.key]; old != nil {
		c.mu.Unlock()
		old.end(ErrStreamClosed, false)
		c.mu.Lock()
	}
	c.streams[st.key] = st
	c.mu.Unlock()
	call.streams = append(call.streams, st)
	return st
}

func (s *Stream) activate() { s.readyOne.Do(func() { close(s.ready) }) }

// Done returns a channel closed when the stream is over.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns why the stream ended: nil while it runs and after the client's finish, ErrStreamAborted when the
// client aborted it, ErrClientClosed when the client left, ErrStreamClosed when the server ended it.
func (s *Stream) Err() error {
	select {
	case <-s.done:
		return s.doneErr
	default:
		return nil
	}
}

func (s *Stream) waitReady() error {
	select {
	case <-s.ready:
		select {
		case <-s.done:
			return ErrStreamClosed
		default:
			return nil
		}
	case <-s.done:
		return ErrStreamClosed
	}
}

// Write sends p to the client in STREAM packets of at most MaxStreamChunk bytes. It waits for the call's reply
// to be queued first, so it must not be called from the handler itself.
func (s *Stream) Write(p []byte) (int, error) {
	if err := s.waitReady(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), MaxStreamChunk)]
		if err := s.send(StatusContinue, chunk, pushStream); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// CloseWrite tells the client that no more data follows (libvirt's empty CONTINUE). The stream stays open until
// the client finishes or aborts it.
func (s *Stream) CloseWrite() error {
	if err := s.waitReady(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.wroteEOF {
		s.mu.Unlock()
		return nil
	}
	s.wroteEOF = true
	s.mu.Unlock()
	return s.send(StatusContinue, nil, pushStream)
}

// Abort ends the stream with err (an *Error, or anything else as an internal error), which the client reports.
// Like Write, it waits for the call's reply to be queued; a handler that cannot serve the stream returns an
// error instead.
func (s *Stream) Abort(err error) error {
	if werr := s.waitReady(); werr != nil {
		return werr
	}
	e := AsError(err, DomainStreams)
	send := s.send(StatusError, MarshalError(e), pushReply)
	s.end(ErrStreamClosed, false)
	return send
}

// Close releases the stream. A stream the client has not finished is aborted, so that the client does not wait.
func (s *Stream) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	select {
	case <-s.ready:
		return s.Abort(NewError(CodeRPC, DomainStreams, "stream closed by the daemon"))
	default:
		s.end(ErrStreamClosed, false)
		return nil
	}
}

// Read reads the client's data.
func (s *Stream) Read(p []byte) (int, error) {
	for {
		s.mu.Lock()
		if len(s.in) > 0 {
			n := copy(p, s.in[0])
			if n == len(s.in[0]) {
				s.in = s.in[1:]
			} else {
				s.in[0] = s.in[0][n:]
			}
			s.inBytes -= n
			close(s.inRoom)
			s.inRoom = make(chan struct{})
			s.mu.Unlock()
			return n, nil
		}
		switch {
		case s.inEOF:
			s.mu.Unlock()
			return 0, io.EOF
		case s.inErr != nil:
			err := s.inErr
			s.mu.Unlock()
			return 0, err
		}
		s.mu.Unlock()
		select {
		case <-s.inWake:
		case <-s.done:
			s.mu.Lock()
			more := len(s.in) > 0 || s.inEOF
			s.mu.Unlock()
			if !more {
				return 0, s.readErr()
			}
		}
	}
}

func (s *Stream) readErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inErr != nil {
		return s.inErr
	}
	return ErrStreamClosed
}

func (s *Stream) send(status Status, body []byte, kind pushKind) error {
	if kind == pushStream {
		if err := s.c.out.waitRoom(s.done); err != nil {
			return ErrStreamClosed
		}
		select {
		case <-s.done:
			return ErrStreamClosed
		default:
		}
	}
	h := s.hdr
	h.Status = status
	pkt, err := AppendPacket(make([]byte, 0, HeaderSize+len(body)), h, body)
	if err != nil {
		return err
	}
	if err := s.c.out.push(outItem{buf: pkt, kind: pushReply}); err != nil {
		return ErrStreamClosed
	}
	return nil
}

// end marks the stream over and forgets it; readable data already received stays readable.
func (s *Stream) end(err error, clean bool) {
	s.endOnce.Do(func() {
		if clean {
			err = nil
		}
		s.mu.Lock()
		if s.inErr == nil && !s.inEOF && err != nil {
			s.inErr = err
		}
		s.mu.Unlock()
		s.doneErr = err
		close(s.done)
		s.c.mu.Lock()
		if s.c.streams[s.key] == s {
			delete(s.c.streams, s.key)
		}
		s.c.mu.Unlock()
	})
}

// routeStream hands a client's STREAM packet to its stream; packets for no open stream are dropped, as libvirt
// drops data arriving after a stream closed.
func (c *Client) routeStream(h Header, body []byte) {
	key := streamKey{prog: h.Program, proc: h.Procedure, serial: h.Serial}
	c.mu.Lock()
	s := c.streams[key]
	c.mu.Unlock()
	if s != nil && !s.accepting.Load() {
		s = nil // the client cannot know about the stream before the reply
	}
	if s == nil || h.Type != TypeStream {
		c.log.V(1).Info("dropping stream data for no open stream", "header", h.String())
		return
	}
	switch h.Status {
	case StatusContinue:
		if len(body) > 0 {
			s.deliver(body)
		}
	case StatusOK:
		s.mu.Lock()
		s.inEOF = true
		s.mu.Unlock()
		s.wakeReader()
		_ = s.send(StatusOK, nil, pushReply)
		s.end(nil, true)
	default:
		s.mu.Lock()
		s.inErr = ErrStreamAborted
		s.mu.Unlock()
		s.wakeReader()
		_ = s.send(StatusError, MarshalError(NewError(CodeRPC, DomainStreams, "stream aborted at client request")), pushReply)
		s.end(ErrStreamAborted, false)
	}
}

// deliver queues data for Read, waiting while a window of it is unread.
func (s *Stream) deliver(data []byte) {
	for {
		s.mu.Lock()
		if s.inBytes < streamInWindow {
			s.in = append(s.in, data)
			s.inBytes += len(data)
			s.mu.Unlock()
			s.wakeReader()
			return
		}
		room := s.inRoom
		s.mu.Unlock()
		select {
		case <-room:
		case <-s.done:
			return
		case <-s.c.closed:
			return
		}
	}
}

func (s *Stream) wakeReader() {
	select {
	case s.inWake <- struct{}{}:
	default:
	}
}
