package sim

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// Migration stream of SendDomain and ReceiveDomain:
//
//	magic (16 bytes) | version (uint32 BE) | records...
//	record: type (1 byte) | length (uint64 BE) | payload
//
// A recPages record stands for guest pages (zeros: sparse pages are fine, the byte count is what matters), so a
// 1 GiB guest moves 1 GiB and takes the time the link needs. Rounds follow libxl's live migration: all memory
// while the guest runs, then the pages it dirtied meanwhile, shrinking, then the guest is suspended and the last
// pages, the guest's state (recFinal) and recEnd, which carries the page bytes sent, follow. A stream without
// recEnd, or whose first round does not cover the guest's memory, is refused.
const (
	migMagic = "XenSimMigStream\n"

	recPages byte = 2
	recFinal byte = 3
	recEnd   byte = 4

	// migChunk is the payload of one recPages record.
	migChunk = 1 << 20
	// migRounds bounds the live rounds; migDirtyShift is how much each round shrinks (1/8 of the previous).
	migRounds     = 5
	migDirtyShift = 3
	// migStopCopy is the dirty memory below which the guest is suspended for the final round.
	migStopCopy = 4 << 20
	// maxMigRecord bounds a non-page record.
	maxMigRecord = 16 << 20
)

// migFinal is the guest state sent once the guest is suspended.
type migFinal struct {
	Header imageHeader     `json:"header"`
	Config json.RawMessage `json:"config"`
	// FirstRound is the bytes of the first round: the whole memory.
	FirstRound uint64 `json:"first_round"`
}

var zeroPages = make([]byte, migChunk)

// writeRecordHeader writes a record's type and length.
func writeRecordHeader(w io.Writer, typ byte, n uint64) error {
	var b [9]byte
	b[0] = typ
	binary.BigEndian.PutUint64(b[1:], n)
	_, err := w.Write(b[:])
	return err
}

// migLinks holds, per Host, how the simulated link of each domain's migration behaves (SetMigrationBandwidth,
// CutMigration): a test's slow or broken network.
var migLinks sync.Map // *Host → *migLink

type migLink struct {
	mu        sync.Mutex
	bandwidth map[libxl.DomID]uint64 // bytes per second; absent: as fast as the stream goes
	cut       map[libxl.DomID]bool
}

func (h *Host) link() *migLink {
	if v, ok := migLinks.Load(h); ok {
		return v.(*migLink)
	}
	v, _ := migLinks.LoadOrStore(h, &migLink{bandwidth: map[libxl.DomID]uint64{}, cut: map[libxl.DomID]bool{}})
	return v.(*migLink)
}

// SetMigrationBandwidth limits the migration sends of domid, the one in flight included, to bytesPerSec (0 lifts
// the limit), as a slow link would: a test makes a migration last long enough to watch or interrupt it.
func (h *Host) SetMigrationBandwidth(domid libxl.DomID, bytesPerSec uint64) {
	l := h.link()
	l.mu.Lock()
	defer l.mu.Unlock()
	if bytesPerSec == 0 {
		delete(l.bandwidth, domid)
	} else {
		l.bandwidth[domid] = bytesPerSec
	}
}

// CutMigration breaks the migration send of domid in flight (or the next one) at its next page record, as a
// network failure would: the send fails, and the caller closes the stream.
func (h *Host) CutMigration(domid libxl.DomID) {
	l := h.link()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut[domid] = true
}

// errLinkCut is the failure of a send whose link CutMigration broke.
var errLinkCut = errors.New("migration link cut (injected)")

// pace is called before each page record of domid's send: it fails if the link was cut and waits as long as
// the bandwidth limit asks for c bytes.
func (h *Host) pace(ctx context.Context, domid libxl.DomID, c uint64) error {
	v, ok := migLinks.Load(h)
	if !ok {
		return nil
	}
	l := v.(*migLink)
	l.mu.Lock()
	cut, bw := l.cut[domid], l.bandwidth[domid]
	delete(l.cut, domid)
	l.mu.Unlock()
	if cut {
		return errLinkCut
	}
	if bw == 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(float64(c) / float64(bw) * float64(time.Second)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// sendPages writes n bytes of pages in recPages records, telling progress after each; before each, pace may
// fail or wait.
func sendPages(ctx context.Context, w io.Writer, n uint64, pace func(c uint64) error, prog func(sent uint64)) error {
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := min(n, migChunk)
		if err := pace(c); err != nil {
			return err
		}
		if err := writeRecordHeader(w, recPages, c); err != nil {
			return err
		}
		if _, err := w.Write(zeroPages[:c]); err != nil {
			return err
		}
		n -= c
		prog(c)
	}
	return nil
}

// SendDomain sends a running domain to w (see libxl.Migrator). The guest runs during the live rounds; it is
// suspended (StateShutdown, reason suspend, as libxl leaves it) for the final one and stays so on success. A
// failure before the end, or ctx ending, resumes it.
func (h *Host) SendDomain(ctx context.Context, domid libxl.DomID, w io.Writer, opts libxl.SendOptions) error {
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	d, err := h.guest(domid)
	if err == nil && (d.state != libxl.StateRunning || d.saving) {
		err = fmt.Errorf("domain %d is %s, it has to be running because the guest must suspend itself: %w", domid, d.state, libxl.ErrBadState)
	}
	var total uint64
	if err == nil {
		total = d.curKiB << 10
	}
	h.mu.Unlock()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	var sent uint64
	progress := func(it int, remaining uint64, suspended bool) {
		if opts.Progress != nil {
			opts.Progress(libxl.MigrationProgress{Iteration: it, Processed: sent, Remaining: remaining, Total: total, Suspended: suspended})
		}
	}
	var hdr [20]byte
	copy(hdr[:], migMagic)
	binary.BigEndian.PutUint32(hdr[16:], libxl.MigrationStreamVersion)
	if _, err := bw.Write(hdr[:]); err != nil {
		return fmt.Errorf("migrate: domain %d: send: %w", domid, err)
	}
	pace := func(c uint64) error { return h.pace(ctx, domid, c) }
	round, it := total, 1
	if opts.Live {
		for ; it <= migRounds && round > migStopCopy; it++ {
			left := round
			if err := sendPages(ctx, bw, round, pace, func(c uint64) { sent += c; left -= c; progress(it, left, false) }); err != nil {
				return fmt.Errorf("migrate: domain %d: send round %d: %w", domid, it, err)
			}
			round >>= migDirtyShift
		}
	}
	// The final round: the guest suspends itself.
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	if h.doms[domid] != d || d.state != libxl.StateRunning || d.saving {
		h.mu.Unlock()
		return fmt.Errorf("migrate: domain %d changed while its memory was sent: %w", domid, libxl.ErrBadState)
	}
	now := h.now()
	cfg, err := d.configJSON()
	fin := migFinal{Header: d.imageHeader(now), Config: cfg, FirstRound: total}
	h.pauseShutdown(d, now)
	d.setState(libxl.StateShutdown, now)
	d.reason = libxl.ShutdownSuspend
	d.saving = true
	perr := h.persist(d)
	h.mu.Unlock()
	progress(it, round, true)

	werr := errors.Join(err, perr)
	if werr == nil {
		left := round
		werr = sendPages(ctx, bw, round, pace, func(c uint64) { sent += c; left -= c; progress(it, left, true) })
	}
	if werr == nil {
		werr = writeJSONRecord(bw, recFinal, fin)
	}
	if werr == nil {
		if werr = writeRecordHeader(bw, recEnd, 8); werr == nil {
			_, werr = bw.Write(binary.BigEndian.AppendUint64(nil, sent))
		}
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if werr != nil {
		if rerr := h.resume(d); rerr != nil {
			werr = errors.Join(werr, rerr)
		}
		return fmt.Errorf("migrate: domain %d: send final round: %w", domid, werr)
	}
	h.mu.Lock()
	if h.doms[domid] == d {
		d.saving = false // suspended, resumable or destroyable
		h.events.Publish(d.event(libxl.EventShutdown, h.now()))
	}
	h.mu.Unlock()
	return nil
}

func writeJSONRecord(w io.Writer, typ byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := writeRecordHeader(w, typ, uint64(len(b))); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// resume makes a domain SendDomain suspended run again; false reports it was not suspended.
func (h *Host) resume(d *domain) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.doms[d.id] != d {
		return fmt.Errorf("resume: domain %d: %w", d.id, libxl.ErrNoDomain)
	}
	if d.state != libxl.StateShutdown || d.reason != libxl.ShutdownSuspend {
		return fmt.Errorf("resume: domain %d is %s, not suspended: %w", d.id, d.state, libxl.ErrBadState)
	}
	now := h.now()
	d.saving = false
	d.reason = libxl.ShutdownUnknown
	d.setState(libxl.StateRunning, now)
	h.armShutdown(d, now)
	h.events.Publish(d.event(libxl.EventStateChanged, now))
	return h.persist(d)
}

// ResumeDomain lets a domain SendDomain left suspended run again (libxl_domain_resume).
func (h *Host) ResumeDomain(ctx context.Context, domid libxl.DomID) error {
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	d, err := h.guest(domid)
	h.mu.Unlock()
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	return h.resume(d)
}

// errBadStream says why a migration stream is unusable.
func errBadStream(why string) error {
	return fmt.Errorf("migration stream is not a valid simulated xen stream: %s: %w", why, libxl.ErrInvalid)
}

// ReceiveDomain reads a stream SendDomain wrote and builds the domain, paused, with cfg (nil: the stream's own
// configuration). Nothing is built unless the stream is complete.
func (h *Host) ReceiveDomain(ctx context.Context, cfg *libxl.DomainConfig, r io.Reader, opts libxl.ReceiveOptions) (libxl.DomID, error) {
	if v := opts.StreamVersion; v > libxl.MigrationStreamVersion {
		return 0, fmt.Errorf("receive: stream version %d is newer than %d: %w", v, libxl.MigrationStreamVersion, libxl.ErrInvalid)
	}
	br := bufio.NewReaderSize(r, 256<<10)
	var hdr [20]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, fmt.Errorf("receive: %w", errBadStream("no header: "+err.Error()))
	}
	if string(hdr[:16]) != migMagic {
		return 0, fmt.Errorf("receive: %w", errBadStream("bad magic"))
	}
	var pages uint64
	var fin *migFinal
	for {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("receive: %w", err)
		}
		var rh [9]byte
		if _, err := io.ReadFull(br, rh[:]); err != nil {
			return 0, fmt.Errorf("receive: %w", errBadStream("truncated after "+fmt.Sprint(pages)+" bytes of pages"))
		}
		n := binary.BigEndian.Uint64(rh[1:])
		switch rh[0] {
		case recPages:
			if n > migChunk {
				return 0, fmt.Errorf("receive: %w", errBadStream("page record too large"))
			}
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				return 0, fmt.Errorf("receive: %w", errBadStream("truncated page record"))
			}
			pages += n
		case recFinal:
			if n > maxMigRecord || fin != nil {
				return 0, fmt.Errorf("receive: %w", errBadStream("bad final record"))
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(br, b); err != nil {
				return 0, fmt.Errorf("receive: %w", errBadStream("truncated final record"))
			}
			fin = &migFinal{}
			if err := json.Unmarshal(b, fin); err != nil {
				return 0, fmt.Errorf("receive: %w", errBadStream("bad final record: "+err.Error()))
			}
		case recEnd:
			var b [8]byte
			if n != 8 {
				return 0, fmt.Errorf("receive: %w", errBadStream("bad end record"))
			}
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return 0, fmt.Errorf("receive: %w", errBadStream("truncated end record"))
			}
			if fin == nil || binary.BigEndian.Uint64(b[:]) != pages || pages < fin.FirstRound || fin.FirstRound < fin.Header.CurKiB<<10 {
				return 0, fmt.Errorf("receive: %w", errBadStream(fmt.Sprintf("incomplete: %d bytes of pages", pages)))
			}
			return h.receiveBuild(ctx, cfg, fin, opts)
		default:
			return 0, fmt.Errorf("receive: %w", errBadStream(fmt.Sprintf("unknown record type %d", rh[0])))
		}
	}
}

// receiveBuild builds the paused domain a complete stream describes.
func (h *Host) receiveBuild(ctx context.Context, cfg *libxl.DomainConfig, fin *migFinal, opts libxl.ReceiveOptions) (libxl.DomID, error) {
	var err error
	fromStream := cfg == nil
	if fromStream {
		if cfg, err = decodeConfig(fin.Config); err != nil {
			return 0, fmt.Errorf("receive: %w", err)
		}
	}
	s, err := resolveConfig(cfg)
	if err != nil {
		return 0, fmt.Errorf("receive: %w", err)
	}
	if fromStream {
		s.config = fin.Config
		if s.devices, err = devicesFromConfig(fin.Config); err != nil {
			return 0, fmt.Errorf("receive: %w", err)
		}
	}
	if len(s.online) != len(fin.Header.Online) {
		return 0, fmt.Errorf("receive: domain %q has %d vcpus but the stream has %d: %w",
			s.name, len(s.online), len(fin.Header.Online), libxl.ErrInvalid)
	}
	s.online = fin.Header.Online
	copts := opts.CreateOptions
	copts.Paused = true
	if err := h.lockCtx(ctx); err != nil {
		return 0, err
	}
	defer h.mu.Unlock()
	d, err := h.build(s, copts)
	if err != nil {
		return 0, fmt.Errorf("receive: %w", err)
	}
	return d.id, nil
}

var _ libxl.Migrator = (*Host)(nil)
