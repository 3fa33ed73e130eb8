package rpc

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
)

// Replies written by their calls' goroutines (pushWrite) and events queued for the writer goroutine (push) share
// one connection: every packet must arrive whole and exactly once, whoever wrote it.
func TestOutQueueWritersNeverInterleave(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	var failed error
	q := newOutQueue(1<<30, server, func(err error) { failed = err })
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); q.writeLoop() }()

	const writers, each = 8, 200
	packet := func(w, k int) []byte {
		b := make([]byte, 8+w*37) // sizes differ between writers
		binary.BigEndian.PutUint32(b, uint32(len(b)))
		binary.BigEndian.PutUint32(b[4:], uint32(w<<16|k))
		return b
	}
	var released sync.WaitGroup
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				it := outItem{buf: packet(w, k)}
				if w%2 == 0 { // a reply: its done func runs once it is written
					released.Add(1)
					it.done = released.Done
					if err := q.pushWrite(it); err != nil {
						t.Error(err)
					}
				} else if err := q.push(outItem{buf: it.buf, kind: pushEvent}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	next := make([]int, writers)
	for range writers * each {
		var h [8]byte
		if _, err := io.ReadFull(client, h[:]); err != nil {
			t.Fatal(err)
		}
		n, id := binary.BigEndian.Uint32(h[:]), binary.BigEndian.Uint32(h[4:])
		w, k := int(id>>16), int(id&0xffff)
		if w >= writers || n != uint32(8+w*37) {
			t.Fatalf("a packet of %d bytes claims to be writer %d's: the stream is interleaved", n, w)
		}
		if k != next[w] {
			t.Fatalf("writer %d: packet %d arrived when %d was due", w, k, next[w])
		}
		next[w]++
		if _, err := io.CopyN(io.Discard, client, int64(n-8)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	released.Wait() // every reply's done func ran
	q.close()
	<-writerDone
	if failed != nil {
		t.Fatal(failed)
	}
}
