#!/usr/bin/env bash
# control-plane.sh: builds the Kubernetes control plane that fleet mode's tests run against — kube-apiserver and
# etcd, from their Go modules through the Go module proxy (nothing else is downloaded) — into a cache outside
# the checkout, once, and prints the directory holding the binaries (envtest's KUBEBUILDER_ASSETS layout:
# kube-apiserver, etcd).
#
# kube-apiserver: a throwaway module requiring k8s.io/kubernetes, whose go.mod points every k8s.io staging
# module at its own tree; here each is replaced by the release published under its own name (v0.MINOR.PATCH
# for kubernetes v1.MINOR.PATCH). etcd: a throwaway module requiring go.etcd.io/etcd/server/v3.
#
# Environment: VIRTXEND_CACHE (default ~/.cache/virtxend), KUBERNETES_VERSION, ETCD_VERSION.
# Cold: some 6-10 minutes on 2 cores, mostly compiling kube-apiserver; warm: instant.
set -euo pipefail

KUBERNETES_VERSION=${KUBERNETES_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
cache=${VIRTXEND_CACHE:-$HOME/.cache/virtxend}
dest=$cache/fleet/kubernetes-$KUBERNETES_VERSION-etcd-$ETCD_VERSION
GO=${GO:-go}

say() { echo "control-plane: $*" >&2; }

if [ -x "$dest/kube-apiserver" ] && [ -x "$dest/etcd" ]; then
  echo "$dest"
  exit 0
fi
mkdir -p "$dest"
work=$(mktemp -d "${TMPDIR:-/tmp}/control-plane.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The throwaway modules must not pick up the checkout's go.work or a GOFLAGS=-mod=vendor.
export GOWORK=off GOFLAGS=-mod=mod

if [ ! -x "$dest/etcd" ]; then
  say "building etcd $ETCD_VERSION"
  mkdir -p "$work/etcd"
  (cd "$work/etcd" && "$GO" mod init virtxend.local/etcd >/dev/null 2>&1 &&
    "$GO" get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 &&
    "$GO" build -trimpath -o "$dest/etcd.tmp" go.etcd.io/etcd/server/v3) || {
    say "building etcd failed"; exit 1; }
  mv "$dest/etcd.tmp" "$dest/etcd"
fi

if [ ! -x "$dest/kube-apiserver" ]; then
  say "building kube-apiserver $KUBERNETES_VERSION (several minutes the first time)"
  minor_patch=${KUBERNETES_VERSION#v1.}
  staging=v0.$minor_patch
  mkdir -p "$work/apiserver"
  cd "$work/apiserver"
  "$GO" mod init virtxend.local/apiserver >/dev/null 2>&1
  gomod=$("$GO" mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  [ -n "$gomod" ] || { say "cannot download k8s.io/kubernetes $KUBERNETES_VERSION's go.mod"; exit 1; }
  {
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo "replace ("
    awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print "\t" $1 " => " $1 " '"$staging"'" }' "$gomod"
    echo ")"
  } >>go.mod
  printf 'package tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >tools.go
  "$GO" mod tidy >"$work/tidy.log" 2>&1 || { say "go mod tidy failed:"; tail -20 "$work/tidy.log" >&2; exit 1; }
  "$GO" build -trimpath -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION" \
    -o "$dest/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$dest/kube-apiserver.tmp" "$dest/kube-apiserver"
fi
say "built into $dest"
echo "$dest"
