// Command virtxend is the Xen management daemon: it serves libvirt's Xen (libxl) driver on the local sockets.
// See virtxend(8) and the README.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/virtxend/virtxend/daemon"
)

// version is stamped at build time (-ldflags "-X main.version=...").
var version = "0.1.0-dev"

// Environment: the development switch that lifts the root requirement (the simulated host only), and the
// marker a daemonized child is started with.
const (
	envAllowNonRoot = "VIRTXEND_ALLOW_NONROOT"
	envDaemonChild  = "VIRTXEND_DAEMON_CHILD"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "virtxend: %v\n\n%s", err, usage)
		return 1
	}
	if o.help {
		fmt.Print(usage)
		return 0
	}
	if o.version {
		fmt.Printf("virtxend (virtxend) %s\n", version)
		return 0
	}
	if os.Geteuid() != 0 && os.Getenv(envAllowNonRoot) != "1" {
		fmt.Fprintf(os.Stderr, "virtxend: must be run as root (for development on the simulated host, set %s=1)\n", envAllowNonRoot)
		return 1
	}
	if o.daemon && os.Getenv(envDaemonChild) == "" {
		return daemonize(args)
	}
	opts := daemon.Options{
		ConfigFile: o.config,
		PidFile:    o.pidFile,
		Timeout:    time.Duration(o.timeout) * time.Second,
		Verbose:    o.verbose,
	}
	if os.Getenv(envDaemonChild) != "" {
		opts.Ready = tellParent(os.NewFile(3, "ready"))
	}
	if err := daemon.Run(context.Background(), opts); err != nil {
		fmt.Fprintf(os.Stderr, "virtxend: %v\n", err)
		return 1
	}
	return 0
}

// daemonize starts this program again detached from the terminal, in its own session, and waits until it
// serves (exit 0) or fails (its error, exit 1).
func daemonize(args []string) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "virtxend: cannot daemonize: %v\n", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "virtxend: cannot daemonize: %v\n", err)
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "virtxend: cannot daemonize: %v\n", err)
		return 1
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), envDaemonChild+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "virtxend: cannot daemonize: %v\n", err)
		return 1
	}
	w.Close()
	line, err := bufio.NewReader(r).ReadString('\n')
	if errors.Is(err, io.EOF) && line == "" {
		fmt.Fprintln(os.Stderr, "virtxend: the daemon exited during start-up")
		return 1
	}
	if line = strings.TrimSpace(line); line != "ok" {
		fmt.Fprintf(os.Stderr, "virtxend: %s\n", strings.TrimPrefix(line, "error: "))
		return 1
	}
	return 0
}

// tellParent reports start-up to the parent waiting in daemonize, once.
func tellParent(f *os.File) func(error) {
	return func(err error) {
		if f == nil {
			return
		}
		if err != nil {
			fmt.Fprintf(f, "error: %v\n", err)
		} else {
			fmt.Fprintln(f, "ok")
		}
		f.Close()
		f = nil
	}
}
