#!/usr/bin/env bash
# The full-pipeline fleet benchmark: N efi-lab CPEs — SNMP CPEs of the mixed fleet (MIB-II
# boxes, BEC RidgeWave 6900, Baicells Atom, Telrad CPE12000SG in turn) and, one in twenty,
# TR-069-only CPEs informing through the proxy — each a UE of a simulated Raemis, polled by
# the real `efi-poller run` (scheduler, identification, vendor drivers through the ABI, store
# writes, /metrics?per_device=false read every second for progress and the full /metrics
# scraped once a round) for ROUNDS rounds of INTERVAL seconds. Then, on the
# same SNMP agents: Prometheus snmp_exporter scraping the same OIDs (a module per kind of
# device, generated from what efi-poller's drivers asked the agents for), and efi-poller's
# `sweep` (GET of sysDescr + ifTable walk, as many in flight) for the round-time comparison.
# Prints efi-poller's CPU per 1,000 polls, peak RSS, round times and poll lag beside the
# exporter's figures. Figures are printed, never asserted.
#
# usage: bench/fleet.sh [DEVICES=20000] [ROUNDS=3] [INTERVAL=60]   (root; installs peers)
#   env: TR069=<TR-069-only CPEs> (default DEVICES/20), CONCURRENCY (default 256),
#        EFI_POLLER=<command that runs efi-poller> (default the release binary; a wrapper
#        script puts it under heaptrack or perf), ONLY_FLEET=1 (skip the peers),
#        KEEP=1 (keep the work directory)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}; ROUNDS=${2:-3}; INTERVAL=${3:-60}
TR069=${TR069:-$(( N / 20 ))}; CONCURRENCY=${CONCURRENCY:-256}
EFI_POLLER=${EFI_POLLER:-target/release/efi-poller}
SNMP=$(( N - TR069 ))
bash bench/setup.sh >/dev/null
source bench/peers/env.sh
source bench/peers/lab_agents.sh
ulimit -n "$(ulimit -Hn)"
cargo build --release -q
W=$(mktemp -d); AGENTS=""; EXP=""
cleanup() { kill $AGENTS $EXP 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"; }
trap cleanup EXIT
mkdir "$W/plugins"
for p in bec_ridgewave baicells_atom telrad_cpe hello_driver raemis sonar; do
  cp "target/release/lib$p.so" "$W/plugins/"
done

echo "== $SNMP SNMP agents (efi-lab snmp --mixed) at 127.10.x.y:$SIM_PORT"
start_lab_agents "$SNMP" "$W" --mixed --port "$SIM_PORT" --requests "$W/requests.{first}.json"

echo "== efi-poller run: $ROUNDS rounds of $INTERVAL s over $SNMP SNMP + $TR069 TR-069 CPEs"
target/release/efi-lab fleet --targets "$W/targets.txt" --tr069-cpes "$TR069" --rounds "$ROUNDS" \
    --interval "$INTERVAL" --concurrency "$CONCURRENCY" --efi-poller "$EFI_POLLER" \
    --plugins "$W/plugins" --json "$W/fleet.json" | grep -v '^\[efi-poller\] *$'
# The agents write what they were asked for when they stop.
kill -TERM $AGENTS; wait $AGENTS 2>/dev/null || true; AGENTS=""
[ -n "${ONLY_FLEET:-}" ] && exit 0
python3 bench/peers/exporter_module.py "$W/exporter-targets.txt" "$W"/requests.*.json > "$W/exporter.yml"

echo "== the same agents again, for snmp_exporter and efi-poller sweep"
start_lab_agents "$SNMP" "$W" --mixed --port "$SIM_PORT"
prometheus-snmp-exporter --config.file="$W/exporter.yml" --web.listen-address=127.0.0.1:9117 \
    --log.level=error > "$W/exporter.log" 2>&1 &
EXP=$!
for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:9117/ && break; sleep 0.1; done
MIN_BYTES=300 python3 bench/peers/measure.py --label exporter --out "$W/peers.jsonl" \
    --watch exporter="$EXP" --watch agents="$AGENTS_CSV" -- \
    bash bench/peers/exporter_sweep.sh "$W/exporter-targets.txt" 64 http://127.0.0.1:9117 > /dev/null
# sysDescr is the one scalar every recorded model has; `sweep` exits 1 when a device fails,
# which none should, and the figures say so if one does.
python3 bench/peers/measure.py --label sweep --out "$W/peers.jsonl" --watch agents="$AGENTS_CSV" -- \
    target/release/efi-poller sweep --targets "$W/targets.txt" --get 1.3.6.1.2.1.1.1.0 \
    --walk 1.3.6.1.2.1.2.2 --max-repetitions 10 --concurrency "$CONCURRENCY" --json > /dev/null || true

python3 - "$W/fleet.json" "$W/peers.jsonl" <<'PY'
import json, sys
fleet = json.load(open(sys.argv[1]))
peers = {r["label"]: r for r in map(json.loads, open(sys.argv[2]))}
exp, sweep = peers["exporter"], peers["sweep"]
exp_cpu = exp["cpu_s"] + exp.get("exporter_cpu_s", 0)
exp_rss = exp.get("exporter_peak_rss_mb", 0)
n_exp = exp["devices"]
efi_ms = fleet["steady_cpu_ms_per_1000_polls"]
exp_ms = 1e6 * exp_cpu / max(n_exp, 1)
steady = fleet["rounds"][1:] or fleet["rounds"]
wall = max(r["wall_s"] for r in steady)
print()
print(f"| | devices | ok | CPU ms / 1,000 polls | peak RSS MB | round wall s |")
print(f"|---|---|---|---|---|---|")
print(f"| efi-poller run (steady rounds) | {fleet['snmp_cpes']} SNMP + {fleet['tr069_cpes']} TR-069 | "
      f"{sum(fleet['polls_by_result'].values()) - fleet['polls_failed']} of {sum(fleet['polls_by_result'].values())} polls | "
      f"{efi_ms:.0f} | {fleet['peak_rss_mb']:.1f} | {wall:.1f} |")
print(f"| snmp_exporter + curl (same OIDs, SNMP CPEs) | {n_exp} | {exp['devices_ok']} | {exp_ms:.0f} | {exp_rss:.1f} | {exp['wall_s']:.1f} |")
print(f"| efi-poller sweep (sysDescr + ifTable) | {sweep['devices']} | {sweep['devices_ok']} | "
      f"{1e6 * sweep['cpu_s'] / max(sweep['devices'], 1):.0f} | {sweep['peak_rss_mb']:.1f} | {sweep['wall_s']:.1f} |")
print()
print(f"efi-poller run / exporter: CPU per poll {efi_ms / exp_ms:.2f}x (goal <= 0.25), "
      f"peak RSS {fleet['peak_rss_mb'] / max(exp_rss, 0.1):.2f}x (goal <= 0.6); "
      f"round wall / sweep wall {wall / sweep['wall_s']:.2f}x (goal <= 1.2)")
PY
