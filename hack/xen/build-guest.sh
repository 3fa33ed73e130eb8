#!/usr/bin/env bash
# Usage: hack/xen/build-guest.sh OUTDIR [IMAGE_DIR]
#
# Builds the test guests' busybox initramfs, OUTDIR/guest-initrd.gz (about 1 MiB), from the host's
# busybox-static. The guests boot Debian's kernel (the dom0 image's /vmlinuz) with it, PV or PVH:
#   - it loads xen-blkfront and xen-netfront, taken from IMAGE_DIR/dom0.img (Debian builds them as modules;
#     without IMAGE_DIR the guests have no disk or nic);
#   - it prints "GUEST-READY ..." on hvc0 once userspace is up;
#   - with xqhb=1 on the kernel command line it prints "HB <uptime>" every second (the tests see pause,
#     resume and restore take effect in the console log);
#   - with xqnet=ADDR/PREFIX,PEER it brings eth0 up with ADDR, prints "NET-UP" once PEER answers a ping,
#     then pings PEER every second; with xqdisk=DEV it reads 64 KiB and writes 4 KiB of DEV every 2 seconds,
#     each time at the next offset, and prints "DISK-IO N" (the metrics check sees the counters move);
#   - a shell runs on hvc0, so what is typed on the console (virsh console) is executed;
#   - an orderly poweroff (xl/virsh shutdown) prints GUEST-SHUTDOWN.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
OUTDIR=${1:-}
IMGDIR=${2:-}
[ -n "$OUTDIR" ] || { sed -n '2,16p' "$0" >&2; exit 2; }
BB=${BUSYBOX:-/bin/busybox}
[ -x "$BB" ] || apt_install busybox-static cpio
if ldd "$BB" >/dev/null 2>&1; then xdie "$BB is not static (apt-get install busybox-static)"; fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/{bin,sbin,etc,proc,sys,dev,tmp,root}
cp "$BB" "$W/bin/busybox"
for a in sh ash ls cat echo mount umount sleep poweroff reboot halt init uname dmesg ps free \
  mkdir true false grep sed date uptime sync kill cut insmod ip ping dd tr head; do
  ln -sf busybox "$W/bin/$a"
done
for a in init poweroff reboot halt; do ln -sf ../bin/busybox "$W/sbin/$a"; done
ln -sf /sbin/init "$W/init"
if [ -n "$IMGDIR" ]; then
  # the front-end drivers of the image's kernel (the guests' kernel), read out of its ext4 root with debugfs
  mkdir -p "$W/lib/modules"
  kver=$(debugfs -R 'ls -p /lib/modules' "$IMGDIR/dom0.img" 2>/dev/null | awk -F/ '$6 ~ /^[0-9]/ {print $6}' | sort -V | tail -1)
  [ -n "$kver" ] || xdie "no /lib/modules/<version> in $IMGDIR/dom0.img"
  for m in block/xen-blkfront net/xen-netfront; do
    debugfs -R "dump /lib/modules/$kver/kernel/drivers/$m.ko $W/lib/modules/${m#*/}.ko" "$IMGDIR/dom0.img" 2>/dev/null
    [ -s "$W/lib/modules/${m#*/}.ko" ] || xdie "no $m.ko for $kver in $IMGDIR/dom0.img"
  done
fi
cat > "$W/etc/inittab" <<'EOF'
::sysinit:/etc/rcS
hvc0::respawn:/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/echo GUEST-SHUTDOWN
EOF
cat > "$W/etc/rcS" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in /lib/modules/*.ko; do [ -e "$m" ] && insmod "$m" 2>/dev/null; done
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p" | head -1; }
if grep -q xqhb=1 /proc/cmdline; then
  ( while :; do echo "HB $(cut -d' ' -f1 /proc/uptime)" > /dev/hvc0; sleep 1; done ) &
fi
net=$(arg xqnet)
if [ -n "$net" ]; then
  ( n=0; while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n + 1)); done
    ip link set lo up
    { ip addr add "${net%,*}" dev eth0 && ip link set eth0 up; } || echo "NET-FAIL: eth0 cannot be set up" > /dev/hvc0
    until ping -c 1 -W 1 "${net#*,}" > /dev/null 2>&1; do sleep 1; done
    echo "NET-UP ${net%,*}" > /dev/hvc0
    exec ping -i 1 "${net#*,}" > /dev/null 2>&1 ) &
fi
disk=$(arg xqdisk)
if [ -n "$disk" ]; then
  ( n=0; while :; do
      dd if="$disk" of=/dev/null bs=64k count=1 skip=$((n % 256)) 2>/dev/null
      dd if=/dev/zero of="$disk" bs=4k count=1 seek=$((n % 4096)) 2>/dev/null; sync
      n=$((n + 1)); echo "DISK-IO $n" > /dev/hvc0; sleep 2
    done ) &
fi
echo "GUEST-READY kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/hvc0
EOF
chmod +x "$W/etc/rcS"
mkdir -p "$OUTDIR"
(cd "$W" && find . | cpio -o -H newc --quiet | gzip -9) > "$OUTDIR/guest-initrd.gz.tmp"
mv "$OUTDIR/guest-initrd.gz.tmp" "$OUTDIR/guest-initrd.gz"
