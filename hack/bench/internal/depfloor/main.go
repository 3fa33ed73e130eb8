// Command depfloor is the RPC bench's floor for a daemon's fixed cost: a process that links the libraries the
// project must use (controller-runtime with client-go and apimachinery, go-libvirt, libvirtxml, go-systemd,
// Prometheus' client) and runs their package initialisation, then does nothing until it is signalled. Its
// resident memory at rest is what those dependencies cost before virtxend's own code does anything.
package main

import (
	"os"
	"os/signal"
	"syscall"

	_ "github.com/coreos/go-systemd/v22/daemon"
	_ "github.com/digitalocean/go-libvirt"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "libvirt.org/go/libvirtxml"
	_ "sigs.k8s.io/controller-runtime"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
