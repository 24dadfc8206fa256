#!/usr/bin/env bash
# Runs the walkthrough e2e suite N times in a row (default 3) and checks,
# after each run, that the host is as it was before: no network namespace,
# link, nftables table, mount, cgroup or process left behind by k1s.
#
#   sudo scripts/walkthrough-soak.sh [N]
#
# Needs root (the e2e tests create network namespaces), cargo-nextest and
# kubectl, like the test suite itself. Run it alone: other tests running at
# the same time create namespaces and processes of their own.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-3}"
case "$runs" in
  '' | *[!0-9]*) echo "usage: $0 [RUNS]" >&2; exit 2 ;;
esac

# What k1s could leave behind, as one comparable text.
host_state() {
  echo "## netns"; ip netns list | sort
  echo "## links"; ip -o link show | awk -F': ' '{print $2}' | sort
  echo "## nft"; nft list tables | sort
  echo "## mounts"; findmnt -rn -o TARGET | grep -E 'k1s|netns' | sort || true
  echo "## cgroups"; find /sys/fs/cgroup -maxdepth 3 -type d -name 'k1s*' | sort
  echo "## processes"; pgrep -a -f 'k1s (server|__shim|__exec)' | sed 's/^[0-9]* //' | sort || true
}

before=$(mktemp)
after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
host_state >"$before"

for i in $(seq 1 "$runs"); do
  echo "== walkthrough run $i of $runs"
  start=$(date +%s)
  cargo nextest run -p k1s --test e2e_walkthrough --locked --no-fail-fast
  echo "== run $i passed in $(($(date +%s) - start)) s"
  host_state >"$after"
  if ! diff -u "$before" "$after"; then
    echo "run $i left something behind (diff above: - before, + after)" >&2
    exit 1
  fi
done
echo "== $runs runs passed; nothing left behind"
