package secondary

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// finishWait bounds how long a bridge waits for the daemon to confirm the end of a stream it already
// confirmed to the client.
const finishWait = 30 * time.Second

// streamed reports the secondary procedures that open a data stream.
func streamed(proc int32) bool {
	return proc == rpc.ProcStorageVolUpload || proc == rpc.ProcStorageVolDownload
}

// forwardStream forwards a call that opens a stream (vol-upload, vol-download) and, once the daemon accepted it,
// bridges the stream's packets between the client and the daemon until either side ends it.
func (f *Forwarder) forwardStream(ctx context.Context, call *rpc.Call, u *upstream, body []byte, running *sync.WaitGroup) ([]byte, error) {
	serial, reply, in, err := u.begin(true)
	if err != nil {
		return nil, err
	}
	out, err := u.roundTrip(ctx, call.Header.Procedure, serial, body, reply)
	if err != nil {
		u.end(serial)
		return nil, err
	}
	b := &bridge{u: u, serial: serial, proc: call.Header.Procedure, st: call.OpenStream(), in: in}
	running.Add(1)
	go func() {
		defer running.Done()
		defer u.end(serial)
		if b.proc == rpc.ProcStorageVolUpload {
			b.upload()
		} else {
			b.download()
		}
	}()
	return out, nil
}

// bridge is one stream between a client (st) and a daemon (the packets of serial on u).
type bridge struct {
	u      *upstream
	serial uint32
	proc   int32
	st     *rpc.Stream
	in     chan packet
}

// send sends a STREAM packet of the bridged call to the daemon.
func (b *bridge) send(status rpc.Status, body []byte) error {
	return b.u.write(rpc.Header{Program: rpc.ProgramRemote, Version: rpc.ProtocolVersion, Procedure: b.proc,
		Type: rpc.TypeStream, Serial: b.serial, Status: status}, body)
}

// download relays the daemon's data to the client; the client's finish (or abort) goes back to the daemon.
func (b *bridge) download() {
	for {
		select {
		case p := <-b.in:
			if p.h.Type != rpc.TypeStream {
				continue // holes of sparse streams are not relayed; the rpc layer drops them too
			}
			switch p.h.Status {
			case rpc.StatusContinue:
				var err error
				if len(p.body) > 0 {
					_, err = b.st.Write(p.body)
				} else {
					err = b.st.CloseWrite() // the end of the data; the client's finish follows
				}
				if err != nil {
					_ = b.send(rpc.StatusError, nil)
					return
				}
			case rpc.StatusError:
				_ = b.st.Abort(streamError(p.body))
				return
			default: // a finish the client did not ask for: end it
				_ = b.st.Close()
				return
			}
		case <-b.st.Done():
			b.finish()
			return
		case <-b.u.done:
			_ = b.st.Abort(b.u.failure())
			return
		}
	}
}

// upload relays the client's data to the daemon, then the client's finish (or abort); an error the daemon sends
// meanwhile aborts the client's stream.
func (b *bridge) upload() {
	pumped := make(chan bool, 1) // whether the daemon is to confirm a finish
	go func() {
		buf := make([]byte, rpc.MaxStreamChunk)
		for {
			n, err := b.st.Read(buf)
			if n > 0 {
				if werr := b.send(rpc.StatusContinue, buf[:n]); werr != nil {
					_ = b.st.Abort(werr)
					pumped <- false
					return
				}
			}
			switch {
			case errors.Is(err, io.EOF):
				pumped <- b.sendEnd()
				return
			case err != nil:
				_ = b.send(rpc.StatusError, nil)
				pumped <- false
				return
			}
		}
	}()
	confirmed := false
	for {
		select {
		case p := <-b.in:
			switch {
			case p.h.Type != rpc.TypeStream:
			case p.h.Status == rpc.StatusError:
				_ = b.st.Abort(streamError(p.body))
			case p.h.Status == rpc.StatusOK:
				confirmed = true
			}
		case expect := <-pumped:
			if expect && !confirmed {
				b.waitConfirm()
			}
			return
		case <-b.u.done:
			_ = b.st.Abort(b.u.failure())
			<-pumped
			return
		}
	}
}

// finish passes the client's end of the stream on and waits for the daemon's confirmation, so that the daemon is
// done with the stream before the bridge forgets it.
func (b *bridge) finish() {
	if b.sendEnd() {
		b.waitConfirm()
	}
}

// sendEnd sends the daemon a finish when the client finished, an abort otherwise, and reports whether a
// confirmation is to come.
func (b *bridge) sendEnd() bool {
	if err := b.st.Err(); err != nil && !errors.Is(err, io.EOF) {
		_ = b.send(rpc.StatusError, nil)
		return false
	}
	return b.send(rpc.StatusOK, nil) == nil
}

// waitConfirm waits, for a while, for the daemon to confirm the end of the stream.
func (b *bridge) waitConfirm() {
	timer := time.NewTimer(finishWait)
	defer timer.Stop()
	for {
		select {
		case p := <-b.in:
			if p.h.Type == rpc.TypeStream && p.h.Status != rpc.StatusContinue {
				return
			}
		case <-b.u.done:
			return
		case <-timer.C:
			return
		}
	}
}

// streamError decodes the error a daemon ended a stream with.
func streamError(body []byte) error {
	e, err := rpc.UnmarshalError(body)
	if err != nil {
		return rpc.NewError(rpc.CodeRPC, rpc.DomainStreams, "stream aborted by the secondary driver")
	}
	return e
}
