package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// startPerf records the process pid with perf(1) (call graphs from frame pointers, which Go keeps) into
// dir/NAME.perf.data until the returned function is called, for `perf report -i FILE`: the profile of the daemon
// under one measurement, without any hook in the daemon. It does nothing when dir is empty, and says why on
// stderr when perf cannot run.
func startPerf(dir string, pid int, name string) (stop func()) {
	if dir == "" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench: perf:", err)
		return func() {}
	}
	file := filepath.Join(dir, fileName(name)+".perf.data")
	cmd := exec.Command("perf", "record", "-q", "-g", "-F", "2000", "-p", strconv.Itoa(pid), "-o", file)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: perf:", err)
		return func() {}
	}
	time.Sleep(200 * time.Millisecond) // perf attaches to the threads before the measurement begins
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT) // perf writes its file on SIGINT
		_ = cmd.Wait()
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// fileName turns a measurement's name into a file name.
func fileName(s string) string { return unsafeName.ReplaceAllString(s, "_") }
