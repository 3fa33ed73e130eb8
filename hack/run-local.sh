#!/usr/bin/env bash
# make run: a whole virtxend instance from one private directory (_out/local), on the embedded simulated Xen
# host, with the sample domains dropped in. Runs in the foreground; Ctrl-C stops the daemon (the simulated
# guests keep running, as real ones would, and are adopted at the next `make run`).
set -euo pipefail
bin=${1:-bin/virtxend}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${VIRTXEND_LOCAL_DIR:-$top/_out/local}
mkdir -p "$dir/run" "$dir/domains.d" "$dir/defines" "$dir/state"
cat > "$dir/virtxend.conf" <<CONF
# Written by hack/run-local.sh: a private instance on the simulated Xen host.
unix_sock_dir = "$dir/run"
hypervisor = "sim"
domains_dir = "$dir/domains.d"
defines_dir = "$dir/defines"
state_dir = "$dir/state"
libxl_config_file = "$dir/libxl.conf"
log_level = 2
CONF
cp -n "$top"/config/samples/*.yaml "$top"/config/samples/*.xml "$dir/domains.d/" 2>/dev/null || true

cat <<MSG

virtxend: a private instance in $dir (simulated Xen host)
  talk to it:      virsh -c 'xen+unix:///system?socket=$dir/run/virtxend-sock'
  read-only:       virsh -r -c 'xen+unix:///system?socket=$dir/run/virtxend-sock-ro'
  administration:  virt-admin -c 'virtxend+unix:///system?socket=$dir/run/virtxend-admin-sock'
  desired state:   drop XenDomain YAML or domain XML files into $dir/domains.d
Ctrl-C stops the daemon; the guests keep running.

MSG
exec "$top/$bin" -f "$dir/virtxend.conf" -p "$dir/virtxend.pid"
