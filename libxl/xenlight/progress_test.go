//go:build xenlight

package xenlight

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// TestSendProgress feeds the reports libxc writes during a live save of a 4 MiB guest whose physical map is
// 4 GiB (a PVH guest's: the first round counts the holes), two pre-copy rounds, the suspension and the last
// round, with the stream's byte count moving meanwhile, and checks what the job sees after each.
func TestSendProgress(t *testing.T) {
	h := &Hypervisor{pageKiB: 4}
	const page, mem = 4096, 4 << 20
	var sent uint64
	var got []libxl.MigrationProgress
	end := h.progressFor(func(p libxl.MigrationProgress) { got = append(got, p) }, mem/1024, func() uint64 { return sent })
	other := h.progressFor(func(libxl.MigrationProgress) { t.Error("a second send got the first one's reports") }, 1, nil)
	s := h.progress.Load()
	steps := []struct {
		doing       string
		done, total uint64
		sent        uint64
		want        libxl.MigrationProgress
	}{
		{"Frames iteration 0", 0, 1 << 20, 0, libxl.MigrationProgress{Iteration: 1, Processed: 0, Remaining: mem, Total: mem}},
		{"Frames iteration 0", 1024, 1 << 20, 1 << 20, libxl.MigrationProgress{Iteration: 1, Processed: 1 << 20, Remaining: mem - 1<<20, Total: mem}},
		{"Frames iteration 0", 1 << 20, 1 << 20, mem + 8192, libxl.MigrationProgress{Iteration: 1, Processed: mem + 8192, Remaining: 0, Total: mem}},
		{"Frames iteration 1", 10, 40, mem + 50000, libxl.MigrationProgress{Iteration: 2, Processed: mem + 50000, Remaining: 30 * page, Total: mem}},
		{"Domain now suspended", 0, 0, mem + 200000, libxl.MigrationProgress{Iteration: 2, Processed: mem + 200000, Remaining: 30 * page, Total: mem, Suspended: true}},
		{"Frames iteration 2", 5, 5, mem + 230000, libxl.MigrationProgress{Iteration: 3, Processed: mem + 230000, Remaining: 0, Total: mem, Suspended: true}},
		{"Checkpointed save", 1, 1, mem + 230000, libxl.MigrationProgress{}}, // not a copy round: no report
	}
	for i, st := range steps {
		n := len(got)
		sent = st.sent
		s.step(st.doing, st.done, st.total)
		if st.want == (libxl.MigrationProgress{}) {
			if len(got) != n {
				t.Errorf("step %d (%q): reported %+v", i, st.doing, got[len(got)-1])
			}
			continue
		}
		if len(got) != n+1 || got[n] != st.want {
			t.Fatalf("step %d (%q %d/%d): got %+v, want %+v", i, st.doing, st.done, st.total, got[n:], st.want)
		}
	}
	other(true)
	if h.progress.Load() != s {
		t.Fatal("the second send's end took the first one's registration")
	}
	sent = mem + 240000
	end(true)
	if h.progress.Load() != nil {
		t.Fatal("the registration outlived its send")
	}
	if last := got[len(got)-1]; last.Processed != mem+240000 || last.Remaining != 0 {
		t.Errorf("the last report %+v does not say the whole stream was sent", last)
	}
	if h.progressFor(nil, 0, nil)(true); h.progress.Load() != nil {
		t.Fatal("a send without a callback registered one")
	}

	// A save that is not live: suspended first, one round named "Frames".
	got = nil
	end = h.progressFor(func(p libxl.MigrationProgress) { got = append(got, p) }, mem/1024, func() uint64 { return sent })
	s = h.progress.Load()
	sent = 1 << 20
	s.step("Frames", 1024, 1<<20)
	end(false)
	want := libxl.MigrationProgress{Iteration: 1, Processed: 1 << 20, Remaining: mem - 1<<20, Total: mem}
	if len(got) != 1 || got[0] != want {
		t.Errorf("a save that is not live: got %+v, want %+v (and no last report after a failure)", got, want)
	}
}

// TestTCPBytesAcked: the data processed of a migration over TCP is what the peer acknowledged, counted from
// when the stream began.
func TestTCPBytesAcked(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, 1000)); err != nil { // before the stream: not counted
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	sent := tcpBytesAcked(c)
	if sent == nil {
		t.Fatal("no TCP_INFO for a TCP connection")
	}
	if _, err := c.Write(make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	if n := <-got; n != 1000+3<<20 {
		t.Fatalf("the peer read %d bytes", n)
	}
	if n := sent(); n != 3<<20 && n != 3<<20+1 { // the FIN counts as one
		t.Errorf("acknowledged bytes of the stream: %d, want %d", n, 3<<20)
	}
	c.Close()
	if tcpBytesAcked(io.Discard) != nil {
		t.Error("a writer that is no TCP connection has acknowledged bytes")
	}
}
