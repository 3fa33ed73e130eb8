// Package metrics is virtxend's Prometheus endpoint (metrics_listen): /metrics, /healthz and /readyz.
//
// /metrics serves controller-runtime's registry (its reconcile and work-queue metrics) together with the
// daemon's own families:
//   - the libvirt_domain_* families of Debian's prometheus-libvirt-exporter, under its names and labels, so
//     that existing dashboards work without an exporter, plus the per-vcpu, balloon and block-time families
//     that exporter cannot read through libvirt's libxl driver (DomainCollector);
//   - virtxend_* families: domains by state and condition, the reconciler's outcomes, drift, crash restarts,
//     the time from a spec change to its application (Controller), RPC calls and connected clients (RPC), and
//     build information.
//
// The per-domain and per-object families (DomainCollector, and Controller's view of the store) are Sections,
// written straight in the text format after the registries' families, with each series' labels rendered once
// while it lives: through client_golang, building, gathering and encoding some 50 series per domain made a
// 1,000-domain scrape cost ten times as much (BenchmarkScrape).
//
// The collectors read what the daemon already keeps: the observer's records of the hypervisor and the object
// store. A scrape adds one hypervisor listing and the counters (vcpu times, disk and interface statistics), and
// nothing else. Every piece of state lives in values the daemon owns, so two daemons can run in one process;
// only controller-runtime's registry is package-level, and it is only read.
package metrics
