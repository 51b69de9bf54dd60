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
# One socket per simulated device: split the fleet over processes within the open-files limit.
PER=$(( $(ulimit -n) - 200 )); PER=$(( PER > 10000 ? 10000 : PER ))
cargo build --release -q -p efi-core -p efi-lab
W=$(mktemp -d); AGENTS=""
trap 'kill $AGENTS 2>/dev/null; rm -rf "$W"' EXIT
first=1; parts=()
while [ "$first" -le "$N" ]; do
  count=$(( N - first + 1 < PER ? N - first + 1 : PER ))
  target/release/efi-lab snmp --first "$first" --devices "$count" --port 1161 \
      --targets "$W/targets.$first" > "$W/agents.$first.log" 2>&1 &
  AGENTS="$AGENTS $!"; parts+=("$first")
  first=$(( first + count ))
done
for p in "${parts[@]}"; do
  for i in $(seq 1 1200); do [ -s "$W/targets.$p" ] && break; sleep 0.1; done
  [ -s "$W/targets.$p" ] || { cat "$W/agents.$p.log"; exit 1; }
  cat "$W/targets.$p" >> "$W/targets.txt"
done
AGENTS_CSV=$(echo $AGENTS | tr ' ' ',')
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
