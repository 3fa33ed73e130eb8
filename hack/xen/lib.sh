# shellcheck shell=bash
# Shared settings and helpers of the real-Xen harness (sourced by the scripts in hack/xen/, never run).
#
# Knobs (environment):
#   VIRTXEND_XEN_CACHE   image cache, outside the checkout
#                        (default ${XDG_CACHE_HOME:-$HOME/.cache}/virtxend/xen-image)
#   XEN_OUT              per-run scratch: run dir, 9p share, logs (default _out/xen in the checkout)
#   MIRROR, SECMIRROR    Debian archive used for the dom0 image (default: what this host's apt uses)

XEN_HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
XEN_TOP=$(cd "$XEN_HACK/../.." && pwd)

XEN_CACHE_ROOT=${VIRTXEND_XEN_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/virtxend/xen-image}
export XEN_CACHE_ROOT
XEN_OUT=${XEN_OUT:-$XEN_TOP/_out/xen}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${SECMIRROR:-http://deb.debian.org/debian-security}

# The packages whose versions key the image cache (together with the image-building scripts).
XEN_KEY_PACKAGES=(xen-hypervisor-4.17-amd64 xen-utils-4.17 linux-image-amd64 qemu-system-xen
  libvirt-daemon-driver-xen libvirt-daemon-system libvirt-clients)
# The scripts whose content keys the image cache.
XEN_KEY_SCRIPTS=("$XEN_HACK/build-image.sh" "$XEN_HACK/configure-dom0.sh")

XEN_T0=${XEN_T0:-$(date +%s)}
export XEN_T0

# xlog MSG...: a progress line on stderr with the seconds since the stage started.
xlog() { echo "[xen +$(($(date +%s) - XEN_T0))s] $*" >&2; }

# xdie MSG...: print and exit 1.
xdie() { xlog "error: $*"; exit 1; }

# apt_install PKG...: install Debian packages that are missing (root only; waits for other apt users).
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || { xlog "missing host packages: ${missing[*]} (not root: install them)"; return 1; }
  xlog "apt-get install ${missing[*]}"
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -qq --no-install-recommends \
    install "${missing[@]}" >/dev/null
}

# apt_update_once: apt-get update at most once every 12 hours (shared stamp with hack/test-deps.sh).
apt_update_once() {
  local stamp=/var/lib/apt/periodic/virtxend-update-stamp
  if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
}

# candidate_version PKG: the version apt would install (what the image build gets from the same archive).
candidate_version() {
  LC_ALL=C apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}'
}

# image_key: the cache key of the dom0 image: hash of the image-building scripts and the package versions.
image_key() {
  {
    sha256sum "${XEN_KEY_SCRIPTS[@]}" | awk '{print $1}'
    local p
    for p in "${XEN_KEY_PACKAGES[@]}"; do echo "$p=$(candidate_version "$p")"; done
  } | sha256sum | cut -c1-16
}

# image_versions: the package versions behind the key, for the log.
image_versions() {
  local p
  for p in "${XEN_KEY_PACKAGES[@]}"; do printf '%s=%s ' "$p" "$(candidate_version "$p")"; done
  echo
}
