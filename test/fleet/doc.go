// Package fleet is fleet mode's end-to-end suite: the real virtxend binary, two daemons on two simulated Xen hosts,
// against a real kube-apiserver and etcd (built from the Go module proxy by hack/fleet/control-plane.sh and
// started through envtest), driven by kubectl as an operator would and by virsh on each host. make test-fleet
// runs it and prints "fleet e2e: N/M passed".
package fleet
