#!/usr/bin/env bash
# libvirt-src.sh: puts the parts of libvirt's release that the tests compare against into a cache outside the
# checkout, once, and prints the cache directory.
#
# The tests' reference data is libvirt's own: the Xen test corpora (tests/libxlxml2domconfigdata, xlconfigdata,
# xmconfigdata, domaincapsdata), the domain XML schemas (src/conf/schemas), the daemon's configuration
# templates and unit file templates (src/remote, src/). They come from the source tarball of the pinned libvirt
# release in Debian's source archive, fetched with apt's own machinery under a private configuration (a deb-src
# entry built from the host's configured archive URI, private list and cache directories: nothing on the host
# changes), and checked against the SHA-256 recorded below before anything is extracted.
#
# Environment:
#   VIRTXEND_CACHE   cache root (default ~/.cache/virtxend)
#   LIBVIRT_SUITE    the Debian suite that carries the pinned release (default trixie)
#   DEBIAN_MIRROR    archive URI (default: the first one the host's apt sources name)
#
# Exit status: 0 with the directory on stdout; 1 with the reason on stderr.
set -euo pipefail

VERSION=11.3.0
TARBALL=libvirt_${VERSION}.orig.tar.xz
SHA256=6bcb0c42c4580436fea262ced56f68a6afe20f7390b1bea2116718cc034a0283
# What the tests read, relative to the top of libvirt's source tree.
PARTS=(
  tests/libxlxml2domconfigdata
  tests/xlconfigdata
  tests/xmconfigdata
  tests/domaincapsdata/libxl-xenpv.xml
  tests/domaincapsdata/libxl-xenfv.xml
  src/conf/schemas
  src/remote/libvirtd.conf.in
  src/remote/remote_protocol.x
  src/admin/admin_protocol.x
  src/libvirt_public.syms
  src/admin/libvirt_admin_public.syms
  src/libxl/libxl.conf
  src/virtd.service.in
  src/virtd.socket.in
  src/virtd-ro.socket.in
  src/virtd-admin.socket.in
  src/libxl/virtxend.service.extra.in
  tests/libxlxml2domconfigtest.c
  tests/xlconfigtest.c
  tests/xmconfigtest.c
  tests/domaincapstest.c
)

cache=${VIRTXEND_CACHE:-$HOME/.cache/virtxend}
dest=$cache/libvirt-$VERSION
# The marker names the tarball and every part extracted: a list that grew extracts again from the download.
marker="$SHA256  $TARBALL ${PARTS[*]}"
if [ -e "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$marker" ]; then
  echo "$dest"
  exit 0
fi

say() { echo "libvirt-src: $*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/libvirt-src.XXXXXX")
trap 'rm -rf "$work"' EXIT

dl=$cache/downloads
mkdir -p "$dl"
if [ ! -s "$dl/$TARBALL" ] || ! echo "$SHA256  $dl/$TARBALL" | sha256sum -c --status; then
  command -v apt-get >/dev/null || { say "apt-get not found: cannot fetch $TARBALL"; exit 1; }
  mirror=${DEBIAN_MIRROR:-}
  if [ -z "$mirror" ]; then
    # The host's own archive: deb822 sources first, then one-line sources.
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}')
    [ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}')
  fi
  [ -n "$mirror" ] || { say "no Debian archive URI in the host's apt sources (set DEBIAN_MIRROR)"; exit 1; }
  suite=${LIBVIRT_SUITE:-trixie}
  mkdir -p "$work/sources" "$work/lists/partial" "$work/cache/archives/partial" "$work/get"
  echo "deb-src $mirror $suite main" >"$work/sources/libvirt-src.list"
  apt_opts=(
    -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/sources"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1"
  )
  say "fetching $TARBALL from $mirror ($suite) with a private apt configuration"
  apt-get "${apt_opts[@]}" -qq update >"$work/update.log" 2>&1 || {
    say "apt-get update of the private source list failed:"; cat "$work/update.log" >&2; exit 1; }
  # The .dsc may be missing from the archive while the tarball is there: apt then exits non-zero after
  # fetching the tarball, so the tarball and its checksum decide, not the exit status.
  (cd "$work/get" && apt-get "${apt_opts[@]}" -qq source --download-only "libvirt=$(
    apt-cache "${apt_opts[@]}" showsrc libvirt 2>/dev/null | awk -v v="$VERSION" '
      /^Version:/ { ver = $2 } ver ~ "^" v "-" { print ver; exit }')" >"$work/source.log" 2>&1) || true
  if [ ! -s "$work/get/$TARBALL" ]; then
    say "apt-get source did not fetch $TARBALL:"; cat "$work/source.log" >&2; exit 1
  fi
  mv "$work/get/$TARBALL" "$dl/$TARBALL.part"
  mv "$dl/$TARBALL.part" "$dl/$TARBALL"
fi
if ! echo "$SHA256  $dl/$TARBALL" | sha256sum -c --status; then
  say "$dl/$TARBALL: SHA-256 $(sha256sum "$dl/$TARBALL" | cut -d' ' -f1), want $SHA256; removed"
  rm -f "$dl/$TARBALL"
  exit 1
fi

tar --no-same-owner -C "$work" -xJf "$dl/$TARBALL" "${PARTS[@]/#/libvirt-$VERSION/}"
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
cp -a "$work/libvirt-$VERSION/." "$dest.tmp/"
echo "$marker" >"$dest.tmp/.complete"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
say "extracted libvirt $VERSION's test data and templates into $dest"
echo "$dest"
