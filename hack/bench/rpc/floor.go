package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// echoEnv makes the bench binary, run again with it set to a socket path, a bare echo server on that socket:
// the other end of the round-trip floor.
const echoEnv = "VIRTXEND_BENCH_ECHO"

// serveEcho is the echo process: it answers every read with the same bytes, on one connection.
func serveEcho(path string) error {
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	c, err := l.Accept()
	if err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return err
		}
	}
}

// pingPongFloor measures what no RPC server can beat on this machine: round trips per second of a 28-byte
// packet (an RPC header) between two processes over a Unix socket, one at a time, with nothing done on either side.
// On an idle virtual machine this is bounded by how fast a sleeping vCPU wakes up, not by any code.
func pingPongFloor(ctx context.Context, dir string, dur time.Duration) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	path := filepath.Join(dir, "echo.sock")
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) { // the last round's
		return 0, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), echoEnv+"="+path)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var c net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err = net.Dial("unix", path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("echo server: %w", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer c.Close()
	pkt, back := make([]byte, 28), make([]byte, 28)
	n, start := 0, time.Now()
	for time.Since(start) < dur {
		if _, err := c.Write(pkt); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(c, back); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// virshStartup times `virsh version` against d: starting virsh, connecting and the handful of calls every
// virsh command makes, the part of `virsh list --all` that does not depend on the number of domains.
func virshStartup(ctx context.Context, cfg config, d *daemon) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfg.virsh, "-c", d.uri, "version")
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LIBVIRT_DEFAULT_URI=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return time.Since(start).Seconds(), nil
}
