// Command virtxend is the Xen management daemon: it serves libvirt's Xen (libxl) driver on the local sockets.
// See virtxend(8) and the README.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/virtxend/virtxend/daemon"
)

// version is stamped at build time (-ldflags "-X main.version=...").
var version = "0.1.0-dev"

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
	err = daemon.Run(context.Background(), daemon.Options{
		ConfigFile: o.config,
		PidFile:    o.pidFile,
		Timeout:    time.Duration(o.timeout) * time.Second,
		Verbose:    o.verbose,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "virtxend: %v\n", err)
		return 1
	}
	return 0
}
