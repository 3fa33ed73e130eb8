package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// Image format of SaveDomain and CoreDump:
//
//	magic (16 bytes) | header length (uint32 BE) | header JSON | config length (uint32 BE) | libxl JSON config |
//	memory length (uint32 BE) | simulated memory | SHA-256 of everything before (32 bytes)
//
// The memory is a few KiB standing for the guest's pages, so images stay small whatever the guest's size.
const (
	saveMagic = "XenSimSaveImg\x001\n"
	coreMagic = "XenSimCoreDmp\x001\n"
	// memSample is how much simulated memory an image holds.
	memSample = 4096
	// maxImage bounds what RestoreDomain reads before deciding a file is not an image.
	maxImage = 16 << 20
)

// imageHeader is the guest state an image carries besides its config.
type imageHeader struct {
	DomID     libxl.DomID          `json:"domid"`
	UUID      string               `json:"uuid"`
	Name      string               `json:"name"`
	Type      libxl.DomainType     `json:"type"`
	MaxKiB    uint64               `json:"max_kib"`
	TargetKiB uint64               `json:"target_kib"`
	CurKiB    uint64               `json:"current_kib"`
	Online    []bool               `json:"vcpu_online"`
	State     libxl.State          `json:"state"`
	Reason    libxl.ShutdownReason `json:"shutdown_reason"`
	CPUTime   time.Duration        `json:"cpu_time_ns"`
	Taken     time.Time            `json:"taken"`
}

func (d *domain) imageHeader(now time.Time) imageHeader {
	info := d.info(now)
	return imageHeader{
		DomID: d.id, UUID: d.uuid, Name: d.name, Type: d.typ,
		MaxKiB: d.maxKiB, TargetKiB: d.targetKiB, CurKiB: d.curKiB,
		Online: append([]bool(nil), d.online...), State: d.state, Reason: d.reason,
		CPUTime: info.CPUTime, Taken: now,
	}
}

// encodeImage builds an image: magic, header, config, simulated memory derived from the guest's identity.
func encodeImage(magic string, hdr imageHeader, config json.RawMessage) ([]byte, error) {
	hj, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("encode image header: %w", err)
	}
	mem := make([]byte, 0, memSample)
	seed := sha256.Sum256([]byte(hdr.UUID + hdr.Taken.String()))
	for len(mem) < memSample {
		mem = append(mem, seed[:]...)
		seed = sha256.Sum256(seed[:])
	}
	var b bytes.Buffer
	b.WriteString(magic)
	for _, part := range [][]byte{hj, config, mem} {
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		b.Write(part)
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	return b.Bytes(), nil
}

// errBadImage says why a file is not a usable image.
func errBadImage(path, why string) error {
	return fmt.Errorf("%s is not a valid simulated xen save image: %s: %w", path, why, libxl.ErrInvalid)
}

// decodeImage checks and splits an image read from path.
func decodeImage(path string, data []byte) (imageHeader, json.RawMessage, error) {
	var hdr imageHeader
	if len(data) < len(saveMagic) || string(data[:len(saveMagic)]) != saveMagic {
		return hdr, nil, errBadImage(path, "bad magic")
	}
	if len(data) < len(saveMagic)+3*4+sha256.Size {
		return hdr, nil, errBadImage(path, "truncated")
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	rest := body[len(saveMagic):]
	var parts [3][]byte
	for i := range parts {
		if len(rest) < 4 {
			return hdr, nil, errBadImage(path, "truncated")
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return hdr, nil, errBadImage(path, "truncated")
		}
		parts[i], rest = rest[:n], rest[n:]
	}
	if len(rest) != 0 {
		return hdr, nil, errBadImage(path, "trailing data")
	}
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return hdr, nil, errBadImage(path, "checksum mismatch (corrupt or truncated)")
	}
	if err := json.Unmarshal(parts[0], &hdr); err != nil {
		return hdr, nil, errBadImage(path, "bad header: "+err.Error())
	}
	if len(hdr.Online) == 0 {
		return hdr, nil, errBadImage(path, "no vcpus")
	}
	if !json.Valid(parts[1]) {
		return hdr, nil, errBadImage(path, "bad config")
	}
	return hdr, json.RawMessage(parts[1]), nil
}

// writeImage writes data to path durably: an image is what the guest's life depends on.
func writeImage(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = writeImageTo(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeImageTo writes data at f's offset and makes it durable.
func writeImageTo(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

// SaveDomain suspends a running domain, writes its image to path and destroys it (EventShutdown with reason
// suspend, then EventDeath, as libxl reports a save). A paused domain cannot be saved (libxl.ErrBadState): the
// suspend needs the guest's cooperation, and libvirt's libxl driver refuses it too. If the image cannot be
// written the guest is resumed and keeps running.
func (h *Host) SaveDomain(ctx context.Context, domid libxl.DomID, f *os.File) error {
	path := f.Name()
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	d, err := h.guest(domid)
	if err != nil {
		h.mu.Unlock()
		return fmt.Errorf("save: %w", err)
	}
	if d.state != libxl.StateRunning || d.saving {
		h.mu.Unlock()
		what := d.state.String()
		if d.saving {
			what = "being saved"
		}
		return fmt.Errorf("save: domain %d is %s, it has to be running because the guest must suspend itself: %w",
			domid, what, libxl.ErrBadState)
	}
	now := h.now()
	cfg, err := d.configJSON()
	var img []byte
	if err == nil {
		img, err = encodeImage(saveMagic, d.imageHeader(now), cfg)
	}
	if err != nil {
		h.mu.Unlock()
		return fmt.Errorf("save: %w", err)
	}
	// The guest suspends: nothing else may change it while the image is written without the lock.
	h.pauseShutdown(d, now)
	d.setState(libxl.StateShutdown, now)
	d.reason = libxl.ShutdownSuspend
	d.saving = true
	perr := h.persist(d)
	h.mu.Unlock()

	start, _ := f.Seek(0, io.SeekCurrent)
	werr := writeImageTo(f, img)

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.doms[domid] != d {
		// Destroyed meanwhile, or the daemon is going away: the image, if written, is all that is left.
		if werr != nil {
			return fmt.Errorf("save: domain %d: write %s: %w", domid, path, werr)
		}
		return nil
	}
	d.saving = false
	if werr != nil || perr != nil {
		// libxl_domain_resume: the guest carries on.
		d.reason = libxl.ShutdownUnknown
		d.setState(libxl.StateRunning, h.now())
		h.armShutdown(d, h.now())
		_ = h.persist(d)
		_ = f.Truncate(start) // drop the partial image, keep what the caller wrote before it
		return fmt.Errorf("save: domain %d: write %s: %w", domid, path, errors.Join(werr, perr))
	}
	h.events.Publish(d.event(libxl.EventShutdown, h.now()))
	return h.destroy(d)
}

// RestoreDomain creates a domain from an image written by SaveDomain, with a new domid, running (or paused with
// opts.Paused). cfg is the configuration to restore with (nil: the one in the image); its vcpu count must match
// the image's. A file that is not a complete image fails with libxl.ErrInvalid; memory is checked as for
// CreateDomain.
func (h *Host) RestoreDomain(ctx context.Context, cfg *libxl.DomainConfig, f *os.File, opts libxl.CreateOptions) (libxl.DomID, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	path := f.Name()
	data, err := readImage(f)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	hdr, saved, err := decodeImage(path, data)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	fromImage := cfg == nil
	if fromImage {
		if cfg, err = decodeConfig(saved); err != nil {
			return 0, fmt.Errorf("restore: %s: %w", path, err)
		}
	}
	s, err := resolveConfig(cfg)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	if fromImage {
		// The image's JSON verbatim: it may hold fields (and devices) this build's DomainConfig does not know.
		s.config = saved
		if s.devices, err = devicesFromConfig(saved); err != nil {
			return 0, fmt.Errorf("restore: %s: %w", path, err)
		}
	}
	if len(s.online) != len(hdr.Online) {
		return 0, fmt.Errorf("restore: domain %q has %d vcpus but the image of %q has %d: %w",
			s.name, len(s.online), hdr.Name, len(hdr.Online), libxl.ErrInvalid)
	}
	if s.maxKiB < hdr.CurKiB {
		return 0, fmt.Errorf("restore: domain %q max_memkb %d is below the image's %d KiB: %w",
			s.name, s.maxKiB, hdr.CurKiB, libxl.ErrInvalid)
	}
	s.online = hdr.Online // the guest's own vcpu hotplug state comes back with it
	if err := h.lockCtx(ctx); err != nil {
		return 0, err
	}
	defer h.mu.Unlock()
	d, err := h.build(s, opts)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	return d.id, nil
}

func readImage(f *os.File) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, maxImage+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if len(data) > maxImage {
		return nil, errBadImage(f.Name(), "too large")
	}
	return data, nil
}

// CoreDump writes the domain's memory (a small simulated image with its config) to path; the domain keeps its
// state, whatever it is.
func (h *Host) CoreDump(ctx context.Context, domid libxl.DomID, path string) error {
	if err := h.lockCtx(ctx); err != nil {
		return err
	}
	d, err := h.guest(domid)
	var img []byte
	if err == nil {
		var cfg json.RawMessage
		if cfg, err = d.configJSON(); err == nil {
			img, err = encodeImage(coreMagic, d.imageHeader(h.now()), cfg)
		}
	}
	h.mu.Unlock()
	if err != nil {
		return fmt.Errorf("core dump: %w", err)
	}
	if err := writeImage(path, img); err != nil {
		return fmt.Errorf("core dump: domain %d: %w", domid, err)
	}
	return nil
}
