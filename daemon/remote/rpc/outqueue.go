package rpc

import (
	"errors"
	"net"
	"sync"
)

// ErrSlowClient is what Client.SendEvent returns when it dropped a client whose unread events exceeded
// Options.MaxQueuedEventBytes.
var ErrSlowClient = errors.New("rpc: client dropped: it does not read its events")

// ErrClientClosed is what sending to a client that is gone returns.
var ErrClientClosed = errors.New("rpc: client connection closed")

// pushKind says how the queue treats a packet when the client reads slowly.
type pushKind int

const (
	// pushReply is always queued: replies are bounded by the client's request slots, which are released only
	// once their reply is written.
	pushReply pushKind = iota
	// pushEvent is queued unless the client already has too many unread events; then the client is dropped, so
	// that publishing an event never waits for a slow reader.
	pushEvent
	// pushStream waits (see waitRoom) for the queue to drain below the stream window before being queued.
	pushStream
)

// streamWindow is how many queued bytes a stream writer waits for before adding more.
const streamWindow = 1 << 20

type outItem struct {
	buf   []byte
	kind  pushKind
	done  func() // run once the packet is written, or when the connection closes before that
	event bool
}

// outQueue is a client's outgoing packets, written in order by one writer goroutine so that concurrent replies,
// events and stream data never interleave.
type outQueue struct {
	eventLimit int

	mu         sync.Mutex
	items      []outItem
	bytes      int
	eventBytes int
	closed     bool
	wake       chan struct{} // the writer waits on it
	room       chan struct{} // closed and replaced whenever bytes leave the queue
}

func newOutQueue(eventLimit int) *outQueue {
	return &outQueue{eventLimit: eventLimit, wake: make(chan struct{}, 1), room: make(chan struct{})}
}

// push queues it. It fails when the queue is closed or, for an event, full; it.done then runs at once.
func (q *outQueue) push(it outItem) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		runDone(it)
		return ErrClientClosed
	}
	if it.kind == pushEvent {
		if q.eventBytes+len(it.buf) > q.eventLimit {
			q.mu.Unlock()
			runDone(it)
			return ErrSlowClient
		}
		q.eventBytes += len(it.buf)
		it.event = true
	}
	q.items = append(q.items, it)
	q.bytes += len(it.buf)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// waitRoom blocks until fewer than streamWindow bytes are queued, the queue closes, or cancel is closed.
func (q *outQueue) waitRoom(cancel <-chan struct{}) error {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClientClosed
		}
		if q.bytes < streamWindow {
			q.mu.Unlock()
			return nil
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-cancel:
			return ErrClientClosed
		}
	}
}

// take waits for packets and removes them all from the queue; it returns nil once the queue is closed.
func (q *outQueue) take() []outItem {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil
		}
		if len(q.items) > 0 {
			items := q.items
			q.items = nil
			q.mu.Unlock()
			return items
		}
		q.mu.Unlock()
		<-q.wake
	}
}

// written accounts for items that left the process and runs their done funcs.
func (q *outQueue) written(items []outItem) {
	n, ev := 0, 0
	for _, it := range items {
		n += len(it.buf)
		if it.event {
			ev += len(it.buf)
		}
	}
	q.mu.Lock()
	q.bytes -= n
	q.eventBytes -= ev
	q.signalRoomLocked()
	q.mu.Unlock()
	for _, it := range items {
		runDone(it)
	}
}

// close stops the queue; packets still queued are dropped and their done funcs run.
func (q *outQueue) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	items := q.items
	q.items = nil
	q.signalRoomLocked()
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	for _, it := range items {
		runDone(it)
	}
}

// signalRoomLocked wakes the stream writers waiting in waitRoom.
func (q *outQueue) signalRoomLocked() {
	close(q.room)
	q.room = make(chan struct{})
}

func runDone(it outItem) {
	if it.done != nil {
		it.done()
	}
}

// writeLoop writes queued packets to nc until the queue closes or a write fails; batches go out in one writev.
func (q *outQueue) writeLoop(nc net.Conn, onError func(error)) {
	for {
		items := q.take()
		if items == nil {
			return
		}
		bufs := make(net.Buffers, len(items))
		for i, it := range items {
			bufs[i] = it.buf
		}
		_, err := bufs.WriteTo(nc)
		q.written(items)
		if err != nil {
			onError(err)
			q.close()
			return
		}
	}
}
