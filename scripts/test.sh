#!/usr/bin/env bash
# Runs monban's whole test suite on a fresh Debian machine, as root — the same command
# CI runs (.ci/run calls exactly this): formatting, lints, then every test:
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

PACKAGES="nftables iproute2 python3 libcap2-bin nmap ndiff masscan zmap tcpdump tshark procps util-linux openssl vsftpd openssh-server nginx redis-server memcached postfix dovecot-imapd dovecot-pop3d postgresql dnsmasq-base snmpd chromium chromium-driver"
echo "== apt-get install $PACKAGES"
export DEBIAN_FRONTEND=noninteractive
apt-get update || fail "apt-get update"
apt-get install -y --no-install-recommends $PACKAGES ||
    fail "apt-get install $PACKAGES"
for tool in ip nft tc ss setpriv setcap nsenter /usr/bin/python3 nmap ndiff masscan zmap tcpdump tshark editcap dumpcap randpkt sysctl unshare openssl chromium chromedriver; do
    command -v "$tool" >/dev/null || fail "$tool is still missing after apt-get install"
done

echo "== cargo fmt --all --check"
cargo fmt --all --check || fail "cargo fmt --all --check (run cargo fmt --all)"

echo "== cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings ||
    fail "cargo clippy --workspace --all-targets -- -D warnings"

echo "== cargo test --workspace --all-targets --no-fail-fast"
cargo test --workspace --all-targets --no-fail-fast ||
    fail "cargo test --workspace --all-targets (every failing test is listed above)"

# --all-targets does not run doc tests: the examples in the documentation run here.
echo "== cargo test --workspace --doc"
cargo test --workspace --doc ||
    fail "cargo test --workspace --doc (a documentation example fails; see above)"

echo "scripts/test.sh: all tests passed"
