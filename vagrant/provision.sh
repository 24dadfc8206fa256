#!/usr/bin/env bash
# Provisions the k1s lab VM (Debian 12): the packages k1s runs with,
# kubectl v1.32 from pkgs.k8s.io, k1s itself (a prebuilt binary if one was
# uploaded, else built here from the synced repository), k1s.service, and
# kubectl's config for the vagrant user. Runs as root; safe to run again
# (`vagrant provision` after `vagrant rsync` installs a new build).
set -euo pipefail

NODE_IP="${NODE_IP:-192.168.56.10}"
K1S_SRC="${K1S_SRC:-/k1s}"
K1S_PREBUILT="${K1S_PREBUILT:-/tmp/k1s-prebuilt}"
KUBECTL_MINOR="v1.32"
export DEBIAN_FRONTEND=noninteractive

log() { printf '==> %s\n' "$*"; }

install_packages() {
  log "runtime packages"
  apt-get update -qq
  # iproute2: pod veths and routes; nftables: the service proxy;
  # conntrack: flushing stale UDP flows; kmod: modprobe br_netfilter.
  apt-get install -y -qq --no-install-recommends \
    iproute2 nftables conntrack kmod ca-certificates curl gnupg >/dev/null
}

install_kubectl() {
  if kubectl version --client 2>/dev/null | grep -q "Client Version: ${KUBECTL_MINOR}\."; then
    return
  fi
  log "kubectl ${KUBECTL_MINOR} from pkgs.k8s.io"
  install -d -m 0755 /etc/apt/keyrings
  curl -fsSL "https://pkgs.k8s.io/core:/stable:/${KUBECTL_MINOR}/deb/Release.key" |
    gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
  echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/${KUBECTL_MINOR}/deb/ /" \
    >/etc/apt/sources.list.d/kubernetes.list
  apt-get update -qq
  apt-get install -y -qq kubectl >/dev/null
}

# Linking k1s in release mode needs more than the VM's 2 GiB; swap is
# added once and kept (k1s does not mind it).
ensure_swap() {
  if [ -n "$(swapon --show --noheadings)" ]; then
    return
  fi
  log "2 GiB swap file for the build"
  fallocate -l 2G /swapfile
  chmod 600 /swapfile
  mkswap /swapfile >/dev/null
  swapon /swapfile
  echo '/swapfile none swap sw 0 0' >>/etc/fstab
}

# Sets BINARY to the k1s to install.
build_k1s() {
  if [ -f "$K1S_PREBUILT" ]; then
    log "using the prebuilt binary uploaded as $K1S_PREBUILT"
    # The file provisioner does not keep the executable bit.
    chmod 0755 "$K1S_PREBUILT"
    BINARY="$K1S_PREBUILT"
    return
  fi
  ensure_swap
  log "building k1s from $K1S_SRC (the first build takes a while)"
  apt-get install -y -qq --no-install-recommends build-essential >/dev/null
  export RUSTUP_HOME=/opt/rust/rustup CARGO_HOME=/opt/rust/cargo
  export PATH="$CARGO_HOME/bin:$PATH"
  if ! command -v cargo >/dev/null; then
    curl --proto '=https' --tlsv1.2 -fsSL https://sh.rustup.rs |
      sh -s -- -y --no-modify-path --profile minimal --default-toolchain stable
  fi
  export CARGO_TARGET_DIR=/var/tmp/k1s-target
  cargo build --release --locked -p k1s --manifest-path "$K1S_SRC/Cargo.toml"
  BINARY="$CARGO_TARGET_DIR/release/k1s"
}

start_k1s() {
  # The VM's default route is the NAT interface; the node is the private
  # network address (also the LoadBalancer address and the API server's).
  echo "K1S_SERVER_ARGS=\"--node-ip ${NODE_IP}\"" >/etc/default/k1s
  bash "$K1S_SRC/scripts/install.sh" --enable "$BINARY"
}

setup_kubeconfig() {
  log "kubectl config for the vagrant user"
  local home
  home=$(getent passwd vagrant | cut -d: -f6)
  for _ in $(seq 1 60); do
    [ -s /var/lib/k1s/kubeconfig.yaml ] && break
    sleep 1
  done
  install -d -o vagrant -g vagrant -m 0700 "$home/.kube"
  install -o vagrant -g vagrant -m 0600 /var/lib/k1s/kubeconfig.yaml "$home/.kube/config"
  for _ in $(seq 1 60); do
    sudo -u vagrant -H kubectl get --raw /readyz >/dev/null 2>&1 && break
    sleep 1
  done
  if ! sudo -u vagrant -H kubectl get nodes,svc; then
    journalctl -u k1s --no-pager -n 50
    exit 1
  fi
}

install_packages
install_kubectl
build_k1s
start_k1s
setup_kubeconfig
log "ready: vagrant ssh, then kubectl get svc; the walkthrough: bash /k1s/vagrant/e2e.sh"
