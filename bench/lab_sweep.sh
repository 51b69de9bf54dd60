#!/usr/bin/env bash
# A sweep of N efi-lab SNMP agents (MIB-II CPEs at 127.10.x.y:1161, default 20,000): per
# device a GET of sysDescr, sysObjectID, sysUpTime, sysName and a GETBULK walk of ifTable
# (max-repetitions 10), 64 in flight. Prints wall time, CPU and peak RSS of efi-poller and
# its CPU per device, beside the agents' CPU. Figures are printed, never asserted.
#
# usage: bench/lab_sweep.sh [DEVICES=20000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
ulimit -n "$(ulimit -Hn)"
cargo build --release -q -p efi-core -p efi-lab
source bench/peers/lab_agents.sh
W=$(mktemp -d); AGENTS=""
trap 'kill $AGENTS 2>/dev/null; rm -rf "$W"' EXIT
start_lab_agents "$N" "$W" --port 1161
python3 bench/peers/measure.py --label efi-lab-sweep  --watch agents="$AGENTS_CSV" --out "$W/r.jsonl" -- \
  target/release/efi-poller sweep --targets "$W/targets.txt" \
  --get 1.3.6.1.2.1.1.1.0,1.3.6.1.2.1.1.2.0,1.3.6.1.2.1.1.3.0,1.3.6.1.2.1.1.5.0 \
  --walk 1.3.6.1.2.1.2.2 --max-repetitions 10 --concurrency 64 --json > /dev/null
python3 - "$W/r.jsonl" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
n = r["devices"]
print(f"{n} efi-lab devices: {r['devices_ok']} ok in {r['wall_s']:.2f} s ({n / r['wall_s']:.0f} devices/s)")
print(f"efi-poller: CPU {r['cpu_s']:.2f} s = {1e6 * r['cpu_s'] / n:.0f} µs per device, peak RSS {r['peak_rss_mb']:.1f} MB")
print(f"agents (efi-lab processes): CPU {r.get('agents_cpu_s', 0):.2f} s")
PY
