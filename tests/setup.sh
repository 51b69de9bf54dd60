#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, on Debian: net-snmp's snmpd
# (the real SNMPv3 peer and the C agent of the benchmarks), fping (the ICMP peer of the
# benchmarks), util-linux's unshare and iproute2 (private network namespaces for tests of
# hosts that do not answer), and the headers the build needs: libssl-dev and pkg-config for
# libssh2 (the SSH engine); Debian's chromium and chromium-driver (the dashboard test drives a
# real headless browser); OpenSSH's sshd and inetutils' telnetd with a test account
# (efi-cli-test) for the SSH and Telnet tests. It also starts the local PostgreSQL when it is down (the store's
# tests run against SQLite and PostgreSQL, at 127.0.0.1:5432, database `test`, trust auth).
# Idempotent: installs only what is missing.
set -euo pipefail
need=()
command -v snmpd >/dev/null || need+=(snmpd)
command -v snmpget >/dev/null || need+=(snmp)
command -v fping >/dev/null || need+=(fping)
command -v unshare >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
command -v pkg-config >/dev/null || need+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
# Real SSH and Telnet daemons for the device-profile tests (started by the tests on
# loopback ports, never as system services).
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/sbin/telnetd ] || need+=(inetutils-telnetd)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "tests/setup.sh: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The package enables a system snmpd on 127.0.0.1:161 and [::1]:161; the tests start
  # their own agents and never need it.
  $sudo systemctl disable --now snmpd >/dev/null 2>&1 || $sudo service snmpd stop >/dev/null 2>&1 || true
  # Nor the system sshd: the tests run their own on a loopback port.
  $sudo systemctl disable --now ssh >/dev/null 2>&1 || $sudo service ssh stop >/dev/null 2>&1 || true
fi

# The account the SSH and Telnet tests log in to (tests/devices/real_cli.rs): no sudo, a
# random password kept in a file only root reads, reachable only while a test's own sshd or
# telnetd listens on a loopback port.
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if ! id efi-cli-test >/dev/null 2>&1; then
  echo "tests/setup.sh: creating the account efi-cli-test"
  $sudo useradd --create-home --shell /bin/sh efi-cli-test
fi
if ! $sudo test -s /var/lib/efi-tests/cli-account; then
  $sudo install -d -m 0700 /var/lib/efi-tests
  head -c 18 /dev/urandom | base64 | tr -d '/+=' | $sudo tee /var/lib/efi-tests/cli-account >/dev/null
  $sudo chmod 0600 /var/lib/efi-tests/cli-account
  echo "efi-cli-test:$($sudo cat /var/lib/efi-tests/cli-account)" | $sudo chpasswd
fi

# PostgreSQL for the store's tests (EFI_TEST_POSTGRES overrides the URL).
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "tests/setup.sh: starting PostgreSQL"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  else
    echo "tests/setup.sh: PostgreSQL is not running on 127.0.0.1:5432 and is not installed here" >&2
    exit 1
  fi
fi
