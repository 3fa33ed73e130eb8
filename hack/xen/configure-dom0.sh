#!/usr/bin/env bash
# Usage: hack/xen/configure-dom0.sh ROOTFS
#
# Configures an installed Debian dom0 tree for a headless test host inside QEMU (called by build-image.sh):
#  - root on LABEL=dom0root, no password, autologin on hvc0 (Xen's PV console, on QEMU's serial port)
#  - the host folder (virtio-9p, mount tag "hostshare") mounted on /mnt/host
#  - xq-agent.service: runs the command files the host drops into /mnt/host/cmd (see vm.sh exec)
#  - xenconsoled logs every guest console to /var/log/xen/console/guest-NAME.log
#  - libvirtd does not start at boot (the tests start it; under an AMD CPU model its Xen driver cannot start)
#    and runs without its idle timeout; units a test host never needs are masked
set -euo pipefail
R=${1:-}
if [ -z "$R" ] || [ ! -d "$R/etc" ]; then sed -n '2,10p' "$0" >&2; exit 2; fi

echo xendom0 > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\txendom0\n' > "$R/etc/hosts"
cat > "$R/etc/fstab" <<'EOF'
LABEL=dom0root  /          ext4  defaults,noatime,errors=remount-ro  0 1
hostshare       /mnt/host  9p    trans=virtio,version=9p2000.L,msize=262144,cache=none,nofail,x-systemd.device-timeout=5s  0 0
EOF
mkdir -p "$R/mnt/host"
chroot "$R" passwd -d root >/dev/null

mkdir -p "$R/etc/systemd/system/serial-getty@hvc0.service.d"
cat > "$R/etc/systemd/system/serial-getty@hvc0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,38400,9600 %I $TERM
EOF

# The command agent. Protocol: the host writes cmd/ID.sh atomically (rename); the agent runs it with bash
# in /root, stdout+stderr to cmd/ID.out (written as it goes), then the exit code to cmd/ID.rc, written last
# and atomically. Commands run concurrently. state/ready says the agent (and so xen.service) is up.
cat > "$R/usr/local/sbin/xq-agent" <<'EOF'
#!/bin/bash
S=/mnt/host
mountpoint -q $S || mount $S || { echo "xq-agent: cannot mount $S" >&2; exit 1; }
mkdir -p $S/cmd $S/state
{ echo "uptime=$(cut -d' ' -f1 /proc/uptime)"; echo "kernel=$(uname -r)"
  xl info 2>/dev/null | awk -F': ' '/^(xen_version|virt_caps|nr_cpus|total_memory)/ {gsub(/ +$/, "", $1); print $1"="$2}'
} > $S/state/ready.tmp
mv $S/state/ready.tmp $S/state/ready
echo "xq-agent: ready" > /dev/kmsg
while :; do
  for f in $S/cmd/*.sh; do
    [ -e "$f" ] || continue
    id=${f%.sh}
    { [ -e "$id.rc" ] || [ -e "$id.running" ]; } && continue
    : > "$id.running"
    ( cd /root && timeout "${XQ_TIMEOUT:-7200}" bash "$f" > "$id.out" 2>&1 < /dev/null
      echo $? > "$id.rc.tmp"; mv "$id.rc.tmp" "$id.rc"; rm -f "$id.running" ) &
  done
  sleep 0.2
done
EOF
chmod +x "$R/usr/local/sbin/xq-agent"
cat > "$R/etc/systemd/system/xq-agent.service" <<'EOF'
[Unit]
Description=Test command agent (runs the commands the host drops into the 9p share)
After=xen.service local-fs.target
Wants=xen.service

[Service]
Type=simple
ExecStart=/usr/local/sbin/xq-agent
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/xq-agent.service "$R/etc/systemd/system/multi-user.target.wants/xq-agent.service"

printf '9p\n9pnet_virtio\nxen-gntdev\nxen-gntalloc\nxen-evtchn\nxenfs\n' > "$R/etc/modules-load.d/xen-test.conf"

for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
         dpkg-db-backup.timer getty@tty1.service systemd-timesyncd.service man-db.timer \
         libvirt-guests.service xendomains.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nForwardToConsole=no\n' > "$R/etc/systemd/journald.conf.d/xen-test.conf"

# xl: dom0_mem is fixed on Xen's command line, so no autoballooning
if [ -f "$R/etc/xen/xl.conf" ]; then
  sed -i 's/^#\?autoballoon=.*/autoballoon="off"/' "$R/etc/xen/xl.conf"
  grep -q '^autoballoon' "$R/etc/xen/xl.conf" || echo 'autoballoon="off"' >> "$R/etc/xen/xl.conf"
fi
# Debian's init script passes XENCONSOLED_ARGS (XENCONSOLED_TRACE in its comments is not used)
grep -q '^XENCONSOLED_ARGS=' "$R/etc/default/xen" 2>/dev/null || echo 'XENCONSOLED_ARGS="--log=guest"' >> "$R/etc/default/xen"
mkdir -p "$R/var/log/xen/console"
# libvirtd starts only when asked (systemctl start, or its socket), and then stays up for the whole comparison
# (Debian starts it with --timeout 120)
rm -f "$R/etc/systemd/system/multi-user.target.wants/libvirtd.service"
if [ -f "$R/etc/default/libvirtd" ]; then
  sed -i 's/^#\?LIBVIRTD_ARGS=.*/LIBVIRTD_ARGS=""/' "$R/etc/default/libvirtd"
fi
# the same autoballoon choice for libvirt's libxl driver
if [ -f "$R/etc/libvirt/libxl.conf" ]; then
  sed -i 's/^#\?autoballoon *=.*/autoballoon = 0/' "$R/etc/libvirt/libxl.conf"
fi
rm -f "$R/usr/sbin/policy-rc.d"
echo "configure-dom0: ok"
