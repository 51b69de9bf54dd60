#!/usr/bin/env bash
# The fault-and-load soak (issue 10): a simulated Raemis with UES UEs churning (attach,
# detach, move; pushed to the webhook and there for pulls), a simulated Sonar throttling and
# failing in FAULT_RATE of the seconds, and `efi-poller run` killed with SIGKILL and
# restarted KILLS times at random points, for SECONDS of churn. Then the churn stops, the
# faults clear, and Sonar must equal the EPC exactly; the report prints the counts of events,
# pushes, faults, requests and restarts, and how long Sonar took to settle. Exit 1 if Sonar
# and the EPC differ. Bounded in time: SECONDS + SETTLE (300 s) + the initial sync.
#
# usage: bench/soak.sh [UES=50000] [SECONDS=120] [EVENTS_PER_SEC=200] [KILLS=4] [FAULT_RATE=0.2] [SEED=1]
set -euo pipefail
cd "$(dirname "$0")/.."
UES=${1:-50000}; SECONDS_=${2:-120}; EPS=${3:-200}; KILLS=${4:-4}; FAULTS=${5:-0.2}; SEED=${6:-1}
cargo build --release -q -p efi-core -p efi-lab -p raemis -p sonar
P=$(mktemp -d)
trap 'rm -rf "$P"' EXIT
cp target/release/libraemis.so target/release/libsonar.so "$P/"
/usr/bin/time -f "soak wall %e s, efi-lab peak RSS %M KB" \
  target/release/efi-lab soak --ues "$UES" --seconds "$SECONDS_" --events-per-sec "$EPS" \
  --kills "$KILLS" --fault-rate "$FAULTS" --seed "$SEED" \
  --host-binary target/release/efi-poller --plugins-dir "$P"
