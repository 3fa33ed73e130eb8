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
	// pushReply is always queued: call replies, keepalive messages, stream control. What bounds them is the
	// connection's budget (waitBudget): the client's input is not read while its queue is over it, so a client
	// can only make the daemon queue more by reading what it was sent.
	pushReply pushKind = iota
	// pushEvent is queued unless the client already has too many unread events; then the client is dropped, so
	// that publishing an event never waits for a slow reader.
	pushEvent
	// pushStream waits (see waitRoom) for the queue to drain below the stream window before being queued.
	pushStream
)

// streamWindow is how many queued bytes a stream writer waits for before adding more.
const streamWindow = 1 << 20

// itemOverhead is what a queued packet costs beyond its bytes (its queue entry and allocation rounding), so that
// the budget also bounds a flood of tiny packets such as keepalive PONGs.
const itemOverhead = 64

type outItem struct {
	buf   []byte
	kind  pushKind
	done  func() // run once the packet is written, or when the connection closes before that
	event bool
	// recycle, when set, is the replyBufs entry buf came from: it goes back there once buf is written.
	recycle *[]byte
}

// replyBufs recycles the buffers replies are built in, once written: a busy connection makes one per call, and
// most are small. Buffers that grew past maxRecycled are left to the garbage collector.
var replyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxRecycled = 64 << 10

func getReplyBuf() *[]byte { return replyBufs.Get().(*[]byte) }

// cost is what the item counts against the connection's budget.
func (it outItem) cost() int { return len(it.buf) + itemOverhead }

// outQueue is a client's outgoing packets, written in order by one writer at a time so that concurrent replies,
// events and stream data never interleave. The writer is the queue's writer goroutine (writeLoop) or, when the
// connection is idle, the goroutine of a call whose reply was just queued (pushWrite).
//
// It also keeps the connection's memory account: the cost of the queued packets plus the bytes of the calls being
// served (hold, release), which the reader checks against the budget before it reads more (waitBudget).
type outQueue struct {
	eventLimit int
	nc         net.Conn
	onError    func(error) // called once a write failed

	mu         sync.Mutex
	items      []outItem
	bytes      int // cost of the queued items
	held       int // bytes of the calls being served (hold, release)
	peak       int // the highest bytes+held seen
	eventBytes int
	closed     bool
	writing    bool          // a writer holds the connection: it writes until the queue is empty
	wake       chan struct{} // the writer goroutine waits on it
	room       chan struct{} // closed when bytes leave the queue, for waitRoom; nil while nobody waits
	spare      []outItem     // an emptied items array, reused by the next batch
	bufs       net.Buffers   // the writer's writev vector, reused
	vec        net.Buffers   // what WriteTo consumes, a field so that it needs no allocation
	gather     []byte        // the writer's buffer for a burst of small packets, reused
}

// maxGathered bounds the bytes of a batch of packets copied into one buffer for a single write; a larger batch
// is written with writev.
const maxGathered = 16 << 10

func newOutQueue(eventLimit int, nc net.Conn, onError func(error)) *outQueue {
	return &outQueue{eventLimit: eventLimit, nc: nc, onError: onError, wake: make(chan struct{}, 1)}
}

// push queues it for the writer goroutine. It fails when the queue is closed or, for an event, full; it.done then
// runs at once. It never waits for the client.
func (q *outQueue) push(it outItem) error {
	if err := q.enqueue(it); err != nil {
		return err
	}
	q.signal()
	return nil
}

// pushWrite queues a call's reply like push and, when no writer holds the connection, writes the queue on the
// calling goroutine: the reply leaves without a hand-off to the writer goroutine, the cheapest round trip. It may
// wait for the client to read; the caller is the call's own goroutine, whose request slot is held until its reply
// is written anyway.
func (q *outQueue) pushWrite(it outItem) error {
	if err := q.enqueue(it); err != nil {
		return err
	}
	q.mu.Lock()
	if q.writing || q.closed {
		q.mu.Unlock()
		q.signal() // the writer that holds the connection writes it; a closed queue already ran it.done
		return nil
	}
	q.writing = true
	q.mu.Unlock()
	q.drain()
	return nil
}

// signal wakes the writer goroutine.
func (q *outQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// enqueue adds it to the queue, or runs it.done and fails when the queue is closed or, for an event, full.
func (q *outQueue) enqueue(it outItem) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		runDone(it)
		return ErrClientClosed
	}
	if it.kind == pushEvent {
		if q.eventBytes+it.cost() > q.eventLimit {
			q.mu.Unlock()
			runDone(it)
			return ErrSlowClient
		}
		q.eventBytes += it.cost()
		it.event = true
	}
	q.items = append(q.items, it)
	q.bytes += it.cost()
	q.peak = max(q.peak, q.bytes+q.held)
	q.mu.Unlock()
	return nil
}

// hold counts n bytes of a call being served against the budget; release gives them back.
func (q *outQueue) hold(n int) {
	q.mu.Lock()
	q.held += n
	q.peak = max(q.peak, q.bytes+q.held)
	q.mu.Unlock()
}

func (q *outQueue) release(n int) {
	if n == 0 {
		return
	}
	q.mu.Lock()
	q.held -= n
	q.signalRoomLocked()
	q.mu.Unlock()
}

// usage returns the bytes the connection holds now (queued and being served) and the most it ever held.
func (q *outQueue) usage() (now, peak int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes + q.held, q.peak
}

// waitBudget blocks until the connection holds so little that n more bytes fit within budget, or holds nothing
// at all (a single packet is always admitted, so that a maximum-size call works with any budget), the queue
// closes, or cancel is closed.
func (q *outQueue) waitBudget(n, budget int, cancel <-chan struct{}) error {
	return q.waitUntil(func() bool {
		used := q.bytes + q.held
		return used == 0 || used+n <= budget
	}, cancel)
}

// waitRoom blocks until fewer than streamWindow bytes are queued, the queue closes, or cancel is closed.
func (q *outQueue) waitRoom(cancel <-chan struct{}) error {
	return q.waitUntil(func() bool { return q.bytes < streamWindow }, cancel)
}

// waitUntil blocks until ok (called with q.mu held) holds, the queue closes, or cancel is closed.
func (q *outQueue) waitUntil(ok func() bool, cancel <-chan struct{}) error {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClientClosed
		}
		if ok() {
			q.mu.Unlock()
			return nil
		}
		if q.room == nil {
			q.room = make(chan struct{})
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

// written accounts for items that left the process and runs their done funcs.
func (q *outQueue) written(items []outItem) {
	n, ev := 0, 0
	for _, it := range items {
		n += it.cost()
		if it.event {
			ev += it.cost()
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
	q.signal()
	for _, it := range items {
		runDone(it)
	}
}

// signalRoomLocked wakes the goroutines waiting for the queue to shrink (waitUntil).
func (q *outQueue) signalRoomLocked() {
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}

// runDone runs it.done, and recycles its buffer: it is written, or will never be.
func runDone(it outItem) {
	if it.done != nil {
		it.done()
	}
	if it.recycle != nil && cap(it.buf) <= maxRecycled {
		*it.recycle = it.buf[:0]
		replyBufs.Put(it.recycle)
	}
}

// writeLoop is the writer goroutine: whenever packets wait and no other writer holds the connection, it takes the
// connection and writes them. It returns once the queue is closed or a write failed.
func (q *outQueue) writeLoop() {
	for {
		q.mu.Lock()
		for !q.closed && (q.writing || len(q.items) == 0) {
			q.mu.Unlock()
			<-q.wake
			q.mu.Lock()
		}
		if q.closed {
			q.mu.Unlock()
			return
		}
		q.writing = true
		q.mu.Unlock()
		if !q.drain() {
			return
		}
	}
}

// drain is the writer holding the connection: it writes the queued packets, a batch in one write, until the queue
// is empty, and then lets go of the connection. It reports false when the queue closed or a write failed (which
// closes the queue and reports the error).
func (q *outQueue) drain() bool {
	for {
		q.mu.Lock()
		if q.closed || len(q.items) == 0 {
			q.writing = false
			closed := q.closed
			q.mu.Unlock()
			return !closed
		}
		items := q.items
		q.items, q.spare = q.spare, nil
		q.mu.Unlock()
		var err error
		total := 0
		for _, it := range items {
			total += len(it.buf)
		}
		switch {
		case len(items) == 1:
			_, err = q.nc.Write(items[0].buf) // the common case: one reply, one write
		case total <= maxGathered:
			// A burst of small packets (replies to pipelined calls, events): gathered into one write.
			b := q.gather[:0]
			for _, it := range items {
				b = append(b, it.buf...)
			}
			_, err = q.nc.Write(b)
			if q.gather = b[:0]; cap(b) > 4<<10 {
				q.gather = nil // an idle connection keeps little
			}
		default:
			vec := q.bufs[:0]
			for _, it := range items {
				vec = append(vec, it.buf)
			}
			q.vec = vec // WriteTo consumes the slice it is called on; vec keeps the array
			_, err = q.vec.WriteTo(q.nc)
			clear(vec)
			q.bufs, q.vec = vec[:0], nil
		}
		q.written(items)
		clear(items)
		q.mu.Lock()
		if q.spare == nil && cap(items) <= 64 {
			q.spare = items[:0]
		}
		q.mu.Unlock()
		if err != nil {
			q.onError(err)
			q.close()
			return false
		}
	}
}
