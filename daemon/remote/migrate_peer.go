package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// peer is the source daemon's own connection to the destination's daemon in a peer-to-peer migration (libvirt's
// remote driver, reduced to what libxlDoMigrateSrcP2P calls): calls, keepalive, and one upload stream.
type peer struct {
	nc  net.Conn
	wmu sync.Mutex

	mu      sync.Mutex
	serial  uint32
	calls   map[uint32]chan peerReply
	streams map[uint32]chan error
	err     error
	closed  chan struct{}
	once    sync.Once

	lastRecv atomic.Int64
}

type peerReply struct {
	hdr  rpc.Header
	body []byte
}

// dialPeer connects to a libvirt URI (xen:///system, xen+unix:///system?socket=P, xen+tcp://HOST[:PORT]/system)
// and opens it.
func dialPeer(ctx context.Context, dconnuri string, interval time.Duration, count int) (*peer, error) {
	u, err := url.Parse(dconnuri)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", dconnuri, err)
	}
	network, addr := "unix", "/var/run/libvirt/virtxend-sock"
	switch u.Scheme {
	case "xen", "xen+unix":
		if s := u.Query().Get("socket"); s != "" {
			addr = s
		}
	case "xen+tcp":
		network, addr = "tcp", u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "16509")
		}
	default:
		return nil, fmt.Errorf("unsupported transport in %q", dconnuri)
	}
	nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	p := &peer{nc: nc, calls: map[uint32]chan peerReply{}, streams: map[uint32]chan error{}, closed: make(chan struct{})}
	p.lastRecv.Store(time.Now().UnixNano())
	go p.readLoop()
	path := u.Path
	if path == "" {
		path = "/system"
	}
	if err := p.call(ctx, rpc.ProcConnectOpen, &libvirt.ConnectOpenArgs{Name: libvirt.OptString{"xen://" + path}}, nil); err != nil {
		p.Close()
		return nil, err
	}
	if interval > 0 {
		var ka libvirt.ConnectSupportsFeatureRet
		if err := p.call(ctx, rpc.ProcConnectSupportsFeature, &libvirt.ConnectSupportsFeatureArgs{Feature: rpc.FeatureProgramKeepalive}, &ka); err == nil && ka.Supported != 0 {
			go p.keepalive(interval, count)
		}
	}
	return p, nil
}

// Close ends the connection.
func (p *peer) Close() { p.fail(errors.New("connection closed")) }

func (p *peer) fail(err error) {
	p.once.Do(func() {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.closed)
		p.nc.Close()
	})
}

func (p *peer) readLoop() {
	buf := make([]byte, 64<<10)
	for {
		h, body, err := rpc.ReadPacket(p.nc, buf)
		if err != nil {
			p.fail(fmt.Errorf("read from the destination: %w", err))
			return
		}
		p.lastRecv.Store(time.Now().UnixNano())
		switch {
		case h.Program == rpc.ProgramKeepalive && h.Procedure == rpc.ProcKeepalivePing:
			_ = p.write(rpc.Header{Program: rpc.ProgramKeepalive, Version: 1, Procedure: rpc.ProcKeepalivePong, Type: rpc.TypeMessage}, nil)
		case h.Type == rpc.TypeReply:
			p.mu.Lock()
			ch := p.calls[h.Serial]
			delete(p.calls, h.Serial)
			p.mu.Unlock()
			if ch != nil {
				ch <- peerReply{hdr: h, body: append([]byte(nil), body...)}
			}
		case h.Type == rpc.TypeStream && h.Status != rpc.StatusContinue:
			var serr error
			if h.Status == rpc.StatusError {
				serr = errors.New("the destination aborted the stream")
				if e, uerr := rpc.UnmarshalError(body); uerr == nil {
					serr = e
				}
			}
			p.mu.Lock()
			ch := p.streams[h.Serial]
			delete(p.streams, h.Serial)
			p.mu.Unlock()
			if ch != nil {
				ch <- serr
			}
		}
	}
}

// keepalive pings the destination while the connection is idle and drops it after count unanswered intervals,
// as libvirt's keepalive does on the migration connection.
func (p *peer) keepalive(interval time.Duration, count int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.closed:
			return
		case <-t.C:
		}
		idle := time.Since(time.Unix(0, p.lastRecv.Load()))
		if count > 0 && idle > interval*time.Duration(count+1) {
			p.fail(fmt.Errorf("no keepalive answer from the destination for %s", idle.Round(time.Second)))
			return
		}
		if idle >= interval {
			_ = p.write(rpc.Header{Program: rpc.ProgramKeepalive, Version: 1, Procedure: rpc.ProcKeepalivePing, Type: rpc.TypeMessage}, nil)
		}
	}
}

func (p *peer) write(h rpc.Header, body []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return rpc.WritePacket(p.nc, h, body)
}

// start sends a call and returns its serial and the channel of its reply.
func (p *peer) start(proc int32, args any) (uint32, chan peerReply, error) {
	body, err := rpc.Marshal(args)
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan peerReply, 1)
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return 0, nil, p.err
	}
	p.serial++
	s := p.serial
	p.calls[s] = ch
	p.mu.Unlock()
	h := rpc.Header{Program: rpc.ProgramRemote, Version: rpc.ProtocolVersion, Procedure: proc, Type: rpc.TypeCall, Serial: s}
	if err := p.write(h, body); err != nil {
		return 0, nil, err
	}
	return s, ch, nil
}

// wait waits for the reply of a call and decodes it into ret; an error reply is returned as the peer's error.
func (p *peer) wait(ctx context.Context, ch chan peerReply, ret any) error {
	select {
	case r := <-ch:
		if r.hdr.Status == rpc.StatusError {
			e, err := rpc.UnmarshalError(r.body)
			if err != nil {
				return err
			}
			return e
		}
		if ret == nil {
			return nil
		}
		return rpc.Unmarshal(r.body, ret)
	case <-p.closed:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *peer) call(ctx context.Context, proc int32, args, ret any) error {
	if args == nil {
		args = &struct{}{}
	}
	_, ch, err := p.start(proc, args)
	if err != nil {
		return err
	}
	return p.wait(ctx, ch, ret)
}

// peerStream is the upload half of a stream opened by a call: Write sends data, finish ends it.
type peerStream struct {
	p    *peer
	hdr  rpc.Header
	done chan error
}

// openStream makes a call that opens an upload stream, waits for its reply, and returns the stream.
func (p *peer) openStream(ctx context.Context, proc int32, args, ret any) (*peerStream, error) {
	s, ch, err := p.start(proc, args)
	if err != nil {
		return nil, err
	}
	st := &peerStream{p: p, hdr: rpc.Header{Program: rpc.ProgramRemote, Version: rpc.ProtocolVersion, Procedure: proc,
		Type: rpc.TypeStream, Serial: s, Status: rpc.StatusContinue}, done: make(chan error, 1)}
	p.mu.Lock()
	p.streams[s] = st.done
	p.mu.Unlock()
	if err := p.wait(ctx, ch, ret); err != nil {
		return nil, err
	}
	return st, nil
}

func (s *peerStream) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		select {
		case err := <-s.done:
			if err == nil {
				err = errors.New("the destination ended the stream")
			}
			s.done <- err
			return n, err
		default:
		}
		c := b[:min(len(b), rpc.MaxStreamChunk)]
		if err := s.p.write(s.hdr, c); err != nil {
			return n, err
		}
		n += len(c)
		b = b[len(c):]
	}
	return n, nil
}

// finish ends the stream (status OK) and waits for the destination to confirm it.
func (s *peerStream) finish(ctx context.Context) error {
	h := s.hdr
	h.Status = rpc.StatusOK
	if err := s.p.write(h, nil); err != nil {
		return err
	}
	select {
	case err := <-s.done:
		return err
	case <-s.p.closed:
		return s.p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// abort tells the destination the stream failed.
func (s *peerStream) abort() {
	h := s.hdr
	h.Status = rpc.StatusError
	_ = s.p.write(h, nil)
}

// migrateP2P is libxlDomainMigrationSrcPerformP2P and libxlDoMigrateSrcP2P: the source drives the whole
// migration over its own connection to the destination.
func (f *Facade) migrateP2P(ctx context.Context, w libvirt.Domain, dconnuri string, params []libvirt.TypedParam, flags uint32) error {
	// Once begun, the migration is this daemon's to finish or roll back, whatever becomes of its caller:
	// domjobabort stops it, and keepalive a dead destination.
	ctx = context.WithoutCancel(ctx)
	d, obj, unlock, err := f.lockedSaveTarget(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	domXML, cookie, err := f.migrateBegin(ctx, d, params)
	if err != nil {
		return err
	}
	dc, err := dialPeer(ctx, dconnuri, f.Migration.Keepalive, f.Migration.KeepaliveCount)
	if err != nil {
		return errMigrationFailed("Failed to connect to remote libvirt URI %s: %v", dconnuri, err)
	}
	defer dc.Close()
	var sup libvirt.ConnectSupportsFeatureRet
	if err := dc.call(ctx, rpc.ProcConnectSupportsFeature, &libvirt.ConnectSupportsFeatureArgs{Feature: rpc.FeatureMigrationParams}, &sup); err != nil || sup.Supported == 0 {
		return errMigrationFailed("Destination libvirt does not support migration with extensible parameters")
	}
	dname := paramString(params, paramDestName)
	dparams := []libvirt.TypedParam{rpc.NewTypedParam(paramDestXML, typeString, domXML)}
	if dname != "" {
		dparams = append(dparams, rpc.NewTypedParam(paramDestName, typeString, dname))
	}
	if uri := paramString(params, paramURI); uri != "" {
		dparams = append(dparams, rpc.NewTypedParam(paramURI, typeString, uri))
	}
	destflags := flags &^ migratePeer2Peer
	destName := dname
	if destName == "" {
		destName = d.Name
	}
	var sendErr error
	if flags&migrateTunnelled != 0 {
		var st *peerStream
		st, sendErr = dc.openStream(ctx, rpc.ProcDomainMigratePrepareTunnel3Params,
			&libvirt.DomainMigratePrepareTunnel3ParamsArgs{Params: dparams, CookieIn: cookie, Flags: destflags}, &libvirt.DomainMigratePrepareTunnel3ParamsRet{})
		if sendErr != nil {
			_, err := f.confirmLocked(ctx, d, obj, flags, true) // prepared nothing: the source just goes on
			return err
		}
		if _, sendErr = f.sendTo(ctx, d, obj, st, flags, dconnuri, destName); sendErr == nil {
			sendErr = st.finish(ctx)
		} else {
			st.abort()
		}
	} else {
		var ret libvirt.DomainMigratePrepare3ParamsRet
		if err := dc.call(ctx, rpc.ProcDomainMigratePrepare3Params,
			&libvirt.DomainMigratePrepare3ParamsArgs{Params: dparams, CookieIn: cookie, Flags: destflags}, &ret); err != nil {
			return err
		}
		uriOut, _ := optString(ret.UriOut)
		if uriOut == "" {
			sendErr = rpc.NewError(rpc.CodeInternalError, rpc.DomainLibxl, "domainMigratePrepare3 did not set uri")
		} else {
			_, sendErr = f.migrateSendTCP(ctx, d, obj, uriOut, flags, dconnuri, destName)
		}
	}
	if dname == "" {
		dparams = append(dparams, rpc.NewTypedParam(paramDestName, typeString, d.Name))
	}
	var fret libvirt.DomainMigrateFinish3ParamsRet
	finErr := dc.call(ctx, rpc.ProcDomainMigrateFinish3Params, &libvirt.DomainMigrateFinish3ParamsArgs{
		Params: dparams, Flags: destflags, Cancelled: int32(boolInt(sendErr != nil))}, &fret)
	cancelled := sendErr != nil || finErr != nil
	migrated, cerr := f.confirmLocked(context.WithoutCancel(ctx), d, obj, flags, cancelled)
	switch {
	case migrated: // Finish's answer was lost, but the destination runs the domain
		return cerr
	case sendErr != nil:
		return sendErr
	case finErr != nil:
		return finErr
	}
	return cerr
}

// resolveMigration asks the destination of a migration what became of it (controllers.Migrations.Resolve): it
// cancels the incoming migration if the destination still holds it unfinished (Finish with cancelled, as the
// source's caller would), then reads the domain's state there.
func (f *Facade) resolveMigration(ctx context.Context, e controllers.JournalEntry) (controllers.MigrationOutcome, error) {
	dc, err := dialPeer(ctx, e.Peer, 0, 0)
	if err != nil {
		return controllers.OutcomeUnknown, fmt.Errorf("connect to the destination %s: %w", e.Peer, err)
	}
	defer dc.Close()
	dname := e.DestName
	if dname == "" {
		dname = e.Name
	}
	params := []libvirt.TypedParam{rpc.NewTypedParam(paramDestName, typeString, dname)}
	ferr := dc.call(ctx, rpc.ProcDomainMigrateFinish3Params, &libvirt.DomainMigrateFinish3ParamsArgs{Params: params, Cancelled: 1}, &libvirt.DomainMigrateFinish3ParamsRet{})
	var answer *rpc.Error
	if ferr != nil && (!errors.As(ferr, &answer) || answer.Code == rpc.CodeOperationInvalid) {
		// The connection failed, or the destination is settling the migration itself: ask again later.
		return controllers.OutcomeUnknown, ferr
	}
	var look libvirt.DomainLookupByUUIDRet
	if err := dc.call(ctx, rpc.ProcDomainLookupByUUID, &libvirt.DomainLookupByUUIDArgs{UUID: wireUUID(e.UUID)}, &look); err != nil {
		if rpc.CodeOf(err) == rpc.CodeNoDomain {
			return controllers.OutcomeSource, nil
		}
		return controllers.OutcomeUnknown, err
	}
	var st libvirt.DomainGetStateRet
	if err := dc.call(ctx, rpc.ProcDomainGetState, &libvirt.DomainGetStateArgs{Dom: look.Dom}, &st); err != nil {
		return controllers.OutcomeUnknown, err
	}
	const (
		stateRunning, stateBlocked, statePaused = 1, 2, 3 // virDomainState
		pausedMigration                         = 2       // VIR_DOMAIN_PAUSED_MIGRATION
	)
	switch {
	case st.State == statePaused && st.Reason == pausedMigration:
		return controllers.OutcomeUnknown, errors.New("the destination holds the domain paused for the switch-over")
	case st.State == stateRunning || st.State == stateBlocked || st.State == statePaused:
		return controllers.OutcomeDestination, nil
	}
	return controllers.OutcomeSource, nil
}

// migrateSendTCP connects to the tcp://HOST:PORT the destination prepared and sends the domain there.
func (f *Facade) migrateSendTCP(ctx context.Context, d *dom, obj *v1alpha1.XenDomain, uri string, flags uint32, peer, dname string) (*controllers.MigrationJob, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Hostname() == "" || u.Port() == "" {
		return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "unable to parse URI: %s", uri)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, rpc.Errorf(rpc.CodeSystemError, rpc.DomainRPC, "unable to connect to server at '%s': %v", u.Host, err)
	}
	defer conn.Close()
	return f.sendTo(ctx, d, obj, conn, flags, peer, dname)
}
