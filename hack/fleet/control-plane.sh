#!/usr/bin/env bash
# control-plane.sh: builds the Kubernetes control plane that fleet mode's tests run against — kube-apiserver and
# etcd, from their Go modules through the Go module proxy (nothing else is downloaded) — and kubectl, which the
# fleet e2e drives as an operator would, into a cache outside the checkout, once, and prints the directory
# holding the binaries (envtest's KUBEBUILDER_ASSETS layout: kube-apiserver, etcd, kubectl).
#
# kube-apiserver and kubectl: a throwaway module requiring k8s.io/kubernetes, whose go.mod points every k8s.io
# staging module at its own tree; here each is replaced by the release published under its own name
# (v0.MINOR.PATCH for kubernetes v1.MINOR.PATCH). etcd: a throwaway module requiring go.etcd.io/etcd/server/v3.
#
# Environment: VIRTXEND_CACHE (default ~/.cache/virtxend), KUBERNETES_VERSION, ETCD_VERSION.
# Cold: some 6-12 minutes on 2 cores, mostly compiling kube-apiserver (kubectl adds a few); warm: instant.
set -euo pipefail

KUBERNETES_VERSION=${KUBERNETES_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
cache=${VIRTXEND_CACHE:-$HOME/.cache/virtxend}
dest=$cache/fleet/kubernetes-$KUBERNETES_VERSION-etcd-$ETCD_VERSION
GO=${GO:-go}

say() { echo "control-plane: $*" >&2; }

if [ -x "$dest/kube-apiserver" ] && [ -x "$dest/etcd" ] && [ -x "$dest/kubectl" ]; then
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

# Both commands come from one throwaway module, so kubectl reuses what kube-apiserver compiled (a cache that
# predates kubectl gets only kubectl built).
if [ ! -x "$dest/kube-apiserver" ] || [ ! -x "$dest/kubectl" ]; then
  minor_patch=${KUBERNETES_VERSION#v1.}
  staging=v0.$minor_patch
  mkdir -p "$work/kubernetes"
  cd "$work/kubernetes"
  "$GO" mod init virtxend.local/kubernetes >/dev/null 2>&1
  gomod=$("$GO" mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  [ -n "$gomod" ] || { say "cannot download k8s.io/kubernetes $KUBERNETES_VERSION's go.mod"; exit 1; }
  {
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo "replace ("
    awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print "\t" $1 " => " $1 " '"$staging"'" }' "$gomod"
    echo ")"
  } >>go.mod
  printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kubectl"\n)\n' >tools.go
  "$GO" mod tidy >"$work/tidy.log" 2>&1 || { say "go mod tidy failed:"; tail -20 "$work/tidy.log" >&2; exit 1; }
  for cmd in kube-apiserver kubectl; do
    [ -x "$dest/$cmd" ] && continue
    say "building $cmd $KUBERNETES_VERSION (several minutes the first time)"
    "$GO" build -trimpath -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION" \
      -o "$dest/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
    mv "$dest/$cmd.tmp" "$dest/$cmd"
  done
fi
say "built into $dest"
echo "$dest"
