#!/usr/bin/env bash
# Installs the peers of the benchmarks (Debian 12 + PyPI), idempotently: net-snmp's snmpd
# (the C agent), fping, Prometheus snmp_exporter, and aiosnmp in a venv under $BENCH_HOME.
set -euo pipefail
source "$(dirname "$0")/peers/env.sh"
export DEBIAN_FRONTEND=noninteractive
need=()
for cmd in snmpd:snmpd snmpget:snmp fping:fping prometheus-snmp-exporter:prometheus-snmp-exporter \
           curl:curl python3:python3-venv; do
  command -v "${cmd%%:*}" >/dev/null || need+=("${cmd#*:}")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q
  # The packages' daemons are not needed (the benchmarks start their own).
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  systemctl disable --now snmpd prometheus-snmp-exporter >/dev/null 2>&1 || true
fi
mkdir -p "$BENCH_HOME"
if [ ! -x "$BENCH_HOME/venv-poll/bin/python" ] || ! "$BENCH_HOME/venv-poll/bin/python" -c 'import aiosnmp' 2>/dev/null; then
  python3 -m venv "$BENCH_HOME/venv-poll"
  "$BENCH_HOME/venv-poll/bin/pip" install -q aiosnmp==0.7.2
fi
echo "bench setup done: $BENCH_HOME"
