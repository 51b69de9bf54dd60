# Starting a fleet of efi-lab SNMP agents for the benchmarks; sourced by them (run from the
# repository root, after `ulimit -n "$(ulimit -Hn)"`).
#
# start_lab_agents N DIR [efi-lab snmp args...]
#   Starts devices 1..N (127.10.x.y) as `target/release/efi-lab snmp` processes, each within
#   the open-files limit (one socket per device), with the extra args; `{first}` in an arg
#   becomes that process's first device number. Appends their pids to AGENTS (and sets
#   AGENTS_CSV), waits until each has written its targets, and writes them all, one
#   `IP PORT` line a device, to DIR/targets.txt. Returns 1, with the log, when one fails.
start_lab_agents() {
  local n=$1 dir=$2
  shift 2
  local per=$(( $(ulimit -n) - 200 ))
  per=$(( per > 10000 ? 10000 : per ))
  local first=1 count parts=()
  while [ "$first" -le "$n" ]; do
    count=$(( n - first + 1 < per ? n - first + 1 : per ))
    rm -f "$dir/targets.$first"
    target/release/efi-lab snmp --first "$first" --devices "$count" \
        --targets "$dir/targets.$first" "${@//\{first\}/$first}" > "$dir/agents.$first.log" 2>&1 &
    AGENTS="$AGENTS $!"
    parts+=("$first")
    first=$(( first + count ))
  done
  : > "$dir/targets.txt"
  for p in "${parts[@]}"; do
    for _ in $(seq 1 1200); do [ -s "$dir/targets.$p" ] && break; sleep 0.1; done
    [ -s "$dir/targets.$p" ] || { cat "$dir/agents.$p.log"; return 1; }
    cat "$dir/targets.$p" >> "$dir/targets.txt"
  done
  AGENTS_CSV=$(echo $AGENTS | tr ' ' ',')
}
