# virtxend: a Xen management daemon that speaks libvirt's protocol, built as a reconciling controller.
# `make help` lists the targets.

SHELL := /bin/bash
GO ?= go
BIN ?= bin
PREFIX ?= /usr/local
DESTDIR ?=
CONTROLLER_GEN := $(GO) -C hack/tools tool controller-gen
GO_TEST_FLAGS ?=
BENCH_TIME ?= 1x
SCRAPE_BENCH_TIME ?= 5x

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
		/^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build bin/virtxend.
	$(GO) build -o $(BIN)/virtxend ./cmd/virtxend

.PHONY: run
run: build ## Build and run virtxend in the foreground on the simulated Xen host with sample domains.
	hack/run-local.sh $(BIN)/virtxend

# What make generate writes: verify fails when any of them (or a new file among them) differs from the checkout.
GENERATED := '*zz_generated*' config/crd

.PHONY: generate
generate: ## Regenerate deepcopy methods, the CRD (controller-gen, pinned in hack/tools) and the RPC procedure tables.
	$(CONTROLLER_GEN) object:headerFile=../boilerplate.go.txt paths=../../api/...
	$(CONTROLLER_GEN) crd:crdVersions=v1 paths=../../api/... output:crd:artifacts:config=../../config/crd
	$(GO) generate ./daemon/remote/rpc/

# The drift check compares with the checkout (git status): run it on a tree whose generated files are committed.
.PHONY: verify
verify: ## gofmt, go vet, go.mod tidy (both modules), and generated files up to date.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	@$(GO) -C hack/tools mod tidy -diff || { echo "hack/tools/go.mod/go.sum are not tidy: run go -C hack/tools mod tidy"; exit 1; }
	$(MAKE) --no-print-directory generate
	@out=$$(git status --porcelain --untracked-files=all -- $(GENERATED)); if [ -n "$$out" ]; then \
		echo "generated files are out of date: run make generate and commit them:"; echo "$$out"; \
		git --no-pager diff --stat -- $(GENERATED); exit 1; fi

##@ Testing

.PHONY: test-deps
test-deps: ## Install what the tests need (Debian packages, when missing and root).
	hack/test-deps.sh

.PHONY: test
test: test-deps ## Install test dependencies and run the whole suite (unit, conformance, e2e on the simulated host).
	@# test/e2e runs below; test/fleet needs the control plane and runs in make test-fleet.
	$(GO) test -race -count=1 -timeout 10m $(GO_TEST_FLAGS) $$($(GO) list ./... | grep -v -e /test/e2e -e /test/fleet)
	@# The conformance figures against libvirt's own test data, printed (the run above hides passing tests' logs).
	@set -o pipefail; $(GO) test -count=1 -v -run '^TestConformance' ./libxl/ ./api/xlcfg/ | \
		{ grep -o 'conformance [a-z0-9]*: .*' || { echo "no conformance figures: did the tests run?"; exit 1; }; }
	$(GO) test -count=1 -tags xenlight -timeout 5m $(GO_TEST_FLAGS) ./libxl/xenlight/
	$(GO) test -count=1 -timeout 15m $(GO_TEST_FLAGS) ./test/e2e/
	$(MAKE) --no-print-directory fuzz

# package:target of every fuzz target.
FUZZ_TARGETS := api/domxml:FuzzParse api/xlcfg:FuzzParse config:FuzzParse daemon/specdir:FuzzDecode \
	daemon/remote/rpc:FuzzServePacket
# A count of executions, not a duration: with a duration, Go 1.26's fuzzing coordinator can fail a target that
# found nothing ("context deadline exceeded", no input written; golang/go#75804, fixed in Go 1.27), which it did
# here once under load. 40000 executions take 1-32 s a target on 2 cores (57 s for all five); the minimisation
# of a new interesting input is bounded by a count too.
FUZZ_TIME ?= 40000x
FUZZ_MINIMIZE ?= 2000x

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZ_TIME each (40000x executions in make test; FUZZ_TIME=30m to search longer).
	@out=$$(mktemp); trap 'rm -f "$$out"' EXIT; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} in ./$${t%%:*} for $(FUZZ_TIME)"; \
		if ! $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZ_TIME) -fuzzminimizetime $(FUZZ_MINIMIZE) \
			./$${t%%:*}/ >"$$out" 2>&1; then \
			cat "$$out"; exit 1; fi; \
		tail -1 "$$out"; \
	done

.PHONY: test-xen
test-xen: ## Run the e2e suite on real Xen 4.17: a cached Debian dom0 image booted under QEMU (TCG), and migration between two such hosts, 30-50 min.
	hack/xen/test-xen.sh

.PHONY: test-xen-migrate
test-xen-migrate: ## Migration on real Xen, every path: two dom0s under QEMU on a private network; a PVH guest live (AMD CPU), then the PV guest direct, p2p, tunnelled and with libvirtd (Nehalem). 25-30 min; CI runs the PVH and libvirtd paths in test-xen.
	@IMG=$$(hack/xen/build-image.sh) || exit 1; rc=0; \
	IMG="$$IMG" MIG_OUT=_out/xenmig/pvh MIG_PATHS=pvh hack/xen/migrate-suite.sh || rc=1; \
	IMG="$$IMG" MIG_OUT=_out/xenmig/pv hack/xen/migrate-suite.sh || rc=1; exit $$rc

# The fleet suite against a real kube-apiserver and etcd (and kubectl), built once from the Go module proxy into
# ~/.cache/virtxend/fleet by hack/fleet/control-plane.sh (cold: some 12-15 min on 2 cores; warm: instant).
.PHONY: test-fleet
test-fleet: ## Fleet mode: the reconciler on a real API server, then two daemons with kubectl and virsh ("fleet e2e: N/M passed").
	@assets=$$(hack/fleet/control-plane.sh) || exit 1; out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	KUBEBUILDER_ASSETS=$$assets $(GO) test -tags fleet -count=1 -timeout 10m $(GO_TEST_FLAGS) -run '^TestFleet' ./controllers/ || exit 1; \
	KUBEBUILDER_ASSETS=$$assets $(GO) test -count=1 -v -timeout 20m $(GO_TEST_FLAGS) ./test/fleet/ 2>&1 | \
		grep -v 'msg="client connected"' | tee "$$out"; status=$${PIPESTATUS[0]}; \
	pass=$$(grep -c '^--- PASS' "$$out"); fail=$$(grep -c '^--- FAIL' "$$out"); skip=$$(grep -c '^--- SKIP' "$$out"); \
	echo "fleet e2e: $$pass/$$((pass + fail + skip)) passed"; exit $$status

# The reconciler sweep's sizes: make bench BENCH_SIZES=100,1000,10000 adds the smallest point.
BENCH_SIZES ?= 1000,10000

.PHONY: bench
bench: build ## Run the benchmarks and print their tables (the reconciler sweep at 1,000 and 10,000 domains takes several minutes).
	$(GO) test -run '^$$' -bench . -skip '^BenchmarkScrape$$' -benchmem -benchtime $(BENCH_TIME) ./...
	@echo "== /metrics scrapes at 1,000 and 10,000 domains (ms/scrape, cpu-ms/scrape, bytes/scrape; gzip: as Prometheus asks)"
	$(GO) test -run '^$$' -bench '^BenchmarkScrape$$' -benchmem -benchtime $(SCRAPE_BENCH_TIME) ./daemon/metrics/
	$(GO) run ./hack/bench/reconcile -binary $(BIN)/virtxend -n $(BENCH_SIZES)
	$(GO) run ./hack/bench/rpc -binary $(BIN)/virtxend

# The simulated fleet (issue 15): one kube-apiserver (hack/fleet/control-plane.sh), 100 virtxend in fleet mode on
# simulated hosts, 100 XenDomain objects each; some 5 minutes. BENCH_FLEET_FLAGS="-nodes 10 -per 10" for a small one.
BENCH_FLEET_FLAGS ?=

.PHONY: bench-fleet
bench-fleet: build ## The simulated fleet: 100 daemons × 100 domains on one API server; prints time to Running, API requests/s, RSS, CPU, edit latency.
	@assets=$$(hack/fleet/control-plane.sh) || exit 1; \
	$(GO) run ./hack/bench/fleet -binary $(BIN)/virtxend -assets "$$assets" $(BENCH_FLEET_FLAGS)

##@ Installation

# Where make install puts things, under $(DESTDIR). The configuration always goes to /etc, where the daemon
# looks for it whatever PREFIX is.
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
SYSTEMD_UNITS := virtxend.service virtxend.socket virtxend-ro.socket virtxend-admin.socket virtxend.path
CONFIG_FILES := virtxend.conf libxl.conf

# Without $(GO) in the PATH (sudo make install), install takes the binary make build left.
.PHONY: install
install: ## Install the binary, systemd units, man page, default config (kept if present): PREFIX, DESTDIR.
	@if command -v $(GO) >/dev/null 2>&1; then $(MAKE) --no-print-directory build; \
	elif [ -x $(BIN)/virtxend ]; then echo "install: no $(GO) in PATH: installing the existing $(BIN)/virtxend"; \
	else echo "install: no $(GO) in PATH and no $(BIN)/virtxend: run make build first" >&2; exit 1; fi
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSTEMD_UNIT_DIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)/etc/libvirt $(DESTDIR)/etc/virtxend/domains.d
	install -m 0755 $(BIN)/virtxend $(DESTDIR)$(SBINDIR)/virtxend
	@# The units name /usr/sbin/virtxend; point them at $(SBINDIR).
	for u in $(SYSTEMD_UNITS); do \
		sed 's|/usr/sbin/virtxend|$(SBINDIR)/virtxend|g' config/systemd/$$u > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u && \
		chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u || exit 1; \
	done
	install -m 0644 docs/virtxend.8 $(DESTDIR)$(MANDIR)/man8/virtxend.8
	@# An existing file is the host's own configuration (perhaps libvirt's, which virtxend reads as it is): keep it.
	@for f in $(CONFIG_FILES); do \
		if [ -e $(DESTDIR)/etc/libvirt/$$f ]; then echo "install: keeping the existing $(DESTDIR)/etc/libvirt/$$f"; \
		else echo "install -m 0644 config/$$f $(DESTDIR)/etc/libvirt/$$f"; \
			install -m 0644 config/$$f $(DESTDIR)/etc/libvirt/$$f || exit 1; fi; \
	done

.PHONY: uninstall
uninstall: ## Remove what make install installed, except the configuration and the drop-in directory.
	rm -f $(DESTDIR)$(SBINDIR)/virtxend $(DESTDIR)$(MANDIR)/man8/virtxend.8 \
		$(addprefix $(DESTDIR)$(SYSTEMD_UNIT_DIR)/,$(SYSTEMD_UNITS))
