#!/usr/bin/env bash
# The peer comparison of shared/reference/peers-and-bench.md section 3, in one command:
# net-snmp snmpd answers for N loopback addresses (127.20.x.y:1162); per device a GET of 13
# scalars and a GETBULK walk of ifTable (max-repetitions 10), 64 in flight, timeout 2 s,
# 1 retry. efi-poller's sweep, Prometheus snmp_exporter (scraped by curl --parallel) and
# aiosnmp run back to back under measure.py (wall, CPU of the process tree, peak RSS/PSS);
# then an ICMP sweep of the same addresses by efi-poller and by `fping`. Prints a table
# with efi-poller's ratios. Figures are printed, never asserted.
#
# usage: bench/sweep.sh [DEVICES=5000] [REPS=3]     (root; installs peers via bench/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}; REPS=${2:-3}
bash bench/setup.sh >/dev/null
source bench/peers/env.sh
cargo build --release -q -p efi-core
EFI=$PWD/target/release/efi-poller
OUT=$BENCH_HOME/results/sweep-$(date +%Y%m%dT%H%M%S).jsonl
mkdir -p "$(dirname "$OUT")"
bash bench/peers/snmpd_start.sh "$N" >/dev/null
T=$BENCH_HOME/snmpd/targets.txt
SNMPD=$(cat "$BENCH_HOME/snmpd/pid")
prometheus-snmp-exporter --config.file=bench/peers/snmp_exporter.yml \
    --web.listen-address=127.0.0.1:9116 --log.level=error > "$BENCH_HOME/exporter.log" 2>&1 &
EXP=$!
trap 'kill $EXP 2>/dev/null; bash bench/peers/snmpd_stop.sh' EXIT
for i in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:9116/ && break; sleep 0.1; done
GET=1.3.6.1.2.1.1.1.0,1.3.6.1.2.1.1.2.0,1.3.6.1.2.1.1.3.0,$(seq -s, -f "1.3.6.1.4.1.32473.1.1.%g.0" 1 10)
efi_snmp="$EFI sweep --targets $T --community $SIM_COMMUNITY --get $GET --walk 1.3.6.1.2.1.2.2 --max-repetitions 10 --concurrency 64 --timeout-ms 2000 --retries 1 --json"
exporter="bash bench/peers/exporter_sweep.sh $T 64"
aiosnmp="$BENCH_HOME/venv-poll/bin/python bench/peers/aiosnmp_poller.py --targets $T --concurrency 64"
efi_icmp="$EFI sweep --targets $T --no-snmp --icmp 1 --concurrency 1024 --json"
fping="bash bench/peers/fping_sweep.sh $T 1"
# Unmeasured warm-up: page cache, snmpd's first answers.
$efi_snmp >/dev/null || true
for rep in $(seq 1 "$REPS"); do
  for peer in efi_snmp exporter aiosnmp efi_icmp fping; do
    python3 bench/peers/measure.py --label "$peer" --out "$OUT" --watch agent="$SNMPD" \
        --watch exporter="$EXP" -- ${!peer} >/dev/null
  done
done
python3 - "$OUT" "$N" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
def med(label, key):
    v = [r.get(key, 0) or 0 for r in rows if r["label"] == label]
    return statistics.median(v) if v else float("nan")
def cpu(label):
    # the exporter's own CPU counts: curl alone is not the peer
    return med(label, "cpu_s") + (med(label, "exporter_cpu_s") if label == "exporter" else 0)
def rss(label):
    return med(label, "peak_rss_mb") + (med(label, "exporter_peak_rss_mb") if label == "exporter" else 0)
print(f"\n{n} devices, median of {sum(r['label']=='efi_snmp' for r in rows)} runs ({sys.argv[1]})")
print(f"| run | wall s | CPU s | peak RSS MB | devices ok | agent CPU s |")
print(f"|---|---|---|---|---|---|")
for l in ["efi_snmp", "exporter", "aiosnmp", "efi_icmp", "fping"]:
    print(f"| {l} | {med(l,'wall_s'):.2f} | {cpu(l):.2f} | {rss(l):.1f} | {med(l,'devices_ok'):.0f} | {med(l,'agent_cpu_s'):.2f} |")
best_wall = min(med(l, "wall_s") for l in ["exporter", "aiosnmp"])
best_cpu = min(cpu(l) for l in ["exporter", "aiosnmp"])
best_rss = min(rss(l) for l in ["exporter", "aiosnmp"])
print(f"\nefi-poller SNMP vs best peer: wall {med('efi_snmp','wall_s')/best_wall:.2f}x (goal <= 1), "
      f"CPU {cpu('efi_snmp')/best_cpu:.2f}x (goal <= 0.15), peak RSS {rss('efi_snmp')/best_rss:.2f}x (goal <= 0.6)")
print(f"efi-poller ICMP vs fping -C 1: wall {med('efi_icmp','wall_s')/med('fping','wall_s'):.2f}x, "
      f"CPU {cpu('efi_icmp')/max(cpu('fping'),1e-9):.2f}x, RSS {rss('efi_icmp')/rss('fping'):.2f}x")
PY
