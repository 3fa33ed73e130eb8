// Package proc reads what the benchmarks measure of a process in /proc: its CPU time and resident memory, and
// when it has come to rest.
package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// HZ is the unit of CPUTicks: USER_HZ, 100 on Linux.
const HZ = 100

// CPUTicks is the process's user and system CPU time so far, in clock ticks of 1/HZ s (0 when it cannot be read).
func CPUTicks(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	k, _ := strconv.ParseUint(f[12], 10, 64)
	return u + k
}

// RSSMiB is the process's resident memory (VmRSS), in MiB.
func RSSMiB(pid int) float64 { return StatusMiB(pid, "VmRSS") }

// StatusMiB is a figure of /proc/PID/status given in kB, in MiB (0 when absent).
func StatusMiB(pid int, key string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				kib, _ := strconv.ParseFloat(f[0], 64)
				return kib / 1024
			}
		}
	}
	return 0
}

// WaitQuiet returns once the process used at most one clock tick of CPU in each of three 2-second windows in a
// row, or after limit: the rule for measuring a daemon at rest (virtxend returns the garbage of a burst of work
// to the system once the burst is over).
func WaitQuiet(pid int, limit time.Duration) {
	for quiet, waited := 0, time.Duration(0); quiet < 3 && waited < limit; waited += 2 * time.Second {
		c := CPUTicks(pid)
		time.Sleep(2 * time.Second)
		if CPUTicks(pid)-c <= 1 {
			quiet++
		} else {
			quiet = 0
		}
	}
}
