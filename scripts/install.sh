#!/usr/bin/env bash
# Installs k1s on this machine as a systemd service: the binary as
# /usr/local/bin/k1s and deploy/k1s.service as
# /etc/systemd/system/k1s.service.
#
#   cargo build --release -p k1s && sudo scripts/install.sh --enable
#
# Usage: scripts/install.sh [--enable] [BINARY]
#   BINARY    the k1s binary; default: $CARGO_TARGET_DIR/release/k1s, or
#             target/release/k1s when CARGO_TARGET_DIR is not set
#   --enable  also enable k1s.service at boot and (re)start it now
#
# Flags for `k1s server` go in /etc/default/k1s, e.g.
#   K1S_SERVER_ARGS="--node-ip 192.168.56.10"
# Stopping the service leaves the pods' containers and network in place (a
# restart picks them up); `sudo k1s reset` removes them.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin_path=/usr/local/bin/k1s
unit_path=/etc/systemd/system/k1s.service

usage() {
  cat <<'USAGE'
Usage: scripts/install.sh [--enable] [BINARY]
  BINARY    the k1s binary; default: $CARGO_TARGET_DIR/release/k1s, or
            target/release/k1s when CARGO_TARGET_DIR is not set
  --enable  also enable k1s.service at boot and (re)start it now
USAGE
}

enable=false
binary=""
for arg in "$@"; do
  case "$arg" in
    --enable) enable=true ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "unknown option: $arg" >&2; usage >&2; exit 2 ;;
    *) binary="$arg" ;;
  esac
done
if [ -z "$binary" ]; then
  binary="${CARGO_TARGET_DIR:-$root/target}/release/k1s"
fi

if [ ! -x "$binary" ]; then
  echo "no k1s binary at $binary; build it first: cargo build --release -p k1s" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "installing into /usr/local/bin and /etc/systemd/system needs root: sudo $0 $*" >&2
  exit 1
fi
# What k1s runs at run time (Debian/Ubuntu package names in brackets).
for tool in ip:iproute2 nft:nftables conntrack:conntrack modprobe:kmod; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    echo "warning: ${tool%%:*} not found; install the ${tool#*:} package" >&2
  fi
done

# install(1) replaces the file instead of writing into it, so this also
# works while an older k1s is running.
install -D -m 0755 "$binary" "$bin_path"
install -D -m 0644 "$root/deploy/k1s.service" "$unit_path"
echo "installed $bin_path ($("$bin_path" --version)) and $unit_path"

if [ ! -d /run/systemd/system ]; then
  echo "systemd is not running here; start k1s with: sudo $bin_path server"
  exit 0
fi
systemctl daemon-reload
if [ "$enable" = true ]; then
  systemctl enable k1s.service
  # restart, not start: a reinstall must run the new binary.
  systemctl restart k1s.service
  echo "k1s.service is running; logs: journalctl -u k1s -f; kubeconfig: /var/lib/k1s/kubeconfig.yaml"
else
  echo "start it with: sudo systemctl enable --now k1s.service"
fi
