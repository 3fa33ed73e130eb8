#!/usr/bin/env bash
# Usage: hack/xen/vm.sh COMMAND [ARGS]
#
# Runs the Xen test host: Xen 4.17 + Debian dom0 under QEMU TCG, no network, a 9p share for commands.
#   boot IMAGE_DIR          start QEMU in the background (returns at once; dom0 needs 1-3 minutes)
#   wait [TIMEOUT_S]        wait until dom0's command agent is ready (default 900 s)
#   exec [-t S] [-f FILE | COMMAND...]
#                           run a command (or ship a script) in dom0 as root, cwd /root; prints its output
#                           as it comes and exits with its exit code (124 on timeout, 125 if not ready,
#                           126 if QEMU died); default timeout 600 s
#   stop [TIMEOUT_S]        power dom0 off cleanly (Xen then ends QEMU); QEMU is killed after TIMEOUT_S (60)
#   kill                    end QEMU now (monitor "quit", then SIGKILL)
#
# Env: RUN (pid file, serial log, sockets; default $XEN_OUT/run), SHARE (the folder dom0 sees as /mnt/host;
#      default $XEN_OUT/share), CPU (QEMU -cpu; default qemu64,+svm,+npt), MEM (MiB, default 3072),
#      SMP (2), DOM0_MEM (1024M), XEN_EXTRA, DOM0_EXTRA (extra command lines), TCG_THREAD (multi; single
#      is slower and does not spare PVH guests, see tcg_death in dom0-suite.sh), NIC (QEMU network options
#      used instead of "-nic none", e.g. a socket netdev joining two hosts, see migrate-suite.sh).
# Watch the consoles: socat -,raw,echo=0 UNIX-CONNECT:$RUN/serial.sock (Ctrl-A three times: Xen <-> dom0).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
RUN=${RUN:-$XEN_OUT/run}
SHARE=${SHARE:-$XEN_OUT/share}

qemu_pid() { cat "$RUN/qemu.pid" 2>/dev/null; }
qemu_alive() { local p; p=$(qemu_pid) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

cmd_boot() {
  local img=${1:-}
  if [ -z "$img" ] || [ ! -s "$img/dom0.img" ]; then xdie "vm.sh boot IMAGE_DIR: no dom0.img in '$img'"; fi
  if qemu_alive; then xdie "QEMU already running (pid $(qemu_pid), $RUN)"; fi
  mkdir -p "$RUN" "$SHARE/cmd" "$SHARE/state"
  rm -f "$RUN"/serial.log "$RUN"/*.sock "$RUN/qemu.pid" "$SHARE/state/ready"
  local cpu=${CPU:-qemu64,+svm,+npt} mem=${MEM:-3072} smp=${SMP:-2} dom0_mem=${DOM0_MEM:-1024M}
  local xen_cmdline="console=com1 com1=115200,8n1 dom0_mem=$dom0_mem,max:$dom0_mem dom0_max_vcpus=$smp"
  xen_cmdline+=" loglvl=all guest_loglvl=all noreboot ${XEN_EXTRA:-}"
  local dom0_cmdline="root=LABEL=dom0root ro console=hvc0 earlyprintk=xen rootwait ${DOM0_EXTRA:-}"
  local nic
  read -ra nic <<< "${NIC:--nic none}"
  date +%s > "$RUN/start.ts"
  # TCG only: this machine's /dev/kvm (kvm_pvm) cannot run Xen. -snapshot: the image is never written.
  # The multiboot modules (dom0 kernel + its command line, initrd) are separated by a comma.
  qemu-system-x86_64 -accel "tcg,thread=${TCG_THREAD:-multi}" -cpu "$cpu" -machine pc -m "$mem" -smp "$smp" \
    -display none -vga none -no-reboot \
    -kernel "$img/xen" -append "$xen_cmdline" \
    -initrd "$img/vmlinuz $dom0_cmdline,$img/initrd.img" \
    -drive "file=$img/dom0.img,if=virtio,format=raw,cache=unsafe" -snapshot \
    "${nic[@]}" \
    -virtfs "local,path=$SHARE,mount_tag=hostshare,security_model=none,id=hostshare" \
    -chardev "socket,id=ser0,path=$RUN/serial.sock,server=on,wait=off,logfile=$RUN/serial.log,logappend=off" \
    -serial chardev:ser0 \
    -monitor "unix:$RUN/monitor.sock,server=on,wait=off" \
    -pidfile "$RUN/qemu.pid" -daemonize
  xlog "QEMU started: pid $(qemu_pid), -cpu $cpu, -m $mem, serial log $RUN/serial.log"
}

cmd_wait() {
  local t=${1:-900} end
  end=$(($(date +%s) + t))
  while [ ! -e "$SHARE/state/ready" ]; do
    if ! qemu_alive; then
      xlog "QEMU is not running; last serial output:"; tail -30 "$RUN/serial.log" >&2 2>/dev/null; return 1
    fi
    if [ "$(date +%s)" -ge "$end" ]; then
      xlog "dom0 not ready after ${t}s; last serial output:"; tail -30 "$RUN/serial.log" >&2 2>/dev/null; return 1
    fi
    sleep 0.5
  done
}

cmd_exec() {
  local t=600 file=""
  while [ $# -gt 0 ]; do
    case $1 in
      -t) t=$2; shift 2 ;;
      -f) file=$2; shift 2 ;;
      *) break ;;
    esac
  done
  [ -e "$SHARE/state/ready" ] || { xlog "exec: dom0 is not ready"; return 125; }
  local id base end off=0 size
  id=$(date +%s%N)-$$
  base=$SHARE/cmd/$id
  if [ -n "$file" ]; then cp "$file" "$base.tmp"; else printf '%s\n' "$*" > "$base.tmp"; fi
  mv "$base.tmp" "$base.sh"
  end=$(($(date +%s) + t))
  # stream the output as dom0 writes it
  while :; do
    if [ -e "$base.out" ]; then
      size=$(stat -c %s "$base.out")
      if [ "$size" -gt "$off" ]; then
        tail -c +$((off + 1)) "$base.out" | head -c $((size - off))
        off=$size
      fi
    fi
    [ -e "$base.rc" ] && break
    if [ "$(date +%s)" -ge "$end" ]; then xlog "exec: timeout after ${t}s"; return 124; fi
    if ! qemu_alive; then xlog "exec: QEMU died"; return 126; fi
    sleep 0.2
  done
  size=$(stat -c %s "$base.out" 2>/dev/null || echo 0)
  [ "$size" -gt "$off" ] && tail -c +$((off + 1)) "$base.out"
  local rc
  rc=$(cat "$base.rc")
  rm -f "$base".*
  return "$rc"
}

cmd_stop() {
  local t=${1:-60} end id
  qemu_alive || return 0
  if [ -e "$SHARE/state/ready" ]; then
    id=$(date +%s%N)-stop
    echo 'systemctl poweroff' > "$SHARE/cmd/$id.tmp"
    mv "$SHARE/cmd/$id.tmp" "$SHARE/cmd/$id.sh"
  fi
  end=$(($(date +%s) + t))
  while qemu_alive && [ "$(date +%s)" -lt "$end" ]; do sleep 0.5; done
  if qemu_alive; then
    xlog "clean poweroff took more than ${t}s: ending QEMU"
    cmd_kill
  fi
  rm -f "$SHARE/state/ready"
}

cmd_kill() {
  local p
  p=$(qemu_pid) || return 0
  [ -n "$p" ] || return 0
  if kill -0 "$p" 2>/dev/null; then
    echo quit | timeout 5 socat - "UNIX-CONNECT:$RUN/monitor.sock" >/dev/null 2>&1 || true
    local n=0
    while kill -0 "$p" 2>/dev/null && [ $n -lt 10 ]; do sleep 0.3; n=$((n + 1)); done
    if kill -0 "$p" 2>/dev/null; then kill -9 "$p" 2>/dev/null || true; fi
  fi
  rm -f "$SHARE/state/ready"
}

case ${1:-} in
  boot) shift; cmd_boot "$@" ;;
  wait) shift; cmd_wait "$@" ;;
  exec) shift; cmd_exec "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  kill) shift; cmd_kill ;;
  *) sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
