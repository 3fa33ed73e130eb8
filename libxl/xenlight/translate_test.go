//go:build xenlight

package xenlight

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/virtxend/virtxend/libxl"
)

func TestDomainState(t *testing.T) {
	tests := []struct {
		name   string
		flags  domFlags
		state  libxl.State
		reason libxl.ShutdownReason
	}{
		{"running", domFlags{Running: true}, libxl.StateRunning, libxl.ShutdownUnknown},
		{"blocked is running", domFlags{Blocked: true}, libxl.StateRunning, libxl.ShutdownUnknown},
		{"neither (runnable)", domFlags{}, libxl.StateRunning, libxl.ShutdownUnknown},
		{"paused", domFlags{Paused: true, Blocked: true}, libxl.StatePaused, libxl.ShutdownUnknown},
		{"poweroff", domFlags{Shutdown: true, Reason: 0}, libxl.StateShutdown, libxl.ShutdownPoweroff},
		{"reboot", domFlags{Shutdown: true, Reason: 1}, libxl.StateShutdown, libxl.ShutdownReboot},
		{"suspend", domFlags{Shutdown: true, Reason: 2, Paused: true}, libxl.StateShutdown, libxl.ShutdownSuspend},
		{"crash", domFlags{Shutdown: true, Reason: 3}, libxl.StateShutdown, libxl.ShutdownCrash},
		{"watchdog", domFlags{Shutdown: true, Reason: 4}, libxl.StateShutdown, libxl.ShutdownWatchdog},
		{"soft reset", domFlags{Shutdown: true, Reason: 5}, libxl.StateShutdown, libxl.ShutdownSoftRst},
		{"unknown reason", domFlags{Shutdown: true, Reason: 42}, libxl.StateShutdown, libxl.ShutdownUnknown},
		{"dying wins", domFlags{Dying: true, Shutdown: true, Paused: true}, libxl.StateDying, libxl.ShutdownUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, r := tt.flags.state()
			if st != tt.state || r != tt.reason {
				t.Errorf("state() = %v, %v; want %v, %v", st, r, tt.state, tt.reason)
			}
		})
	}
}

func TestEventTranslation(t *testing.T) {
	at := time.Unix(1700000000, 0)
	uuid := [16]byte{0x03, 0x9e, 0x9e, 0xe6, 0x4a, 0x84, 0x30, 0x55, 0x4c, 0x81, 0x8b, 0xa4, 0x26, 0xae, 0x26, 0x56}
	tests := []struct {
		name string
		raw  rawEvent
		want libxl.Event
		ok   bool
	}{
		{"shutdown poweroff", rawEvent{Type: eventDomainShutdown, DomID: 7, Reason: 0, UUID: uuid},
			libxl.Event{Type: libxl.EventShutdown, DomID: 7, State: libxl.StateShutdown, Reason: libxl.ShutdownPoweroff}, true},
		{"shutdown crash", rawEvent{Type: eventDomainShutdown, DomID: 7, Reason: 3, UUID: uuid},
			libxl.Event{Type: libxl.EventShutdown, DomID: 7, State: libxl.StateShutdown, Reason: libxl.ShutdownCrash}, true},
		{"shutdown reason -1 as uint8", rawEvent{Type: eventDomainShutdown, DomID: 7, Reason: 255, UUID: uuid},
			libxl.Event{Type: libxl.EventShutdown, DomID: 7, State: libxl.StateShutdown, Reason: libxl.ShutdownUnknown}, true},
		{"death", rawEvent{Type: eventDomainDeath, DomID: 9, Reason: -1, UUID: uuid},
			libxl.Event{Type: libxl.EventDeath, DomID: 9, State: libxl.StateDying, Reason: libxl.ShutdownUnknown}, true},
		{"disk eject is not reported", rawEvent{Type: 3, DomID: 9, UUID: uuid}, libxl.Event{}, false},
		{"operation complete is not reported", rawEvent{Type: 4, DomID: 9, UUID: uuid}, libxl.Event{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, ok := tt.raw.translate("web", at)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			tt.want.UUID, tt.want.Name, tt.want.Time = "039e9ee6-4a84-3055-4c81-8ba426ae2656", "web", at
			if ev != tt.want {
				t.Errorf("translate() = %+v\nwant %+v", ev, tt.want)
			}
		})
	}
}

func TestDomainType(t *testing.T) {
	for in, want := range map[int]libxl.DomainType{
		domainTypeHVM: libxl.DomainTypeHVM, domainTypePV: libxl.DomainTypePV, domainTypePVH: libxl.DomainTypePVH,
		-1: libxl.DomainTypeInvalid,
	} {
		if got := domainType(in); got != want {
			t.Errorf("domainType(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestXenVersion(t *testing.T) {
	tests := []struct {
		extra string
		want  libxl.Version
	}{
		{".3", libxl.Version{Major: 4, Minor: 17, Micro: 3}},
		{".7-pre", libxl.Version{Major: 4, Minor: 17, Micro: 7}},
		{"", libxl.Version{Major: 4, Minor: 17}},
		{"-rc", libxl.Version{Major: 4, Minor: 17}},
	}
	for _, tt := range tests {
		if got := xenVersion(4, 17, tt.extra); got != tt.want {
			t.Errorf("xenVersion(4, 17, %q) = %+v, want %+v", tt.extra, got, tt.want)
		}
	}
}

func TestMemoryKiB(t *testing.T) {
	tests := []struct {
		name                      string
		target, video, staticMax  string
		cur, max                  uint64
		wantTarget, wantStaticMax uint64
	}{
		{"pv", "524288", "", "1048576", 524000, 1049600, 524288, 1048576},
		{"hvm adds video ram back", "507904", "16384", "524288", 520000, 541696, 524288, 524288},
		{"keys missing: hypervisor view", "", "", "", 524000, 525312, 524000, 524288},
		{"garbage", "x", "y", "z", 1000, 500, 1000, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk, mk := memoryKiB(tt.target, tt.video, tt.staticMax, tt.cur, tt.max)
			if tk != tt.wantTarget || mk != tt.wantStaticMax {
				t.Errorf("memoryKiB = %d, %d; want %d, %d", tk, mk, tt.wantTarget, tt.wantStaticMax)
			}
		})
	}
}

func TestXtlLevels(t *testing.T) {
	tests := []struct {
		level int
		v     int
		isErr bool
	}{
		{xtlDebug, 2, false}, {xtlVerbose, 2, false}, {xtlDetail, 2, false},
		{xtlProgress, 1, false}, {xtlInfo, 1, false}, {xtlNotice, 1, false},
		{xtlWarn, 0, false}, {xtlError, 0, true}, {xtlCritical, 0, true},
	}
	for _, tt := range tests {
		if v, isErr := xtlVerbosity(tt.level); v != tt.v || isErr != tt.isErr {
			t.Errorf("xtlVerbosity(%d) = %d, %v; want %d, %v", tt.level, v, isErr, tt.v, tt.isErr)
		}
	}
	logAt := func(v int) logr.Logger {
		return funcr.New(func(string, string) {}, funcr.Options{Verbosity: v})
	}
	for v, want := range map[int]int{0: xtlWarn, 1: xtlProgress, 2: xtlDebug, 5: xtlDebug} {
		if got := xtlMinLevel(logAt(v)); got != want {
			t.Errorf("xtlMinLevel(verbosity %d) = %d, want %d", v, got, want)
		}
	}
	if got := xtlMinLevel(logr.Discard()); got != xtlWarn {
		t.Errorf("xtlMinLevel(discard) = %d, want %d", got, xtlWarn)
	}
}

func TestCPUModel(t *testing.T) {
	in := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: QEMU Virtual CPU version 2.5+\nmodel name\t: other\n"
	if got := cpuModel(strings.NewReader(in)); got != "QEMU Virtual CPU version 2.5+" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel(strings.NewReader("flags: fpu\n")); got != "" {
		t.Errorf("cpuModel without a model = %q", got)
	}
}

func TestStartTime(t *testing.T) {
	if got, want := startTime("1700000000.25"), time.Unix(1700000000, 250*int64(time.Millisecond)); !got.Equal(want) {
		t.Errorf("startTime = %v, want %v", got, want)
	}
	for _, s := range []string{"", "x", "-5.00", "0.00"} {
		if got := startTime(s); !got.IsZero() {
			t.Errorf("startTime(%q) = %v, want zero", s, got)
		}
	}
}

func TestUserdataKey(t *testing.T) {
	for _, k := range []string{"virtxend", "libvirt-xml", "a.b"} {
		if err := checkUserdataKey(k); err != nil {
			t.Errorf("checkUserdataKey(%q) = %v", k, err)
		}
	}
	for _, k := range []string{"", "a/b", "a\x00"} {
		if err := checkUserdataKey(k); !errors.Is(err, libxl.ErrInvalid) {
			t.Errorf("checkUserdataKey(%q) = %v, want ErrInvalid", k, err)
		}
	}
}

func TestFormatUUID(t *testing.T) {
	var nilUUID [16]byte
	if got := formatUUID(nilUUID); got != "00000000-0000-0000-0000-000000000000" {
		t.Errorf("formatUUID(nil) = %q", got)
	}
}
