#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, on Debian: net-snmp's snmpd
# (the real SNMPv3 peer and the C agent of the benchmarks), fping (the ICMP peer of the
# benchmarks), util-linux's unshare and iproute2 (private network namespaces for tests of
# hosts that do not answer), and the headers the build needs: libssl-dev and pkg-config for
# libssh2 (the SSH engine). Idempotent: installs only what is missing.
set -euo pipefail
need=()
command -v snmpd >/dev/null || need+=(snmpd)
command -v snmpget >/dev/null || need+=(snmp)
command -v fping >/dev/null || need+=(fping)
command -v unshare >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
command -v pkg-config >/dev/null || need+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "tests/setup.sh: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The package enables a system snmpd on 127.0.0.1:161 and [::1]:161; the tests start
  # their own agents and never need it.
  $sudo systemctl disable --now snmpd >/dev/null 2>&1 || $sudo service snmpd stop >/dev/null 2>&1 || true
fi
