#!/usr/bin/env bash
# Runs monban's whole test suite on a fresh Debian machine, as root:
#
#   sudo env "PATH=$PATH" bash scripts/test.sh
#
# Root is needed because the lab tests build network namespaces and SYN scans use raw
# sockets. Nothing is skipped: a missing tool or a lab that cannot be built fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "scripts/test.sh: FAILED: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] ||
    fail "must run as root (the lab creates network namespaces; SYN scans need raw sockets): sudo env \"PATH=\$PATH\" bash scripts/test.sh"
command -v cargo >/dev/null ||
    fail "cargo not found in PATH ($PATH); install Rust (https://rustup.rs) or pass PATH through sudo"

echo "== apt-get install nftables iproute2 nmap ndiff procps util-linux"
export DEBIAN_FRONTEND=noninteractive
apt-get update || fail "apt-get update"
apt-get install -y --no-install-recommends nftables iproute2 nmap ndiff procps util-linux vsftpd openssh-server nginx redis-server memcached ||
    fail "apt-get install nftables iproute2 nmap ndiff procps util-linux"
for tool in ip nft tc nmap ndiff sysctl unshare; do
    command -v "$tool" >/dev/null || fail "$tool is still missing after apt-get install"
done

echo "== cargo test --workspace --all-targets --no-fail-fast"
cargo test --workspace --all-targets --no-fail-fast ||
    fail "cargo test --workspace --all-targets (every failing test is listed above)"

echo "scripts/test.sh: all tests passed"
