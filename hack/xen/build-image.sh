#!/usr/bin/env bash
# Usage: hack/xen/build-image.sh [--force]
#
# Makes sure the Xen 4.17 + Debian bookworm dom0 image for the current cache key exists, building it from
# Debian's packages when it does not, and prints its directory on stdout. Needs root (debootstrap, chroot).
#
# The image lives outside the checkout, in $VIRTXEND_XEN_CACHE/<key>/ (default
# ~/.cache/virtxend/xen-image/<key>/); the key hashes this script, configure-dom0.sh and the archive's
# versions of the Xen, kernel, QEMU and libvirt packages, so a second run reuses it and a package update rebuilds.
# Other keys' images are removed once a new one is built. The directory holds:
#   xen          the hypervisor, uncompressed (QEMU's -kernel multiboot loader needs an ELF, not the .gz)
#   vmlinuz      Debian's 6.1 kernel: dom0's, and the test guests' too (it is /vmlinuz inside the image)
#   initrd.img   dom0's initramfs (MODULES=list: virtio and ext4)
#   dom0.img     raw ext4 root filesystem (sparse), booted read-only (-snapshot)
#   versions     what is installed (xen, kernel, qemu-system-xen, libvirt)
#
# Env: MIRROR, SECMIRROR (Debian archive), IMG_SIZE (default 3G).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
FORCE=0
case ${1:-} in
  --force|-f) FORCE=1 ;;
  "") ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
IMG_SIZE=${IMG_SIZE:-3G}
[ "$(id -u)" -eq 0 ] || xdie "building the dom0 image needs root (debootstrap, chroot, mounts)"

apt_install debootstrap e2fsprogs >&2
KEY=$(image_key)
DEST=$XEN_CACHE_ROOT/$KEY
mkdir -p "$XEN_CACHE_ROOT"
exec 9> "$XEN_CACHE_ROOT/.lock"
flock -w 1800 9 || xdie "another image build holds $XEN_CACHE_ROOT/.lock"

if [ "$FORCE" = 0 ] && [ -s "$DEST/dom0.img" ] && [ -s "$DEST/xen" ] && [ -s "$DEST/versions" ]; then
  xlog "dom0 image cached: $DEST"
  echo "$DEST"
  exit 0
fi

xlog "building the dom0 image (key $KEY: $(image_versions))"
WORK=$XEN_CACHE_ROOT/.build-$KEY
DEBS=$XEN_CACHE_ROOT/debs # .deb cache shared across keys: a rebuild downloads only what changed
R=$WORK/rootfs
rm -rf "$WORK"
mkdir -p "$WORK" "$DEBS"

cleanup() {
  local m
  for m in "$R/var/cache/apt/archives" "$R/dev/pts" "$R/dev" "$R/sys" "$R/proc"; do
    if mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
  done
}
trap cleanup EXIT

xlog "debootstrap bookworm (minbase)"
debootstrap --variant=minbase --cache-dir="$DEBS" --include=ca-certificates bookworm "$R" "$MIRROR" \
  > "$WORK/debootstrap.log" 2>&1 || { tail -30 "$WORK/debootstrap.log" >&2; xdie "debootstrap failed"; }

cat > "$R/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECMIRROR bookworm-security main
EOF
# no daemon starts inside the build chroot
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod +x "$R/usr/sbin/policy-rc.d"
mkdir -p "$R/etc/initramfs-tools/conf.d"
echo 'MODULES=list' > "$R/etc/initramfs-tools/conf.d/xen-test.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' > "$R/etc/initramfs-tools/modules"
cat > "$R/etc/dpkg/dpkg.cfg.d/01-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/info/*
EOF

mount -t proc proc "$R/proc"
mount -t sysfs sys "$R/sys"
mount --bind /dev "$R/dev"
mount --bind /dev/pts "$R/dev/pts"
mkdir -p "$R/var/cache/apt/archives"
mount --bind "$DEBS" "$R/var/cache/apt/archives"

# iproute2: bridges, and Xen's vif-bridge hotplug script (ip link ... master). qemu-system-xen: Xen's device
# model, /usr/libexec/xen-qemu-system-i386, the path Debian's libxl starts (HVM guests, VNC, qdisk backends);
# it brings seabios and the iPXE ROMs hvmloader loads.
PKGS=(systemd-sysv udev kmod procps linux-image-amd64 initramfs-tools iproute2
  xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils qemu-system-xen
  libvirt-daemon libvirt-daemon-system libvirt-daemon-driver-xen libvirt-clients libxml2-utils)
xlog "apt-get install ${PKGS[*]}"
chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get -q update > "$WORK/apt.log" 2>&1 \
  || { tail -20 "$WORK/apt.log" >&2; xdie "apt-get update in the chroot failed"; }
chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends \
  -o DPkg::Options::=--force-confold install "${PKGS[@]}" >> "$WORK/apt.log" 2>&1 \
  || { tail -40 "$WORK/apt.log" >&2; xdie "apt-get install in the chroot failed"; }

xlog "configure dom0"
"$XEN_HACK/configure-dom0.sh" "$R" >&2

KVER=$(basename "$(find "$R/lib/modules" -mindepth 1 -maxdepth 1 -type d | sort -V | tail -1)")
chroot "$R" update-initramfs -u -k "$KVER" >> "$WORK/apt.log" 2>&1
mkdir -p "$WORK/out"
cp "$R/boot/vmlinuz-$KVER" "$WORK/out/vmlinuz"
cp "$R/boot/initrd.img-$KVER" "$WORK/out/initrd.img"
zcat "$R/boot/xen-4.17-amd64.gz" > "$WORK/out/xen"
# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
chroot "$R" dpkg-query -W -f '${Package}=${Version}\n' xen-utils-4.17 xen-hypervisor-4.17-amd64 \
  libxenmisc4.17 "linux-image-$KVER" qemu-system-xen libvirt-daemon-driver-xen libvirt-clients > "$WORK/out/versions"
cleanup
# after the unmount: apt-get clean inside would empty the shared .deb cache bound on var/cache/apt/archives
chroot "$R" apt-get clean

xlog "mkfs.ext4 -d -> dom0.img ($IMG_SIZE sparse)"
truncate -s "$IMG_SIZE" "$WORK/out/dom0.img"
mkfs.ext4 -q -F -L dom0root -E lazy_itable_init=0,lazy_journal_init=0 -d "$R" "$WORK/out/dom0.img"

rm -rf "$DEST"
mv "$WORK/out" "$DEST"
rm -rf "$WORK"
# keep only this key's image (each is ~900 MB on disk)
find "$XEN_CACHE_ROOT" -mindepth 1 -maxdepth 1 -type d ! -name debs ! -name "$KEY" -exec rm -rf {} +
xlog "dom0 image built: $DEST ($(du -sh "$DEST" | cut -f1) on disk; $(tr '\n' ' ' < "$DEST/versions"))"
echo "$DEST"
