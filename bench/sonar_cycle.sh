#!/usr/bin/env bash
# One Sonar poller cycle of N hosts (ICMP + SNMP templates) against the efi-lab agents
# (MIB-II CPEs at 127.10.x.y:1161) and the efi-lab Sonar simulator, measured beside the
# peers doing the same checks in the same run: `fping -C COUNT` (what Sonar's own poller
# runs for ICMP) and aiosnmp (the SNMP peer of bench/sweep.sh: GET + ifTable walk per
# host, 64 in flight). Figures are printed, never asserted.
#
# usage: bench/sonar_cycle.sh [HOSTS=5000] [PINGS=3]   (installs peers via bench/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}; C=${2:-3}
bash bench/setup.sh >/dev/null
source bench/peers/env.sh
cargo build --release -q -p efi-core -p efi-lab
EFI=$PWD/target/release/efi-poller
LAB=$PWD/target/release/efi-lab
W=$(mktemp -d); SONAR=""
OUT=$BENCH_HOME/results/sonar-cycle-$(date +%Y%m%dT%H%M%S).jsonl
mkdir -p "$(dirname "$OUT")"
"$LAB" snmp --devices "$N" --port 1161 --targets "$W/targets.txt" > "$W/agents.log" 2>&1 &
AGENTS=$!
trap 'kill $AGENTS $SONAR 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
for i in $(seq 1 600); do [ -s "$W/targets.txt" ] && break; sleep 0.1; done
# The work document: every host ICMP + SNMP v2c (13 OIDs, interface statistics).
python3 - "$W/targets.txt" "$W/scenario.json" <<'PY'
import json, sys
ips = [l.split()[0] for l in open(sys.argv[1]) if l.strip()]
oids = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0"] + [
    f"1.3.6.1.2.1.2.2.1.{c}.{i}" for c in (10, 16) for i in (1, 2, 3)] + [
    "1.3.6.1.2.1.2.2.1.14.2", "1.3.6.1.2.1.2.2.1.8.3", "1.3.6.1.2.1.2.2.1.8.2", "1.3.6.1.2.1.1.6.0"]
template = {"icmp": True, "collect_interface_statistics": True, "snmp_version": 2,
            "snmp_community": "public", "oids": oids}
hosts = {str(1000 + i): {"ip": ip, "monitoring_template_id": 1, "snmp_overrides": [],
                         "type": "accounts", "polling_priority": 1} for i, ip in enumerate(ips)}
json.dump({"poller": {"api_key": "bench-key", "work": {"hosts": hosts,
           "monitoring_templates": {"1": template}}}}, open(sys.argv[2], "w"))
PY
"$LAB" sonar --bind 127.0.0.1:18090 --scenario "$W/scenario.json" > "$W/sonar.log" 2>&1 &
SONAR=$!
for i in $(seq 1 100); do curl -s -o /dev/null -X POST http://127.0.0.1:18090/api/poller && break; sleep 0.1; done
cat > "$W/config.toml" <<TOML
[sonar_poller]
enabled = true
url = "http://127.0.0.1:18090"
api_key = "bench-key"
icmp_count = $C
snmp_port = 1161
pending_file = "$W/pending.json"
[icmp]
timeout_ms = 1000
interval_ms = 100
TOML
cut -d' ' -f1 "$W/targets.txt" > "$W/ips.txt"
efi="$EFI sonar-poller --cycles 1 --config $W/config.toml"
fping="fping -C $C -p 100 -t 1000 -i 1 -q -f $W/ips.txt"
aiosnmp="$BENCH_HOME/venv-poll/bin/python bench/peers/aiosnmp_poller.py --targets $W/targets.txt --concurrency 64"
for peer in efi fping aiosnmp; do
  python3 bench/peers/measure.py --label "$peer" --out "$OUT" --watch agents="$AGENTS" -- ${!peer} > "$W/$peer.out" 2>&1 || true
done
grep -h "sonar poller cycle" "$W/efi.out" || cat "$W/efi.out"
python3 - "$OUT" "$N" "$C" <<'PY'
import json, sys
rows = {json.loads(l)["label"]: json.loads(l) for l in open(sys.argv[1])}
print(f"\nOne Sonar poller cycle, {sys.argv[2]} hosts, ICMP x{sys.argv[3]} + SNMP ({sys.argv[1]})")
print("| run | wall s | CPU s | peak RSS MB | agents' CPU s |")
print("|---|---|---|---|---|")
for l, what in [("efi", "efi-poller sonar-poller (ICMP + SNMP + post)"),
                ("fping", f"fping -C {sys.argv[3]} (ICMP only)"),
                ("aiosnmp", "aiosnmp (SNMP only)")]:
    r = rows[l]
    print(f"| {what} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mb']:.1f} | {r.get('agents_cpu_s', 0):.2f} |")
e, f, a = rows["efi"], rows["fping"], rows["aiosnmp"]
print(f"\nefi-poller's whole cycle vs the two peers' parts added: wall {e['wall_s']/(f['wall_s']+a['wall_s']):.2f}x, "
      f"CPU {e['cpu_s']/(f['cpu_s']+a['cpu_s']):.2f}x")
PY
