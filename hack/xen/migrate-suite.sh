#!/usr/bin/env bash
# Usage: hack/xen/migrate-suite.sh                  (host side, root: boots two dom0s, runs the checks)
#        hack/xen/migrate-suite.sh --list           (the checks it runs)
#        hack/xen/migrate-suite.sh --dom0 STEP ...  (inside a dom0: what the host side runs there)
#
# Migration on real Xen between two hosts: two Xen 4.17 dom0s under QEMU TCG (vm.sh), A and B, joined by
# a private network that exists only for them (a QEMU socket netdev on the loopback: A listens, B connects;
# dom0 addresses 10.77.0.1/24 and 10.77.0.2/24, host names xena and xenb). In each dom0: virtxend (-tags
# xenlight) on a private socket, reachable from the other dom0 as xen+tcp://ADDR:16510/system through
# systemd-socket-proxyd; on B also Debian's libvirtd (libxl driver), as xen+tcp://10.77.0.2/system (16509,
# the same relay). The test guest (build-guest.sh; it prints "HB <uptime>" every second), 128 MiB, is
# migrated:
#   pvh         a PVH guest started through virtxend on A: virsh migrate --live A->B (direct), back (--p2p)
#               and A->B once more through the daemons' connection (--p2p --tunnelled), while it runs (HAP
#               gives Xen log-dirty paging for it); virsh domjobinfo on the source must show data processed
#               meanwhile. Its anchor, with xl: xl migrate (live) of the same PVH guest, A->B
#               and back (xlpvh-*). It needs an AMD CPU with SVM and NPT in the dom0s, on which Debian's
#               libvirtd cannot start: it runs alone (MIG_PATHS=pvh), on qemu64,+svm,+npt.
# The PV guest, started through virtxend on A:
#   live-a-b    virsh migrate --live A->B once: Debian's Xen 4.17 has no shadow paging, so no log-dirty for PV
#               guests and libxc refuses it (xl migrate too): PASS when it works, or when it is refused so and
#               the guest keeps running on A
#   direct      virsh migrate (non-live: virsh drives both daemons), A->B and back
#   p2p         virsh migrate --p2p (the source daemon drives the destination), A->B and back
#   tunnelled   virsh migrate --p2p --tunnelled, A->B and back
#   interop     virtxend on A -> libvirtd on B (direct) and back (libvirtd -> virtxend, direct)
#   xl          the anchor: "xl save | xl restore" over TCP of a guest xl created, A->B and back (xl migrate is
#               always live; the suite also sets up its receiver, for a Xen that can)
# After each: the guest runs on the destination (xl list, virsh domstate/domid agree), is gone from the
# source's xl list, and its console goes on counting on the destination without a new boot (no GUEST-READY,
# heartbeats past the last one the source saw).
# Prints "PASS name (s)" / "FAIL name: reason" per check, the "migration" table (path, runs, median seconds,
# vs its anchor) and "xen migration: N/M passed"; exits non-zero when a check failed.
#
# Env: IMG (the dom0 image dir; default: the cached image of the current key, see build-image.sh; this script
#      never builds it), VXBIN (a virtxend built with -tags xenlight; default: built here), MIG_OUT (default
#      _out/xenmig: run dirs, shares, logs), MIG_RUNS (round trips per path, default 1), MIG_DEADLINE (seconds,
#      default 2400), MIG_PORT (the loopback port of the socket netdev; default a free one), MEM, SMP (per VM,
#      default 2048 and 2), MIG_REUSE=1 (use the dom0s a previous run left up with MIG_KEEP=1: no boot, no
#      set-up of what already runs), MIG_KEEP=1 (leave both dom0s running at the end; vm.sh kill ends them:
#      RUN=$MIG_OUT/a/run hack/xen/vm.sh kill), MIG_PATHS (default "direct p2p tunnelled interop xl", run
#      in that order; "pvh" alone), MIG_SETUP=0 (with MIG_REUSE=1: keep the daemons running too), MIG_CPU
#      (QEMU -cpu of both dom0s: qemu64,+svm,+npt for MIG_PATHS=pvh, else Nehalem).
set -uo pipefail

# ============================================ inside a dom0 ================================================
VXD=/run/vxt
VX="xen+unix:///system?socket=$VXD/run/virtxend-sock"
LV="xen:///system"
GUESTDIR=/var/lib/xen/boot
CONLOG=/var/log/xen/console
SHARE_DIR=/mnt/host
VX_PORT=16510
LV_PORT=16509
XL_PORT=16600
XLR_PORT=16601

d_now() { date +%s%N; }
d_lines() { if [ -e "$CONLOG/guest-$1.log" ]; then wc -l < "$CONLOG/guest-$1.log"; else echo 0; fi; }
d_until() { # d_until TIMEOUT CMD...
  local end=$(($(date +%s) + $1)); shift
  until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.5; done
}
# The PVH guest runs with tsc_mode native: fewer VM exits under TCG's nested SVM, whose corruptions kill
# guests now and then (see tcg_death in dom0-suite.sh); the PV guest is the same busybox system.
d_domain_xml() { # NAME [pv|pvh]
  local type="<type arch='x86_64' machine='xenpv'>linux</type>" clock=""
  if [ "${2:-pv}" = pvh ]; then
    type="<type arch='x86_64' machine='xenpvh'>xenpvh</type>"
    clock="<clock offset='utc'><timer name='tsc' present='yes' mode='native'/></clock>"
  fi
  cat <<EOF
<domain type='xen'>
  <name>$1</name>
  <memory unit='KiB'>131072</memory>
  <currentMemory unit='KiB'>131072</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    $type
    <kernel>$GUESTDIR/vmlinuz</kernel>
    <initrd>$GUESTDIR/guest-initrd.gz</initrd>
    <cmdline>console=hvc0 quiet xqhb=1</cmdline>
  </os>
  $clock
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <console type='pty'>
      <target type='xen' port='0'/>
    </console>
  </devices>
</domain>
EOF
}
d_xl_cfg() { # NAME [pv|pvh]
  cat <<EOF
name = "$1"
type = "${2:-pv}"
kernel = "$GUESTDIR/vmlinuz"
ramdisk = "$GUESTDIR/guest-initrd.gz"
extra = "console=hvc0 quiet xqhb=1"
memory = 128
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
EOF
  [ "${2:-pv}" = pvh ] && echo 'tsc_mode = "native"'
  return 0
}

# setup ROLE ADDR PEER: network, host names, guest files, virtxend and its TCP relay, xl's receiver
d_setup() {
  local role=$1 addr=$2 peer=$3 ifc
  hostname "xen$role"
  printf '127.0.0.1\tlocalhost\n10.77.0.1\txena\n10.77.0.2\txenb\n' > /etc/hosts
  ifc=$(ip -o link show | awk -F': ' '$2 != "lo" && $2 !~ /^(vif|xenbr|virbr)/ {print $2; exit}')
  [ -n "$ifc" ] || { ip -o link show; echo "REASON: no network interface in dom0"; return 1; }
  ip addr flush dev "$ifc"
  ip addr add "$addr/24" dev "$ifc" && ip link set "$ifc" up || { echo "REASON: cannot set $addr on $ifc"; return 1; }
  echo "NOTE: $ifc $addr"
  mkdir -p "$GUESTDIR" "$CONLOG"
  cp -L /vmlinuz "$GUESTDIR/vmlinuz" && cp "$SHARE_DIR/guest/guest-initrd.gz" "$GUESTDIR/guest-initrd.gz" \
    || { echo "REASON: the guest kernel or initramfs is missing"; return 1; }
  # a set-up again (MIG_REUSE=1) ends what the last one started: the daemon keeps its guests
  local p
  for p in "$VXD"/*.pid; do
    [ -e "$p" ] || continue
    kill -TERM "$(cat "$p")" 2>/dev/null && d_until 30 eval "! kill -0 $(cat "$p")"
    rm -f "$p"
  done
  install -m 0755 "$SHARE_DIR/bin/virtxend" /usr/local/sbin/virtxend || { echo "REASON: no virtxend in the share"; return 1; }
  if ldd /usr/local/sbin/virtxend | grep -q 'not found'; then echo "REASON: libraries missing: $(ldd /usr/local/sbin/virtxend | grep 'not found')"; return 1; fi
  mkdir -p "$VXD/run" "$VXD/domains.d" "$VXD/defines" "$VXD/state"
  cat > "$VXD/virtxend.conf" <<EOF
# written by hack/xen/migrate-suite.sh: a private instance on real Xen, beside Debian's libvirtd
unix_sock_dir = "$VXD/run"
hypervisor = "xen"
domains_dir = "$VXD/domains.d"
defines_dir = "$VXD/defines"
state_dir = "$VXD/state"
libxl_config_file = "$VXD/libxl.conf"
resync_interval = 5
log_level = 2
EOF
  printf 'migration_address = "%s"\n' "$addr" > "$VXD/libxl.conf"
  echo "=== $(date -u +%T) virtxend start" >> "$VXD/virtxend.log"
  setsid /usr/local/sbin/virtxend -f "$VXD/virtxend.conf" -p "$VXD/virtxend.pid" >> "$VXD/virtxend.log" 2>&1 < /dev/null &
  echo $! > "$VXD/daemon.pid"
  if ! d_until 120 timeout 20 virsh -c "$VX" uri; then
    tail -8 "$VXD/virtxend.log"; echo "REASON: virtxend's socket does not answer within 120 s"; return 1
  fi
  # the TCP side of virtxend's socket, for the peer (libvirt's remote driver over plain TCP, auth none)
  setsid systemd-socket-activate -l "$addr:$VX_PORT" /usr/lib/systemd/systemd-socket-proxyd "$VXD/run/virtxend-sock" \
    > "$VXD/relay-vx.log" 2>&1 < /dev/null &
  echo $! > "$VXD/relay-vx.pid"
  # xl migrate's receiver: one "xl migrate-receive" per connection, its stdio the socket
  setsid systemd-socket-activate -a --inetd -l "$addr:$XL_PORT" xl migrate-receive > "$VXD/relay-xl.log" 2>&1 < /dev/null &
  echo $! > "$VXD/relay-xl.pid"
  # xl migrate's sender: "-s" runs "CMD HOST xl migrate-receive"; this pipes its stdio to HOST:XL_PORT
  cat > /usr/local/sbin/xq-xlpipe <<EOF
#!/bin/bash
exec 3<>"/dev/tcp/\$1/$XL_PORT" || exit 1
cat <&3 &
cat >&3
wait
EOF
  chmod +x /usr/local/sbin/xq-xlpipe
  echo "NOTE: virtxend: $(timeout 20 virsh -c "$VX" version 2>/dev/null | awk '/Running hypervisor/ {print $3, $4}')"
}

# xlr ADDR: the receiving end of "xl save | xl restore" over TCP
d_xlr() {
  [ -e "$VXD/relay-xlr.pid" ] && kill "$(cat "$VXD/relay-xlr.pid")" 2>/dev/null && sleep 1
  # xl save | xl restore over TCP (the non-live anchor): one "xl restore" per connection, fed from the socket;
  # it answers "RESTORED <exit code>" once the domain runs
  cat > /usr/local/sbin/xq-xlrestore <<'EOF2'
#!/bin/bash
cat | xl restore /dev/stdin > /var/log/xen/xq-xlrestore.log 2>&1
echo "RESTORED $?"
EOF2
  chmod +x /usr/local/sbin/xq-xlrestore
  setsid systemd-socket-activate -a --inetd -l "$1:$XLR_PORT" /usr/local/sbin/xq-xlrestore > "$VXD/relay-xlr.log" 2>&1 < /dev/null &
  echo $! > "$VXD/relay-xlr.pid"
}

d_hb_past() { # NAME HB: the last heartbeat on NAME's console here is past HB
  local hb
  hb=$(grep -a '^HB ' "$CONLOG/guest-$1.log" 2>/dev/null | tail -1 | awk '{print $2}')
  [ -n "$hb" ] && awk -v a="$hb" -v b="$2" 'BEGIN {exit !(a > b)}'
}
# stayed URI NAME LASTHB: a migration that failed left the guest running here, still counting
d_stayed() {
  local uri=$1 n=$2 last=$3 st hb
  st=$(xl list "$n" 2>/dev/null | awk 'NR==2 {print $5}')
  case $st in r-----|-b----|------) ;; *) echo "REASON: $n is '${st:-gone}' in xl list on the source after the failed migration"; return 1 ;; esac
  d_until 60 eval "[ \"\$(timeout 20 virsh -c '$uri' domstate '$n' 2>/dev/null | head -1)\" = running ]" \
    || { echo "REASON: virsh domstate $n says '$(timeout 20 virsh -c "$uri" domstate "$n" 2>&1 | head -1)' on the source"; return 1; }
  d_until 60 d_hb_past "$n" "${last:-0}" \
    || { echo "REASON: $n's console does not count on the source after the failed migration"; return 1; }
  hb=$(grep -a '^HB ' "$CONLOG/guest-$n.log" | tail -1 | awk '{print $2}')
  echo "NOTE: the guest kept running on the source (domid $(xl domid "$n"), heartbeat $last, then $hb)"
  if grep -q '^# CONFIG_SHADOW_PAGING is not set' /boot/xen-*.config 2>/dev/null; then echo "SHADOW=no"; else echo "SHADOW=yes"; fi
  grep -a 'Failed to enable logdirty' "$VXD/virtxend.log" | tail -1 | sed 's/.*msg="\([^"]*\)".*/LOGDIRTY: \1/'
}

# libvirtd ADDR: Debian's libvirtd, reachable from the peer as xen+tcp://ADDR/system
d_libvirtd() {
  systemctl start libvirtd || { echo "REASON: systemctl start libvirtd failed"; return 1; }
  d_until 120 timeout 20 virsh -c "$LV" uri || { journalctl -u libvirtd --no-pager | tail -8; echo "REASON: libvirtd does not answer"; return 1; }
  setsid systemd-socket-activate -l "$1:$LV_PORT" /usr/lib/systemd/systemd-socket-proxyd /run/libvirt/libvirt-sock \
    > "$VXD/relay-lv.log" 2>&1 < /dev/null &
  echo $! > "$VXD/relay-lv.pid"
  echo "NOTE: $(timeout 20 virsh -c "$LV" version 2>/dev/null | grep -i 'running against' | head -1)"
}

d_libvirtd_up() {
  systemctl is-active -q libvirtd || systemctl start libvirtd || { echo "REASON: libvirtd is not running and does not start"; return 1; }
  d_until 120 timeout 20 virsh -c "$LV" uri || { journalctl -u libvirtd --no-pager | tail -8; echo "REASON: libvirtd does not answer"; return 1; }
}

# reach URI [PEER]: PEER's relay to its virtxend accepts a TCP connection (dom0 has no ping), a virsh
# connection to the peer's daemon works
d_reach() {
  if [ -n "${2:-}" ]; then
    d_until 60 timeout 10 bash -c "exec 3<>/dev/tcp/$2/$VX_PORT" || { ip -s link; echo "REASON: no TCP connection to $2:$VX_PORT"; return 1; }
  fi
  d_until 180 timeout 60 virsh -c "$1" uri || { timeout 20 virsh -c "$1" uri; echo "REASON: cannot connect to $1"; return 1; }
}

# start URI NAME [pv|pvh]: define and start the test guest through virtxend (URI "xl": xl create); waits for
# GUEST-READY
d_start() {
  local uri=$1 n=$2 type=${3:-pv}
  if [ "$uri" != xl ] && [ "$(timeout 20 virsh -c "$uri" domstate "$n" 2>/dev/null | head -1)" = running ] \
    && grep -q GUEST-READY "$CONLOG/guest-$n.log" 2>/dev/null; then
    echo "NOTE: $n already runs here (left by an earlier run: MIG_REUSE), domid $(xl domid "$n")"
    return 0
  fi
  # Under a heavy load xenconsoled may not write the console's tty within libxl's 10 s ("console tty: timed
  # out"), and libxl then destroys the new domain: a start that failed so is tried again (3 tries), said below.
  # A PVH guest that dies early in boot the way guests under TCG's nested SVM do (a triple fault in Xen's
  # console ring, cleared before each start, or a kernel panic) is started again too, up to 6 starts.
  local try out boot why
  [ "$uri" = xl ] && d_xl_cfg "$n" "$type" > "/tmp/$n.cfg"
  if [ "$uri" != xl ]; then
    d_domain_xml "$n" "$type" > "/tmp/$n.xml"
    if ! timeout 60 virsh -c "$uri" domstate "$n" >/dev/null 2>&1; then # defined by an earlier run (MIG_REUSE)
      timeout 90 virsh -c "$uri" define "/tmp/$n.xml" >/dev/null || { echo "REASON: virsh define failed"; return 1; }
    fi
  fi
  for boot in 1 2 3 4 5 6; do
    rm -f "$CONLOG/guest-$n.log"
    xl dmesg -c > /dev/null 2>&1
    for try in 1 2 3; do
      if [ "$uri" = xl ]; then out=$(timeout 300 xl create -q "/tmp/$n.cfg" 2>&1) && break
      else
        out=$(timeout 300 virsh -c "$uri" start "$n" 2>&1) && break
        # the daemon may take longer than virsh waits (its job lock), and start it all the same
        if echo "$out" | grep -q 'Timed out during operation' && d_until 180 eval "[ \"\$(timeout 20 virsh -c '$uri' domstate '$n' 2>/dev/null | head -1)\" = running ]"; then
          echo "NOTE: virsh start timed out on a busy host ($(echo "$out" | grep -m1 'Timed out' | cut -c1-120)); the domain came up all the same"
          break
        fi
      fi
      echo "$out"
      echo "$out" | grep -q 'console tty: timed out\|console.*timed out' && [ $try -lt 3 ] || { echo "REASON: starting $n failed"; return 1; }
      echo "NOTE: start $try of $n failed on xenconsoled's slowness (console tty: timed out): starting again"
      sleep 5
    done
    # up (GUEST-READY), gone, or shut down (s, the 4th of xl list's state letters: a guest that died at once)
    d_until 300 eval "grep -q GUEST-READY '$CONLOG/guest-$n.log' || ! xl domid '$n' || xl list '$n' | awk 'NR==2 && \$5 ~ /^...s/ {f=1} END {exit !f}'"
    grep -q GUEST-READY "$CONLOG/guest-$n.log" 2>/dev/null && break
    why=$(xl dmesg | grep -m1 -E " d[0-9]+v[0-9]+ Triple fault" | sed 's/^(XEN) //')
    [ -n "$why" ] || why=$(grep -a -m1 'Kernel panic' "$CONLOG/guest-$n.log" 2>/dev/null | sed 's/^\[ *[0-9.]*\] //')
    if [ "$type" != pvh ] || [ -z "$why" ] || [ $boot = 6 ]; then
      tail -5 "$CONLOG/guest-$n.log" 2>/dev/null
      echo "REASON: no GUEST-READY on $n's console within 300 s${why:+ ($boot boots, last: $why)}"; return 1
    fi
    echo "NOTE: $n died early in boot, as guests under TCG's nested SVM do ($why): start $((boot + 1))"
    timeout 60 xl destroy "$n" > /dev/null 2>&1
  done
  d_until 30 grep -q '^HB ' "$CONLOG/guest-$n.log" || { echo "REASON: no heartbeat on $n's console"; return 1; }
  echo "NOTE: $n domid $(xl domid "$n")"
}

# tcgdeath: a guest died here the way guests under TCG's nested SVM do since Xen's console ring was cleared
d_tcgdeath() {
  local l; l=$(xl dmesg | grep -m1 -E " d[0-9]+v[0-9]+ Triple fault" | sed 's/^(XEN) //')
  [ -n "$l" ] && echo "DEATH=$(echo "$l" | grep -o 'd[0-9]*v[0-9]*' | head -1)-triple-fault"
}

# hvm: this dom0's Xen can run HVM and PVH guests (the CPU QEMU gives it has SVM and NPT: HAP, hence
# log-dirty paging for live migration)
d_hvm() {
  xl info | grep '^virt_caps' | grep -qw hvm || { echo "REASON: xl info: $(xl info | grep '^virt_caps')"; return 1; }
}

# lasthb NAME: the last heartbeat (uptime) on this host's console log of NAME, and the log's line count
# (xl migrate's receiver names the arriving domain NAME--incoming until it is complete, and xenconsoled names
# the console log after the name it first sees: guest-NAME--incoming.log; ILINES counts that one)
d_lasthb() {
  echo "HB=$(grep -a '^HB ' "$(d_conlog "$1")" 2>/dev/null | tail -1 | awk '{print $2}') LINES=$(d_lines "$1") ILINES=$(d_lines "$1--incoming")"
}
# conlog NAME: NAME's console log here, the newer of guest-NAME.log and guest-NAME--incoming.log
d_conlog() {
  local a=$CONLOG/guest-$1.log b=$CONLOG/guest-$1--incoming.log
  if [ -e "$b" ] && [ "$b" -nt "$a" ]; then echo "$b"; else echo "$a"; fi
}

# migrate URI NAME DEST [VIRSH FLAGS]: one migration from this host; prints MS=<milliseconds>
d_migrate() {
  local uri=$1 n=$2 dest=$3 t0 rc
  shift 3
  xl dmesg -c > /dev/null 2>&1 # a guest's death during the migration shows there alone (tcgdeath)
  local sampler="" vt0
  case $uri in
    xl|xlsave) ;;
    *)
      # virsh's own start-up, measured once here (it is part of every virsh migrate; xl is a C program)
      vt0=$(d_now); virsh -c "$uri" domid "$n" > /dev/null 2>&1; echo "VIRSHMS=$((($(d_now) - vt0) / 1000000))"
      # the source's job, sampled from another connection while the migration runs (virtxend reports libxc's
      # progress: data processed and the pre-copy round; libvirtd's libxl driver the elapsed time only). One
      # virsh reads a command a second, started and connected before the clock starts: it observes, and a virsh
      # started per sample, or beside virsh migrate, takes dom0 CPU that the migration needs under TCG (xl
      # migrate, the anchor, has no sampler). The writer ends when virsh has gone, also where SIGPIPE is ignored.
      rm -f "/tmp/jobinfo-$n.txt"
      ( echo "domjobinfo $n"; while sleep 1 && echo "domjobinfo $n"; do :; done ) 2>/dev/null \
        | virsh -q -c "$uri" > "/tmp/jobinfo-$n.txt" 2>/dev/null &
      sampler=$!
      d_until 20 grep -q '^Job type:' "/tmp/jobinfo-$n.txt" ;;
  esac
  t0=$(d_now)
  if [ "$uri" = xl ]; then
    timeout 900 xl migrate -s /usr/local/sbin/xq-xlpipe "$n" "$dest"; rc=$?
  elif [ "$uri" = xlsave ]; then
    # shellcheck disable=SC2016
    timeout 900 xl save "$n" /dev/stdout | timeout 900 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
while True:
    b = sys.stdin.buffer.read1(1 << 20)
    if not b:
        break
    s.sendall(b)
s.shutdown(socket.SHUT_WR)
r = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    r += b
print(r.decode().strip())
sys.exit(0 if b"RESTORED 0" in r else 1)' "$dest" "$XLR_PORT"; rc=$?
  else
    timeout 900 virsh -c "$uri" migrate "$@" "$n" "$dest"; rc=$?
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
    awk '/^Data processed:/ {v = $3; u = $4; m = (u ~ /^KiB/) ? 1024 : (u ~ /^MiB/) ? 1048576 : (u ~ /^GiB/) ? 1073741824 : 1
      if (v * m > max) max = v * m}
      /^Iteration:/ {if ($2 > it) it = $2}
      /^Job type:/ && !/None/ {n++}
      END {printf "JOBS=%d JOBDATA=%.0f JOBITER=%d\n", n, max, it}' "/tmp/jobinfo-$n.txt"
  fi
  echo "MS=$((($(d_now) - t0) / 1000000))"
  [ $rc = 0 ] || { echo "REASON: migrate exited $rc"; return 1; }
}

# arrived URI NAME FROMLINE LASTHB: the guest runs here: xl and virsh agree, its console goes on counting
d_arrived() { # URI NAME FROMLINE LASTHB [FROMLINE of NAME--incoming's log]
  local uri=$1 n=$2 from=$3 last=$4 id vid st hb new log=$CONLOG/guest-$2.log
  if [ "$(d_lines "$n--incoming")" -gt "${5:-0}" ]; then log=$CONLOG/guest-$n--incoming.log from=${5:-0}; fi
  id=$(xl domid "$n" 2>/dev/null) || { xl list; echo "REASON: xl list has no $n on the destination"; return 1; }
  st=$(xl list "$n" | awk 'NR==2 {print $5}')
  case $st in r-----|-b----|------) ;; *) echo "REASON: $n is '$st' in xl list on the destination" ; return 1 ;; esac
  if [ "$uri" != xl ] && [ "$uri" != xlsave ]; then
    d_until 30 eval "[ \"\$(timeout 20 virsh -c '$uri' domstate '$n' 2>/dev/null | head -1)\" = running ]" \
      || { echo "REASON: virsh domstate $n says '$(timeout 20 virsh -c "$uri" domstate "$n" 2>&1 | head -1)' on the destination"; return 1; }
    vid=$(timeout 20 virsh -c "$uri" domid "$n" 2>/dev/null | head -1)
    [ "$vid" = "$id" ] || { echo "REASON: virsh domid $n says '$vid', xl says $id"; return 1; }
    timeout 20 virsh -c "$uri" list | awk -v n="$n" -v id="$id" '$2 == n && $1 == id && $3 == "running"' | grep -q . \
      || { timeout 20 virsh -c "$uri" list; echo "REASON: virsh list does not show $n running with Id $id"; return 1; }
  fi
  # Two new heartbeats, past the last one the source saw, from the same domain: a guest that booted again
  # would be a new domain (a Xen guest's reboot is a destroy and a create) and count from 0. (Its boot's
  # GUEST-READY is no proof by itself: a PVH guest's console has shown old output again after a migration.)
  if ! d_until 60 eval "[ \$(tail -n +$((from + 1)) '$log' 2>/dev/null | awk -v b='$last' '/^HB / && \$2+0 > b+0' | wc -l) -ge 2 ]"; then
    tail -n +$((from + 1)) "$log" | tail -5
    echo "REASON: $n's console does not count on the destination (fewer than 2 heartbeats past $last, the source's last, in 60 s)"; return 1
  fi
  new=$(tail -n +$((from + 1)) "$log")
  hb=$(echo "$new" | grep -a '^HB ' | tail -1 | awk '{print $2}')
  if [ -n "$last" ] && ! awk -v a="$hb" -v b="$last" 'BEGIN {exit !(a > b)}'; then
    echo "REASON: heartbeat $hb on the destination is not past $last (the source's last): the guest restarted"; return 1
  fi
  local id2; id2=$(xl domid "$n" 2>/dev/null)
  [ "$id2" = "$id" ] || { echo "REASON: $n is domain ${id2:-gone} now, was $id on arrival: it was started again"; return 1; }
  if echo "$new" | grep -aq GUEST-READY; then
    echo "NOTE: the console showed GUEST-READY again (old output repeated; same domain, heartbeats past the source's): $(echo "$new" | grep -a -m3 . | tr '\n' '|')"
  fi
  echo "NOTE: domid $id on the destination; heartbeat $last on the source, $hb here"
}

# left URI NAME: the guest is gone from this host (xl), and virsh says so
d_left() {
  local uri=$1 n=$2 st
  d_until 60 eval "! xl domid '$n'" || { xl list; echo "REASON: $n is still in xl list on the source"; return 1; }
  case $uri in xl|xlsave) return 0 ;; esac
  st=$(timeout 20 virsh -c "$uri" domstate "$n" 2>&1 | head -1)
  case $st in "shut off"|*"failed to get domain"*|*"Domain not found"*|*"no domain with matching"*) ;;
    *) echo "REASON: virsh domstate $n says '$st' on the source"; return 1 ;;
  esac
  echo "NOTE: source: $st"
}

d_cleanup() { # destroy every guest but Domain-0
  local d
  for d in $(xl list | awk 'NR > 2 {print $1}'); do timeout 60 xl destroy "$d" >/dev/null 2>&1; done
}

d_logs() { # copy the daemons' logs to the share
  mkdir -p "$SHARE_DIR/results"
  cp "$VXD/virtxend.log" "$SHARE_DIR/results/virtxend-$(hostname).log" 2>/dev/null
  journalctl -u libvirtd --no-pager > "$SHARE_DIR/results/libvirtd-$(hostname).log" 2>/dev/null
  cp /var/log/libvirt/libxl/*.log "$SHARE_DIR/results/" 2>/dev/null
  cp /var/log/xen/xl-*.log "$SHARE_DIR/results/" 2>/dev/null
  mkdir -p "$SHARE_DIR/results/console-$(hostname)" && cp "$CONLOG"/*.log "$SHARE_DIR/results/console-$(hostname)/" 2>/dev/null
  xl dmesg > "$SHARE_DIR/results/xl-dmesg-$(hostname).txt" 2>/dev/null
  return 0
}

if [ "${1:-}" = --dom0 ]; then
  shift
  step=$1
  shift
  "d_$step" "$@"
  exit $?
fi

# ============================================ the host side ===============================================
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

read -ra PATHS <<< "${MIG_PATHS:-direct p2p tunnelled interop xl}"
want() { case " ${PATHS[*]} " in *" $1 "*) return 0 ;; esac; return 1; }
# plan_all: every check, in order (MIG_RUNS > 1 repeats the migrations under the same names)
plan_all() {
  local p
  echo boot-a boot-b setup-a setup-b
  want interop && echo libvirtd-b
  echo reach
  want interop && echo reach-lv
  want pvh && echo pvh-start pvh-live-a-b pvh-live-b-a pvh-tunnelled-a-b xlpvh-start xlpvh-live-a-b xlpvh-live-b-a
  for p in "${PATHS[@]}"; do
    case $p in direct|p2p|tunnelled|interop) echo vx-start live-a-b; break ;; esac
  done
  for p in "${PATHS[@]}"; do
    case $p in
      direct|p2p|tunnelled) echo "$p-a-b" "$p-b-a" ;;
      interop) echo interop-vx-lv interop-lv-vx ;;
      xl) echo xl-start xl-a-b xl-b-a ;;
    esac
  done
}
if [ "${1:-}" = --list ]; then plan_all | tr ' ' '\n'; exit 0; fi
[ $# -eq 0 ] || { sed -n '2,30p' "$0" >&2; exit 2; }

MIG_OUT=${MIG_OUT:-$XEN_TOP/_out/xenmig}
MIG_RUNS=${MIG_RUNS:-1}
DEADLINE=${MIG_DEADLINE:-2400}
END=$(($(date +%s) + DEADLINE))
CHECKS=$MIG_OUT/checks.txt
TIMES=$MIG_OUT/times
A_RUN=$MIG_OUT/a/run A_SHARE=$MIG_OUT/a/share
B_RUN=$MIG_OUT/b/run B_SHARE=$MIG_OUT/b/share
A_ADDR=10.77.0.1 B_ADDR=10.77.0.2
VM="$XEN_HACK/vm.sh"
export MEM=${MEM:-2048} SMP=${SMP:-2}
# The dom0s' CPU. PVH guests need HAP (SVM and NPT, on an AMD CPU: with an Intel vendor and SVM the PVH guest
# triple-faults at once, every time); Debian's libvirtd 9.0 needs a CPU it decodes, which an AMD one here is not
# (its libxl driver does not start: "Cannot find suitable CPU model for given data"). So the pvh path runs
# on its own, on qemu64,+svm,+npt, and the others on Nehalem.
if [ "${PATHS[*]}" = pvh ]; then MIG_CPU=${MIG_CPU:-qemu64,+svm,+npt}; else MIG_CPU=${MIG_CPU:-Nehalem}; fi

left() { echo $((END - $(date +%s))); }
pass() { echo "PASS $1 (${2:-0} s)" | tee -a "$CHECKS"; }
failc() { echo "FAIL $1: $2" | tee -a "$CHECKS"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# on A|B [-t S] CMD...: run in that dom0, output to $MIG_OUT/last.out (and the log)
on() {
  local h=$1 t=600
  shift
  if [ "$1" = -t ]; then t=$2; shift 2; fi
  [ "$(left)" -gt 30 ] || { echo "REASON: the deadline (MIG_DEADLINE=${DEADLINE}s) came first" > "$MIG_OUT/last.out"; return 124; }
  [ "$t" -le "$(left)" ] || t=$(left)
  case $h in
    A) RUN=$A_RUN SHARE=$A_SHARE "$VM" exec -t "$t" "$*" ;;
    B) RUN=$B_RUN SHARE=$B_SHARE "$VM" exec -t "$t" "$*" ;;
  esac > "$MIG_OUT/last.out" 2>&1
  local rc=$?
  { echo "--- $(date -u +%T) on $h: $*  (exit $rc)"; cat "$MIG_OUT/last.out"; } >> "$MIG_OUT/suite.log"
  return $rc
}
d() { local h=$1; shift; on "$h" "bash /mnt/host/migrate-suite.sh --dom0 $*"; }
reason() { local r; r=$(grep -m1 '^REASON: ' "$MIG_OUT/last.out" | sed 's/^REASON: //'); [ -n "$r" ] || r="$(grep -v '^\s*$' "$MIG_OUT/last.out" | tail -1 | cut -c1-200)"; echo "$r"; }
val() { grep -o "$1=[^ ]*" "$MIG_OUT/last.out" | tail -1 | cut -d= -f2; }
notes() { grep '^NOTE: ' "$MIG_OUT/last.out" | sed 's/^NOTE: /    /'; }

# step NAME HOST DOM0-STEP ARGS...: one check made of one dom0 step
step() {
  local name=$1 h=$2 t0
  shift 2
  t0=$(date +%s)
  if d "$h" "$@"; then pass "$name" $(($(date +%s) - t0)); notes; return 0; fi
  failc "$name" "$(reason)"
  grep -v '^REASON: ' "$MIG_OUT/last.out" | tail -8 | sed 's/^/    | /'
  return 1
}

# uri_of KIND HOST WHERE: the URI of HOST's daemon KIND (vx|lv|xl) as seen from WHERE
uri_of() {
  local kind=$1 h=$2 from=$3 addr
  [ "$h" = A ] && addr=$A_ADDR || addr=$B_ADDR
  case $kind in
    xl|xlsave) if [ "$h" = "$from" ]; then echo "$kind"; else echo "$addr"; fi ;;
    vx) if [ "$h" = "$from" ]; then echo "xen+unix:///system?socket=/run/vxt/run/virtxend-sock"; else echo "xen+tcp://$addr:16510/system"; fi ;;
    lv) if [ "$h" = "$from" ]; then echo "xen:///system"; else echo "xen+tcp://$addr/system"; fi ;;
  esac
}

# pvh_live PATH: PATH migrates the PVH guest live (virtxend's paths and their anchor, xl migrate)
pvh_live() { case $1 in pvh|pvhtun|xlpvh) return 0 ;; esac; return 1; }

# migrate NAME PATH GUEST SRC SRCKIND DST DSTKIND [VIRSH FLAGS]: one migration and its checks
migrate() {
  local name=$1 path=$2 g=$3 s=$4 sk=$5 t=$6 tk=$7 lasthb from ms t0 try l0 ifrom
  shift 7
  t0=$(date +%s)
  for try in 1 2 3; do
    d "$t" lasthb "$g"; from=$(val LINES) ifrom=$(val ILINES)
    d "$s" lasthb "$g"; lasthb=$(val HB)
    l0=$(load)
    d "$s" migrate "'$(uri_of "$sk" "$s" "$s")'" "$g" "'$(uri_of "$tk" "$t" "$s")'" "$@" && break
    # Under TCG's nested SVM a PVH guest now and then dies on a VM exit (a triple fault in Xen's console ring,
    # cleared when the migration began), and a live migration makes many: no fault of the migration. The
    # guest is started again on A, brought to the source, and migrated again (3 tries), said in the output.
    if pvh_live "$path"; then
      local out; out=$(cat "$MIG_OUT/last.out")
      if d "$s" tcgdeath && [ $try -lt 3 ]; then
        echo "    NOTE: $g died during the migration, as guests under TCG's nested SVM do ($(val DEATH)); try $((try + 1))"
        if d A cleanup && d B cleanup && d A start "'$(uri_of "$sk" A A)'" "$g" pvh \
          && { [ "$s" = A ] || d A migrate "'$(uri_of "$sk" A A)'" "$g" "'$(uri_of "$sk" B A)'" "$@"; }; then
          continue
        fi
        failc "$name" "the guest died during the migration (a TCG death) and could not be brought back: $(reason)"; return 1
      fi
      echo "$out" > "$MIG_OUT/last.out"
    fi
    failc "$name" "$(reason) (load $l0)"
    grep -v '^REASON: ' "$MIG_OUT/last.out" | tail -8 | sed 's/^/    | /'
    return 1
  done
  ms=$(val MS)
  local vms; vms=$(val VIRSHMS)
  local job="samples $(val JOBS), data processed $(val JOBDATA) bytes, iteration $(val JOBITER)"
  local jd; jd=$(val JOBDATA)
  if pvh_live "$path" && [ "$sk" = vx ] && ! [ "${jd:-0}" -gt 0 ]; then
    failc "$name" "virsh domjobinfo on the source showed no data processed during the migration ($job)"; return 1
  fi
  if ! d "$t" arrived "'$(uri_of "$tk" "$t" "$t")'" "$g" "${from:-0}" "${lasthb:-}" "${ifrom:-0}"; then
    failc "$name" "after the migration (${ms} ms): $(reason)"; grep -v '^REASON: ' "$MIG_OUT/last.out" | tail -8 | sed 's/^/    | /'; return 1
  fi
  local arrived; arrived=$(notes)
  if ! d "$s" left "'$(uri_of "$sk" "$s" "$s")'" "$g"; then
    failc "$name" "after the migration (${ms} ms): $(reason)"; return 1
  fi
  echo "$ms" >> "$TIMES-$path"
  [ -z "$vms" ] || echo "$vms" >> "$TIMES-virsh"
  pass "$name" $(($(date +%s) - t0))
  echo "$arrived"; notes
  echo "    migration $ms ms${vms:+ (a virsh call by itself here: $vms ms)}, load before: $l0, after: $(load)"
  case $sk in vx) echo "    the source's virsh domjobinfo, every second: $job" ;; esac
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
print_table() {
  local p vals med xl_med ratio label
  xl_med=$( [ -s "$TIMES-xl" ] && median < "$TIMES-xl")
  echo
  echo "== migration: the small test guest (128 MiB, 1 vCPU; PV unless said), A<->B over the private network, median seconds"
  printf '| %-44s | %-4s | %-7s | %-7s |\n' path runs median "vs xl"
  printf '|%s|%s|%s|%s|\n' ---------------------------------------------- ------ --------- ---------
  for p in xlpvh pvh pvhtun xl live direct p2p tunnelled interop; do
    [ "$p" = live ] && [ ! -s "$TIMES-live" ] && continue
    case $p in
      xlpvh) label="xl migrate (live), PVH guest" ;;
      pvh) label="virsh migrate --live, PVH guest (virtxend)" ;;
      pvhtun) label="... --live --p2p --tunnelled, PVH guest" ;;
      xl) label="xl save | xl restore (TCP)" ;;
      live) label="virsh migrate --live (virtxend)" ;;
      direct) label="virsh migrate (virtxend)" ;;
      p2p) label="virsh migrate --p2p (virtxend)" ;;
      tunnelled) label="virsh migrate --p2p --tunnelled" ;;
      interop) label="virtxend <-> libvirtd (direct)" ;;
    esac
    if [ ! -s "$TIMES-$p" ]; then printf '| %-44s | %-4s | %-7s | %-7s |\n' "$label" 0 - -; continue; fi
    vals=$(cat "$TIMES-$p"); med=$(echo "$vals" | median)
    ratio=-
    if pvh_live "$p"; then # the live paths' anchor is xl migrate
      [ -s "$TIMES-xlpvh" ] && ratio=$(awk -v a="$med" -v b="$(median < "$TIMES-xlpvh")" 'BEGIN {printf "%.2fx", a/b}')
    elif [ "${xl_med:-0}" -gt 0 ]; then ratio=$(awk -v a="$med" -v b="$xl_med" 'BEGIN {printf "%.2fx", a/b}')
    fi
    printf '| %-44s | %-4s | %-7s | %-7s |\n' "$label" "$(echo "$vals" | wc -l)" "$(awk -v m="$med" 'BEGIN {printf "%.2f", m/1000}')" "$ratio"
  done
  [ -s "$TIMES-virsh" ] && echo "a virsh call by itself on the source (virsh domid): median $(awk -v m="$(median < "$TIMES-virsh")" 'BEGIN {printf "%.2f", m/1000}') s, part of each virsh migrate"
  if [ -s "$TIMES-pvh" ] && [ -s "$TIMES-xlpvh" ]; then
    med=$(median < "$TIMES-pvh"); xl_med=$(median < "$TIMES-xlpvh")
    if awk -v a="$med" -v b="$xl_med" 'BEGIN {exit !(a <= 1.1 * b)}'; then echo "goal, virtxend live (PVH) within 1.1x of xl migrate: met"
    else echo "goal, virtxend live (PVH) within 1.1x of xl migrate: MISSED"; fi
    xl_med=$( [ -s "$TIMES-xl" ] && median < "$TIMES-xl")
  fi
  if [ -s "$TIMES-direct" ] && [ "${xl_med:-0}" -gt 0 ]; then
    # the anchor of the non-live paths
    med=$(median < "$TIMES-direct")
    if awk -v a="$med" -v b="$xl_med" 'BEGIN {exit !(a <= 1.1 * b)}'; then echo "goal, virtxend non-live (direct) within 1.1x of xl save | xl restore: met"
    else echo "goal, virtxend non-live (direct) within 1.1x of xl save | xl restore: MISSED"; fi
  fi
  echo "load average at the end: $(load)"
}

finish() {
  local rc=$? n m name
  trap - EXIT INT TERM
  d A logs >/dev/null 2>&1; d B logs >/dev/null 2>&1
  [ "${MIG_KEEP:-0}" = 1 ] || for r in "$A_RUN" "$B_RUN"; do RUN=$r "$VM" kill 2>/dev/null || true; done
  for name in $(plan_all | tr ' ' '\n'); do
    grep -q "^\(PASS\|FAIL\) ${name}[ :]" "$CHECKS" || failc "$name" "not run: ${NOT_RUN:-the suite ended early (exit $rc)}"
  done
  print_table | tee "$MIG_OUT/migration-table.txt"
  echo "results: $MIG_OUT (suite.log, a|b/run/serial.log, a|b/share/results/); took $(($(date +%s) - XEN_T0)) s"
  n=$(grep -c '^PASS ' "$CHECKS" || true)
  m=$(grep -c '^\(PASS\|FAIL\) ' "$CHECKS" || true)
  echo "xen migration: $n/$m passed"
  [ "$n" = "$m" ] && [ "$m" -gt 0 ]
  exit $?
}

REUSE=${MIG_REUSE:-0}
if [ "$REUSE" = 1 ]; then
  for s in "$A_SHARE" "$B_SHARE"; do [ -e "$s/state/ready" ] || xdie "MIG_REUSE=1: no dom0 ready in $s"; done
  rm -f "$TIMES"-* "$MIG_OUT/suite.log"
else
  for r in "$MIG_OUT/a/run" "$MIG_OUT/b/run"; do [ -e "$r/qemu.pid" ] && RUN=$r "$VM" kill; done
  rm -rf "$MIG_OUT"
fi
mkdir -p "$A_SHARE/bin" "$B_SHARE/bin" "$A_RUN" "$B_RUN"
: > "$CHECKS"
trap finish EXIT
trap 'NOT_RUN="interrupted"; exit 130' INT TERM
xlog "real-Xen migration: out $MIG_OUT, deadline ${DEADLINE}s, load $(load)"

# Run alone (make test-xen-migrate) on a fresh machine, nothing has installed QEMU yet: the same packages as
# test-xen.sh's, those missing only.
apt_install qemu-system-x86 socat libxen-dev gcc > "$MIG_OUT/host-packages.log" 2>&1 \
  || { NOT_RUN="host packages missing: $(tail -1 "$MIG_OUT/host-packages.log")"; exit 1; }
if [ -z "${IMG:-}" ]; then IMG=$XEN_CACHE_ROOT/$(image_key); fi
[ -s "$IMG/dom0.img" ] && [ -s "$IMG/xen" ] && [ -s "$IMG/versions" ] \
  || { NOT_RUN="no dom0 image in $IMG (hack/xen/build-image.sh builds it)"; exit 1; }
if [ -z "${VXBIN:-}" ]; then
  VXBIN=$MIG_OUT/virtxend
  xlog "go build -tags xenlight ./cmd/virtxend"
  (cd "$XEN_TOP" && CGO_ENABLED=1 go build -tags xenlight -o "$VXBIN" ./cmd/virtxend) > "$MIG_OUT/build.log" 2>&1 \
    || { NOT_RUN="go build -tags xenlight failed: $(head -3 "$MIG_OUT/build.log" | tr '\n' ' ')"; exit 1; }
fi
for s in "$A_SHARE" "$B_SHARE"; do
  cp "$VXBIN" "$s/bin/virtxend"
  cp "$0" "$s/migrate-suite.sh"
  "$XEN_HACK/build-guest.sh" "$s/guest" "$IMG" || { NOT_RUN="build-guest.sh failed"; exit 1; }
done

port=${MIG_PORT:-}
if [ -z "$port" ]; then
  for port in $(seq $((20000 + $$ % 20000)) $((20100 + $$ % 20000))); do
    ss -Htln "sport = :$port" | grep -q . || break
  done
fi
# the private network: a socket netdev on the loopback, A listening and B connecting (the same MAC would do
# no harm on a two-node segment, but each gets its own)
NIC_A="-netdev socket,id=n0,listen=127.0.0.1:$port -device virtio-net-pci,netdev=n0,mac=52:54:00:77:00:01"
NIC_B="-netdev socket,id=n0,connect=127.0.0.1:$port -device virtio-net-pci,netdev=n0,mac=52:54:00:77:00:02"
t0=$(date +%s)
if [ "$REUSE" = 1 ]; then
  pass boot-a 0; pass boot-b 0
else
RUN=$A_RUN SHARE=$A_SHARE NIC=$NIC_A CPU=$MIG_CPU "$VM" boot "$IMG" || { NOT_RUN="QEMU A did not start"; exit 1; }
sleep 1
RUN=$B_RUN SHARE=$B_SHARE NIC=$NIC_B CPU=$MIG_CPU "$VM" boot "$IMG" || { NOT_RUN="QEMU B did not start"; exit 1; }
wait_s=$(($(left) - 300)); [ "$wait_s" -le 1200 ] || wait_s=1200
ok=1
for h in A B; do
  if [ $h = A ]; then r=$A_RUN s=$A_SHARE; else r=$B_RUN s=$B_SHARE; fi
  if RUN=$r SHARE=$s "$VM" wait "$wait_s"; then pass "boot-${h,,}" $(($(date +%s) - t0))
  else failc "boot-${h,,}" "dom0 not ready within ${wait_s}s (serial log: $r/serial.log)"; ok=0; fi
done
xlog "both dom0s booted in $(($(date +%s) - t0)) s, load $(load)"
[ $ok = 1 ] || { NOT_RUN="a dom0 did not boot"; exit 1; }
fi

LV_OK=1
if [ "${MIG_SETUP:-1}" = 0 ]; then
  pass setup-a 0; pass setup-b 0; want interop && pass libvirtd-b 0
else
  step setup-a A setup a $A_ADDR $B_ADDR || { NOT_RUN="dom0 A is not set up (setup-a)"; exit 1; }
  step setup-b B setup b $B_ADDR $A_ADDR || { NOT_RUN="dom0 B is not set up (setup-b)"; exit 1; }
  if want interop; then step libvirtd-b B libvirtd $B_ADDR || LV_OK=0; fi
fi
t0=$(date +%s)
if d A reach "'$(uri_of vx B A)'" $B_ADDR && d B reach "'$(uri_of vx A B)'"; then
  pass reach $(($(date +%s) - t0))
else
  failc reach "$(reason)"; NOT_RUN="the daemons cannot reach each other (reach)"; exit 1
fi
if ! want interop; then
  :
elif [ $LV_OK = 1 ]; then
  # libvirtd on B (socket-activated) once more, if it went away
  t0=$(date +%s)
  if d B libvirtd_up && d A reach "'$(uri_of lv B A)'"; then pass reach-lv $(($(date +%s) - t0))
  else failc reach-lv "$(reason)"; LV_OK=0; fi
else
  failc reach-lv "not run: libvirtd did not start on B (libvirtd-b)"
fi

# Live migration of a PVH guest: Xen tracks its dirty pages with HAP (no shadow paging needed), so
# "virsh migrate --live" sends it while it runs: A->B direct, B->A --p2p. The anchor is xl migrate (always
# live) of the same guest, created by xl, between the same hosts.
if want pvh; then
  if ! d A hvm || ! d B hvm; then
    r=$(reason)
    for c in pvh-start pvh-live-a-b pvh-live-b-a pvh-tunnelled-a-b xlpvh-start xlpvh-live-a-b xlpvh-live-b-a; do
      failc $c "not run: no HVM in dom0 ($r; MIG_CPU=$MIG_CPU)"
    done
  elif step pvh-start A start "'$(uri_of vx A A)'" vxp pvh; then
    migrate pvh-live-a-b pvh vxp A vx B vx --live && migrate pvh-live-b-a pvh vxp B vx A vx --live --p2p \
      && migrate pvh-tunnelled-a-b pvhtun vxp A vx B vx --live --p2p --tunnelled
  fi
  d A cleanup; d B cleanup
  if d A hvm && step xlpvh-start A start xl xlp pvh; then
    migrate xlpvh-live-a-b xlpvh xlp A xl B xl && migrate xlpvh-live-b-a xlpvh xlp B xl A xl
  fi
  d A cleanup; d B cleanup
fi

# the guest, defined and started through virtxend on A
if grep -qx vx-start <(plan_all | tr ' ' '\n') && step vx-start A start "'$(uri_of vx A A)'" vxm; then
  # Live first. A PV guest's live migration needs log-dirty paging, which Xen implements for PV guests with
  # shadow paging: a Xen built without it (Debian's 4.17: CONFIG_SHADOW_PAGING is not set) refuses it
  # (libxc: "Failed to enable logdirty", EOPNOTSUPP; libxl: "guest timed out"), for xl migrate and libvirtd too.
  # On such a Xen the check is that the refused migration leaves the guest running on the source; on a Xen
  # that can, the guest goes to B live and comes back live. The paths below are then non-live (virsh migrate
  # without --live: the guest is suspended, sent, and resumed on the destination), libvirt's other mode.
  t0=$(date +%s)
  d A lasthb vxm; lasthb=$(val HB)
  d B lasthb vxm; from=$(val LINES)
  if d A migrate "'$(uri_of vx A A)'" vxm "'$(uri_of vx B A)'" --live; then
    ms=$(val MS)
    if d B arrived "'$(uri_of vx B B)'" vxm "${from:-0}" "$lasthb" && d A left "'$(uri_of vx A A)'" vxm; then
      echo "$ms" >> "$TIMES-live"
      migrate live-back live vxm B vx A vx --live && pass live-a-b $(($(date +%s) - t0))
    else
      failc live-a-b "after the live migration (${ms} ms): $(reason)"
    fi
  else
    out=$(cat "$MIG_OUT/last.out")
    if d A stayed "'$(uri_of vx A A)'" vxm "$lasthb"; then
      if grep -q '^SHADOW=no' "$MIG_OUT/last.out" && echo "$out" | grep -q 'guest timed out'; then
        pass live-a-b $(($(date +%s) - t0))
        echo "    live migration refused by this Xen: no shadow paging (CONFIG_SHADOW_PAGING is not set), so no log-dirty for PV guests"
        grep '^LOGDIRTY: ' "$MIG_OUT/last.out" | sed 's/^/    libxc: /'
        notes
      else
        failc live-a-b "virsh migrate --live failed: $(echo "$out" | grep -m1 error: | cut -c1-200)"
      fi
    else
      failc live-a-b "virsh migrate --live failed ($(echo "$out" | grep -m1 error: | cut -c1-160)) and then: $(reason)"
    fi
  fi
  for p in "${PATHS[@]}"; do
    case $p in xl|pvh) continue ;; esac
    if [ $p = interop ] && [ $LV_OK = 0 ]; then NOT_RUN="libvirtd on B cannot be reached (reach-lv)"; continue; fi
    case $p in direct|interop) f="" ;; p2p) f="--p2p" ;; tunnelled) f="--p2p --tunnelled" ;; esac
    for ((i = 1; i <= MIG_RUNS; i++)); do
      if [ $p = interop ]; then
        migrate interop-vx-lv interop vxm A vx B lv || break
        migrate interop-lv-vx interop vxm B lv A vx || break
      else
        # shellcheck disable=SC2086 # flags are words
        migrate "$p-a-b" "$p" vxm A vx B vx $f || break
        # shellcheck disable=SC2086
        migrate "$p-b-a" "$p" vxm B vx A vx $f || break
      fi
    done
  done
fi

# the anchor: the same guest created by xl, sent with "xl save | xl restore" over TCP (xl migrate is always
# live: see live-a-b), there and back
if want xl; then
  d A cleanup
  d A xlr $A_ADDR; d B xlr $B_ADDR
  if step xl-start A start xl xlm; then
    for ((i = 1; i <= MIG_RUNS; i++)); do
      migrate xl-a-b xl xlm A xlsave B xlsave || break
      migrate xl-b-a xl xlm B xlsave A xlsave || break
    done
  fi
fi
exit 0
