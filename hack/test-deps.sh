#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, when they are missing and we are root, and fetches the parts
# of libvirt's release the conformance tests compare against (hack/libvirt-src.sh, cached outside the checkout).
# Without root, it says what is missing; tests that need a missing tool skip with that reason (and fail under CI).
set -euo pipefail
cd "$(dirname "$0")/.."

# package:command-or-file that proves it is installed
need=(
  "libxml2-utils:/usr/bin/xmllint"
  "libxen-dev:/usr/include/libxl.h"
  "libvirt-clients:/usr/bin/virsh"
  "libvirt-daemon:/usr/sbin/libvirtd"
  "python3-libvirt:/usr/lib/python3/dist-packages/libvirt.py"
  "man-db:/usr/bin/man"
  "groff-base:/usr/bin/groff"
  "systemd:/usr/bin/systemd-socket-activate"
  "prometheus:/usr/bin/promtool"
  "prometheus-libvirt-exporter:/usr/bin/prometheus-libvirt-exporter"
  # The tools of issue 13's e2e tests: virt-install/virt-xml/virt-clone, Ansible's community.libvirt (it parses XML
  # with lxml), and virt-manager under Xvfb driven through AT-SPI by dogtail (at-spi2-core: the accessibility bus).
  "virtinst:/usr/bin/virt-install"
  "ansible:/usr/bin/ansible-playbook"
  "python3-lxml:/usr/lib/python3/dist-packages/lxml/__init__.py"
  "virt-manager:/usr/bin/virt-manager"
  "xvfb:/usr/bin/Xvfb"
  "python3-dogtail:/usr/lib/python3/dist-packages/dogtail/tree.py"
  "at-spi2-core:/usr/libexec/at-spi-bus-launcher"
  "dbus-daemon:/usr/bin/dbus-run-session"
)

missing=()
for item in "${need[@]}"; do
  pkg=${item%%:*} probe=${item#*:}
  [ -e "$probe" ] || missing+=("$pkg")
done
install_missing() {
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing ${missing[*]} (not root: install them, or the tests that need them skip)" >&2
    return 0
  fi
  echo "test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # One update per machine boot is enough; apt-get update is slow and the archive is the only network here.
  stamp=/var/lib/apt/periodic/virtxend-update-stamp
  if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
    apt-get update -qq
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
  # Some packages (libvirt-daemon, prometheus, prometheus-libvirt-exporter) start their service when installed: a
  # temporary policy-rc.d that answers 101 keeps them down; one already in place (a container's) is left alone.
  guard=/usr/sbin/policy-rc.d
  if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod 755 "$guard"
    trap "rm -f $guard" EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
install_missing
hack/libvirt-src.sh >/dev/null
