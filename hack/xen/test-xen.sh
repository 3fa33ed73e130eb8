#!/usr/bin/env bash
# Usage: hack/xen/test-xen.sh          (make test-xen)
#
# The e2e suite on a real Xen 4.17 host: builds (or reuses from the cache) a Debian bookworm dom0 image with
# Xen 4.17, xl and Debian's libvirt 9.0; builds virtxend with -tags xenlight against the host's libxen-dev
# (the same bookworm packages as the image); builds the guests' busybox initramfs; then, for each CPU
# profile, boots Xen + dom0 under QEMU TCG (no network; this machine's /dev/kvm cannot run Xen), ships the
# daemon and dom0-suite.sh through a 9p share, runs the suite in dom0 and powers off.
#   profile pv  (-cpu Nehalem): PV guests, virtxend's checks, libvirtd side by side, a guest on a libvirt
#               network, the metrics endpoint, the timings, bulk starts of 8 guests
#   profile pvh (-cpu qemu64,+svm,+npt): a PVH guest through virtxend, an HVM guest's VNC display
#   migration   two dom0s on a private network (migrate-suite.sh), twice: mig-pvh (-cpu qemu64,+svm,+npt) a
#               PVH guest migrated live through virtxend A->B, back (--p2p) and A->B tunnelled, against xl
#               migrate; mig-interop (-cpu
#               Nehalem, which Debian's libvirtd needs) the PV guest from virtxend to Debian's libvirtd and back
#               (XEN_MIGRATE: the runs, default "pvh interop"; make test-xen-migrate runs every path)
# Prints "PASS name (s)" / "FAIL name: reason" per check, the comparison, timing and bulk tables, and last
# "xen e2e: N/M passed". Exits non-zero when a check failed. A check that cannot run (no daemon yet, boot
# failed, deadline) FAILs saying why; nothing is skipped silently. Every QEMU it started is ended on exit.
#
# Env: XEN_PROFILES ("pv pvh"), XEN_DEADLINE (seconds for the whole stage, default 3000: past it, what has
#      not run FAILs and the stage ends), TIMING_RUNS (5), BULK_RUNS (1), XEN_LESS (checks left out of a run by
#      hand: "metrics hvm bulk"), XEN_MIGRATE ("pvh interop"; "none": no migration stage), XEN_OUT (per-run files, default
#      _out/xen: results/, serial logs, the suite's output), VIRTXEND_XEN_CACHE (the image cache, see
#      build-image.sh).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -eq 0 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
# One run at a time per machine: a second run would share XEN_OUT (and remove it) and starve the first one's
# TCG guests of the few cores there are. The deadline counts from when this run gets its turn.
mkdir -p "$XEN_CACHE_ROOT"
exec 8>"$XEN_CACHE_ROOT/.run-lock"
if ! flock -n 8; then
  xlog "another make test-xen runs on this machine: waiting for it"
  flock -w 7200 8 || xdie "another make test-xen still holds $XEN_CACHE_ROOT/.run-lock"
  XEN_T0=$(date +%s)
fi
PROFILES=${XEN_PROFILES:-pv pvh}
DEADLINE=${XEN_DEADLINE:-3000}
TIMING_RUNS=${TIMING_RUNS:-5}
BULK_RUNS=${BULK_RUNS:-1}
XEN_LESS=${XEN_LESS:-}
export XEN_LESS # dom0-suite.sh --list reads it too
END=$((XEN_T0 + DEADLINE))
SHARE=$XEN_OUT/share
CHECKS=$XEN_OUT/checks.txt
export XEN_OUT SHARE

left() { echo $((END - $(date +%s))); }
tmo() { local l; l=$(left); [ "$l" -gt 30 ] || l=30; echo "$l"; } # a timeout: never 0 (= none)
pass() { echo "PASS $1 (${2:-0} s)" | tee -a "$CHECKS"; }
failc() { echo "FAIL $1: $2" | tee -a "$CHECKS"; }
cpu_of() { case $1 in pv) echo Nehalem ;; pvh) echo qemu64,+svm,+npt ;; *) return 1 ;; esac; }

# a QEMU left by an earlier run that was killed outright (its pid file is all that names it)
for f in "$XEN_OUT"/run-*/qemu.pid; do
  if [ -e "$f" ]; then RUN=$(dirname "$f") "$XEN_HACK/vm.sh" kill; fi
done
rm -rf "$XEN_OUT"
mkdir -p "$SHARE/bin" "$SHARE/guest" "$SHARE/results" "$XEN_OUT"
: > "$CHECKS"
PLANNED=(host-packages image daemon-build)
TIMES=()
for p in $PROFILES; do
  cpu_of "$p" >/dev/null || xdie "unknown profile '$p' in XEN_PROFILES (pv, pvh)"
  PLANNED+=("$p:boot")
  while read -r c; do PLANNED+=("$p:$c"); done < <(bash "$XEN_HACK/dom0-suite.sh" --list "$p")
done
MIGRATE=${XEN_MIGRATE:-pvh interop}
[ "$MIGRATE" = none ] && MIGRATE=""
for m in $MIGRATE; do
  case $m in pvh|interop) ;; *) xdie "unknown migration run '$m' in XEN_MIGRATE (pvh, interop, or none)" ;; esac
  while read -r c; do PLANNED+=("mig-$m:$c"); done < <(MIG_PATHS=$m bash "$XEN_HACK/migrate-suite.sh" --list)
done

finish() {
  local rc=$? f p n=0 m=0 name
  trap - EXIT INT TERM
  for f in "$XEN_OUT"/run-*/qemu.pid; do
    [ -e "$f" ] || continue
    RUN=$(dirname "$f") "$XEN_HACK/vm.sh" kill 2>/dev/null || true
  done
  # every planned check has exactly one line
  for name in "${PLANNED[@]}"; do
    grep -q "^\(PASS\|FAIL\) ${name}[ :]" "$CHECKS" || failc "$name" "not run: ${NOT_RUN:-the stage ended early (exit $rc)}"
  done
  for p in $PROFILES; do
    [ -s "$SHARE/results/$p/comparison-table.txt" ] && cat "$SHARE/results/$p/comparison-table.txt"
    [ -s "$SHARE/results/$p/timing-table.txt" ] && cat "$SHARE/results/$p/timing-table.txt"
    [ -s "$SHARE/results/$p/bulk-table.txt" ] && cat "$SHARE/results/$p/bulk-table.txt"
  done
  for f in "$XEN_OUT"/migrate-*/migration-table.txt; do [ -s "$f" ] && cat "$f"; done
  echo
  if grep -q '^FAIL ' "$CHECKS"; then
    echo "failed:"
    grep '^FAIL ' "$CHECKS" | sed 's/^FAIL /  /'
  fi
  [ ${#TIMES[@]} -eq 0 ] || printf '%s\n' "${TIMES[@]}"
  echo "results: $XEN_OUT (results/, run-*/serial.log, suite-*.log); stage took $(($(date +%s) - XEN_T0)) s"
  n=$(grep -c '^PASS ' "$CHECKS" || true)
  m=$(grep -c '^\(PASS\|FAIL\) ' "$CHECKS" || true)
  echo "xen e2e: $n/$m passed"
  [ "$n" = "$m" ] && [ "$m" -gt 0 ]
  exit $?
}
trap finish EXIT
trap 'NOT_RUN="interrupted"; exit 130' INT TERM

xlog "real-Xen e2e: profiles '$PROFILES', deadline ${DEADLINE}s, out $XEN_OUT"

# --- host packages ---------------------------------------------------------------------------------------
t0=$(date +%s)
if apt_install qemu-system-x86 debootstrap busybox-static socat cpio e2fsprogs libxen-dev gcc \
  > "$XEN_OUT/host-packages.log" 2>&1; then
  pass host-packages $(($(date +%s) - t0))
else
  failc host-packages "$(tail -1 "$XEN_OUT/host-packages.log")"
  NOT_RUN="host packages missing (host-packages)"
  exit 1
fi

# --- the dom0 image --------------------------------------------------------------------------------------
t0=$(date +%s)
if IMG=$(timeout "$(tmo)" "$XEN_HACK/build-image.sh" 2> >(tee "$XEN_OUT/image.log" >&2)); then
  pass image $(($(date +%s) - t0))
  TIMES+=("image: $(($(date +%s) - t0))s ($([ "$(stat -c %Y "$IMG/versions")" -ge "$t0" ] && echo built || echo cached))")
  xlog "image: $IMG ($(tr '\n' ' ' < "$IMG/versions"))"
else
  failc image "the dom0 image could not be built: $(grep -v '^\s*$' "$XEN_OUT/image.log" | tail -1)"
  NOT_RUN="no dom0 image (image)"
  exit 1
fi
"$XEN_HACK/build-guest.sh" "$SHARE/guest" "$IMG"
cp "$XEN_HACK/dom0-suite.sh" "$SHARE/dom0-suite.sh"

# --- the daemon, with the xenlight adapter -----------------------------------------------------------------
t0=$(date +%s)
build_daemon() {
  local log=$XEN_OUT/daemon-build.log
  cd "$XEN_TOP"
  if ! go list -tags xenlight -deps ./cmd/virtxend 2> "$log" | grep -qx 'github.com/virtxend/virtxend/libxl/xenlight'; then
    echo "cmd/virtxend does not include the xenlight adapter (libxl/xenlight) yet: -tags xenlight builds a daemon without Xen support"
    return 1
  fi
  if ! CGO_ENABLED=1 timeout "$(tmo)" go build -tags xenlight -o "$SHARE/bin/virtxend" ./cmd/virtxend > "$log" 2>&1; then
    echo "go build -tags xenlight failed: $(grep -v '^#' "$log" | head -1 | cut -c1-200)"
    return 1
  fi
  if ! ldd "$SHARE/bin/virtxend" | grep -q libxenlight; then
    echo "the binary does not link libxenlight"
    return 1
  fi
  ldd "$SHARE/bin/virtxend" | awk '/libxen/ {printf "%s ", $1}'
}
if status=$(build_daemon); then
  pass daemon-build $(($(date +%s) - t0))
  xlog "virtxend: $(du -h "$SHARE/bin/virtxend" | cut -f1), links $status"
else
  failc daemon-build "$status"
  rm -f "$SHARE/bin/virtxend"
  echo "$status" > "$SHARE/bin/BUILD_STATUS"
fi

# --- the profiles --------------------------------------------------------------------------------------------
for p in $PROFILES; do
  export RUN=$XEN_OUT/run-$p
  NOT_RUN=""
  if [ "$(left)" -lt 420 ]; then
    xlog "profile $p: not started, $(left)s left before the deadline"
    NOT_RUN="the stage's deadline (XEN_DEADLINE=${DEADLINE}s) came first"
    break
  fi
  xlog "profile $p: booting Xen + dom0 (-cpu $(cpu_of "$p"))"
  t0=$(date +%s)
  CPU=$(cpu_of "$p") "$XEN_HACK/vm.sh" boot "$IMG"
  wait_s=$(($(left) - 300))
  [ "$wait_s" -le 900 ] || wait_s=900
  if ! "$XEN_HACK/vm.sh" wait "$wait_s"; then
    failc "$p:boot" "dom0 not ready within ${wait_s}s (serial log: $RUN/serial.log)"
    "$XEN_HACK/vm.sh" kill
    while read -r c; do failc "$p:$c" "not run: dom0 did not boot ($p:boot)"; done < <(bash "$XEN_HACK/dom0-suite.sh" --list "$p")
    continue
  fi
  boot_s=$(($(date +%s) - t0))
  pass "$p:boot" "$boot_s"
  xlog "dom0 ready: $(tr '\n' ' ' < "$SHARE/state/ready")"
  budget=$(($(left) - 120))
  set +e
  "$XEN_HACK/vm.sh" exec -t $((budget + 60)) \
    "PROFILE=$p BUDGET=$budget TIMING_RUNS=$TIMING_RUNS BULK_RUNS=$BULK_RUNS XEN_LESS='$XEN_LESS' bash /mnt/host/dom0-suite.sh" \
    | sed -u "s/^\(PASS\|FAIL\) /\1 $p:/" | tee "$XEN_OUT/suite-$p.log"
  src=${PIPESTATUS[0]}
  set -e
  grep -E '^(PASS|FAIL) ' "$XEN_OUT/suite-$p.log" >> "$CHECKS" || true
  case $src in
    124) NOT_RUN="the suite in dom0 ran out of time (XEN_DEADLINE=${DEADLINE}s)" ;;
    125|126) NOT_RUN="dom0 or QEMU went away during the suite (exit $src; serial log: $RUN/serial.log)" ;;
  esac
  while read -r c; do
    grep -q "^\(PASS\|FAIL\) $p:${c}[ :]" "$CHECKS" || failc "$p:$c" "not run: ${NOT_RUN:-the suite ended early (exit $src)}"
  done < <(bash "$XEN_HACK/dom0-suite.sh" --list "$p")
  t1=$(date +%s)
  xlog "profile $p: powering off"
  "$XEN_HACK/vm.sh" stop 90
  TIMES+=("profile $p: boot ${boot_s}s, suite $((t1 - t0 - boot_s))s, power-off $(($(date +%s) - t1))s")
done

# --- migration between two hosts ---------------------------------------------------------------------------
for m in $MIGRATE; do
  NOT_RUN=""
  if [ ! -s "$SHARE/bin/virtxend" ]; then
    NOT_RUN="no daemon (daemon-build)"
    break
  elif [ "$(left)" -lt 420 ]; then
    xlog "migration $m: not started, $(left)s left before the deadline"
    NOT_RUN="the stage's deadline (XEN_DEADLINE=${DEADLINE}s) came first"
    break
  fi
  xlog "migration $m: two dom0s"
  t0=$(date +%s)
  set +e
  MIG_OUT=$XEN_OUT/migrate-$m MIG_PATHS=$m MIG_DEADLINE=$(($(left) - 60)) IMG=$IMG VXBIN=$SHARE/bin/virtxend \
    "$XEN_HACK/migrate-suite.sh" 2>&1 | sed -u "s/^\(PASS\|FAIL\) /\1 mig-$m:/" | tee "$XEN_OUT/suite-migrate-$m.log"
  set -e
  grep -E "^(PASS|FAIL) mig-$m:" "$XEN_OUT/suite-migrate-$m.log" >> "$CHECKS" || true
  TIMES+=("migration $m: $(($(date +%s) - t0))s")
  NOT_RUN="the migration suite ended early (see $XEN_OUT/suite-migrate-*.log)"
done
