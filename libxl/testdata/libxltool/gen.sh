#!/bin/sh
# Regenerates what the libxl package takes from the real libxenlight 4.17 (Debian libxen-dev):
#   ../libxl417/*.json   libvirt's expected libxlxml2domconfig files as libxl itself prints them
#   ../../cpuid_table.go the cpuid feature names libxl_cpuid_parse_config knows
# Needs a C compiler and libxen-dev; no Xen is needed (libmock.so stands in for libxc and xenstore). libvirt's
# expected files come from its release (hack/libvirt-src.sh fetches and caches it; CORPUS overrides the directory).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
corpus=${CORPUS:-$("$here/../../../hack/libvirt-src.sh")/tests/libxlxml2domconfigdata}
lib=${LIBXENLIGHT:-$(ls /usr/lib/*/libxenlight.so.4.17* 2>/dev/null | head -1)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -shared -fPIC -o "$tmp/libmock.so" "$here/mock.c"
cc -o "$tmp/canon" "$here/canon.c" -lxenlight -lxentoollog
cc -o "$tmp/cpuidtab" "$here/cpuidtab.c" -lxenlight -lxentoollog
for f in "$corpus"/*.json; do
	LD_PRELOAD="$tmp/libmock.so" "$tmp/canon" "$f" >"$here/../libxl417/$(basename "$f")"
done
cd "$here"
LD_PRELOAD="$tmp/libmock.so" go run gentable.go -lib "$lib" -tool "$tmp/cpuidtab" -out ../../cpuid_table.go
cc -o "$tmp/samples" "$here/samples.c" -lxenlight -lxentoollog
mkdir -p "$here/../libxl417-extra"
LD_PRELOAD="$tmp/libmock.so" "$tmp/samples" >"$tmp/samples.out"
awk -v dir="$here/../libxl417-extra" 'BEGIN { n = split("pv-devices hvm-spice hvm-genid-xsdata empty", names, " "); i = 1 }
	/^\f$/ { i++; next } { print > (dir "/" names[i] ".json") }' "$tmp/samples.out"
