//go:build xenlight

package xenlight

/*
#include "vx.h"
*/
import "C"

import (
	"errors"
	"runtime/cgo"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// The functions below are called from C (vx.c) on whatever thread is inside libxl at the time, often with
// libxl's context lock held: they must not call libxl, and must not wait for anything that might.

//export vxGoLog
func vxGoLog(handle C.uintptr_t, level, errnoval C.int, context, msg *C.char) {
	h := cgo.Handle(handle).Value().(*Hypervisor)
	text := strings.TrimRight(C.GoString(msg), "\n")
	kv := []any{"source", C.GoString(context)}
	var err error
	if errnoval > 0 {
		err = syscall.Errno(errnoval)
		kv = append(kv, "errno", err.Error())
	}
	v, isErr := xtlVerbosity(int(level))
	switch {
	case isErr:
		if err == nil {
			err = errLibxlLog
		}
		h.log().Error(err, text, kv[:2]...)
	case v == 0:
		h.log().Info(text, append(kv, "level", "warning")...)
	default:
		h.log().V(v).Info(text, kv...)
	}
}

//export vxGoProgress
func vxGoProgress(handle C.uintptr_t, doing *C.char, done, total C.ulong) {
	h := cgo.Handle(handle).Value().(*Hypervisor)
	if s := h.progress.Load(); s != nil {
		s.step(C.GoString(doing), uint64(done), uint64(total))
	}
}

// errLibxlLog is the error of an error-level libxl message that carries no errno.
var errLibxlLog = errors.New("libxl reported an error")

//export vxGoEvent
func vxGoEvent(handle C.uintptr_t, typ C.int, domid C.uint32_t, reason C.int, uuid *C.uchar, token C.uint64_t) {
	h := cgo.Handle(handle).Value().(*Hypervisor)
	r := rawEvent{Type: int(typ), DomID: uint32(domid), Reason: int(reason), Token: uint64(token)}
	copy(r.UUID[:], unsafe.Slice((*byte)(unsafe.Pointer(uuid)), 16))
	h.onEvent(r)
}

//export vxGoDisaster
func vxGoDisaster(handle C.uintptr_t, typ C.int, msg *C.char, errnoval C.int) {
	h := cgo.Handle(handle).Value().(*Hypervisor)
	var err error = errLibxlLog
	if errnoval > 0 {
		err = syscall.Errno(errnoval)
	}
	h.log().Error(err, "libxl event machinery disaster: domain events may have been lost",
		"detail", C.GoString(msg), "eventType", int(typ))
	h.events.Lost(time.Now())
}
