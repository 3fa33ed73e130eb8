#!/usr/bin/env bash
# Usage: hack/xen/build-guest.sh OUTDIR
#
# Builds the test guests' busybox initramfs, OUTDIR/guest-initrd.gz (about 1 MiB), from the host's
# busybox-static. The guests boot Debian's kernel (the dom0 image's /vmlinuz) with it, PV or PVH:
#   - it prints "GUEST-READY ..." on hvc0 once userspace is up;
#   - with xqhb=1 on the kernel command line it prints "HB <uptime>" every second (the tests see pause,
#     resume and restore take effect in the console log);
#   - a shell runs on hvc0, so what is typed on the console (virsh console) is executed;
#   - an orderly poweroff (xl/virsh shutdown) prints GUEST-SHUTDOWN.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
OUTDIR=${1:-}
[ -n "$OUTDIR" ] || { sed -n '2,11p' "$0" >&2; exit 2; }
BB=${BUSYBOX:-/bin/busybox}
[ -x "$BB" ] || apt_install busybox-static cpio
if ldd "$BB" >/dev/null 2>&1; then xdie "$BB is not static (apt-get install busybox-static)"; fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/{bin,sbin,etc,proc,sys,dev,tmp,root}
cp "$BB" "$W/bin/busybox"
for a in sh ash ls cat echo mount umount sleep poweroff reboot halt init uname dmesg ps free \
  mkdir true false grep sed date uptime sync kill cut; do
  ln -sf busybox "$W/bin/$a"
done
for a in init poweroff reboot halt; do ln -sf ../bin/busybox "$W/sbin/$a"; done
ln -sf /sbin/init "$W/init"
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
if grep -q xqhb=1 /proc/cmdline; then
  ( while :; do echo "HB $(cut -d' ' -f1 /proc/uptime)" > /dev/hvc0; sleep 1; done ) &
fi
echo "GUEST-READY kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/hvc0
EOF
chmod +x "$W/etc/rcS"
mkdir -p "$OUTDIR"
(cd "$W" && find . | cpio -o -H newc --quiet | gzip -9) > "$OUTDIR/guest-initrd.gz.tmp"
mv "$OUTDIR/guest-initrd.gz.tmp" "$OUTDIR/guest-initrd.gz"
