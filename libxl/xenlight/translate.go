//go:build xenlight

package xenlight

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/virtxend/virtxend/libxl"
)

// Values of libxl enumerations, mirrored (and checked against the C headers in xenlight.go) so that the
// translations below are plain Go.
const (
	eventDomainShutdown = 1 // LIBXL_EVENT_TYPE_DOMAIN_SHUTDOWN
	eventDomainDeath    = 2 // LIBXL_EVENT_TYPE_DOMAIN_DEATH

	domainTypeHVM = 1 // LIBXL_DOMAIN_TYPE_HVM
	domainTypePV  = 2 // LIBXL_DOMAIN_TYPE_PV
	domainTypePVH = 3 // LIBXL_DOMAIN_TYPE_PVH

	// xentoollog levels.
	xtlDebug    = 1
	xtlVerbose  = 2
	xtlDetail   = 3
	xtlProgress = 4
	xtlInfo     = 5
	xtlNotice   = 6
	xtlWarn     = 7
	xtlError    = 8
	xtlCritical = 9
)

// domFlags are the state bits of a libxl_dominfo.
type domFlags struct {
	Running, Blocked, Paused, Shutdown, Dying bool
	// Reason is libxl_dominfo.shutdown_reason, meaningful when Shutdown is set.
	Reason int
}

// state maps libxl_dominfo's flags to the port's state. Dying wins over shutdown, shutdown over paused. A
// crash is StateShutdown with ShutdownCrash, as libxl reports it. Blocked (an idle guest waiting for an
// interrupt) is reported as running, as libvirt's libxl driver does: it is scheduling noise, not a state a
// reconciler acts on, and reporting it would make every listing differ from the previous one.
func (f domFlags) state() (libxl.State, libxl.ShutdownReason) {
	switch {
	case f.Dying:
		return libxl.StateDying, libxl.ShutdownUnknown
	case f.Shutdown:
		return libxl.StateShutdown, shutdownReason(f.Reason)
	case f.Paused:
		return libxl.StatePaused, libxl.ShutdownUnknown
	}
	return libxl.StateRunning, libxl.ShutdownUnknown
}

// shutdownReason maps a libxl_shutdown_reason; the event carries it in a uint8, so -1 arrives as 255.
func shutdownReason(r int) libxl.ShutdownReason {
	if r >= int(libxl.ShutdownPoweroff) && r <= int(libxl.ShutdownSoftRst) {
		return libxl.ShutdownReason(r)
	}
	return libxl.ShutdownUnknown
}

// domainType maps a libxl_domain_type.
func domainType(t int) libxl.DomainType {
	switch t {
	case domainTypeHVM:
		return libxl.DomainTypeHVM
	case domainTypePV:
		return libxl.DomainTypePV
	case domainTypePVH:
		return libxl.DomainTypePVH
	}
	return libxl.DomainTypeInvalid
}

// formatUUID prints a libxl_uuid in canonical form.
func formatUUID(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// xenVersion builds the version from libxl_version_info: xen_version_extra is ".7" or ".7-pre".
func xenVersion(major, minor int, extra string) libxl.Version {
	v := libxl.Version{Major: major, Minor: minor}
	extra = strings.TrimPrefix(extra, ".")
	end := 0
	for end < len(extra) && extra[end] >= '0' && extra[end] <= '9' {
		end++
	}
	v.Micro, _ = strconv.Atoi(extra[:end])
	return v
}

// rawEvent is a libxl_event as the C hook hands it over.
type rawEvent struct {
	Type   int
	DomID  uint32
	Reason int
	UUID   [16]byte
	Token  uint64
}

// translate turns a libxl event into the port's event; ok is false for event types the port does not report.
func (r rawEvent) translate(name string, at time.Time) (ev libxl.Event, ok bool) {
	ev = libxl.Event{DomID: libxl.DomID(r.DomID), UUID: formatUUID(r.UUID), Name: name, Reason: libxl.ShutdownUnknown, Time: at}
	switch r.Type {
	case eventDomainShutdown:
		ev.Type, ev.State, ev.Reason = libxl.EventShutdown, libxl.StateShutdown, shutdownReason(r.Reason)
	case eventDomainDeath:
		ev.Type, ev.State = libxl.EventDeath, libxl.StateDying
	default:
		return ev, false
	}
	return ev, true
}

// xtlVerbosity says how a xentoollog message is logged: as an error, or at a logr verbosity. Warnings are
// Info lines (logr has no warning level); libxl's notices and progress are V(1), its debug output V(2).
func xtlVerbosity(level int) (v int, isError bool) {
	switch {
	case level >= xtlError:
		return 0, true
	case level == xtlWarn:
		return 0, false
	case level >= xtlProgress:
		return 1, false
	}
	return 2, false
}

// xtlMinLevel is the lowest xentoollog level worth a call into Go for this logger.
func xtlMinLevel(log logr.Logger) int {
	switch {
	case log.V(2).Enabled():
		return xtlDebug
	case log.V(1).Enabled():
		return xtlProgress
	}
	return xtlWarn
}

// memoryKiB derives the port's target and maximum from what libxl keeps in xenstore: memory/target (the balloon
// target without video RAM), memory/videoram and memory/static-max, so that the values compare with a
// configuration's b_info.target_memkb and max_memkb and with what SetMemoryTarget and SetMaxMemory were given.
// Missing keys fall back to the hypervisor's view: the current allocation, and max_pages less libxl's slack.
func memoryKiB(target, videoram, staticMax string, currentKiB, maxKiB uint64) (targetKiB, staticMaxKiB uint64) {
	const maxmemSlack = 1024 // LIBXL_MAXMEM_CONSTANT
	targetKiB = currentKiB
	if t, err := strconv.ParseUint(strings.TrimSpace(target), 10, 64); err == nil {
		v, _ := strconv.ParseUint(strings.TrimSpace(videoram), 10, 64)
		targetKiB = t + v
	}
	staticMaxKiB = maxKiB
	if maxKiB >= maxmemSlack {
		staticMaxKiB = maxKiB - maxmemSlack
	}
	if m, err := strconv.ParseUint(strings.TrimSpace(staticMax), 10, 64); err == nil {
		staticMaxKiB = m
	}
	return targetKiB, staticMaxKiB
}

// cpuModel returns the first "model name" of a /proc/cpuinfo.
func cpuModel(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return ""
}

// checkUserdataKey applies libxl's rule: the key becomes part of a file name under /var/lib/xen.
func checkUserdataKey(key string) error {
	if key == "" || strings.ContainsAny(key, "/\x00") {
		return fmt.Errorf("userdata key %q: %w", key, libxl.ErrInvalid)
	}
	return nil
}

// startTime parses /vm/<uuid>/start_time as libxl writes it ("%lu.%02d": seconds and hundredths).
func startTime(s string) time.Time {
	sec, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	hs, _ := strconv.Atoi(frac)
	return time.Unix(n, int64(hs)*int64(10*time.Millisecond))
}
