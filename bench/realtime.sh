#!/usr/bin/env bash
# The realtime scenarios: many users with one /v1/portal/ws connection each, opened in a join storm,
# then broadcast notifications. Reports server RSS per idle connection, how long the storm took to
# connect everyone and to drain its join announcements, and the broadcast's delivery latencies.
# bench/run.sh runs it after its HTTP scenarios; it also runs on its own. See bench/README.md.
#
# Settings (environment): BENCH_REALTIME_SIZES ("1000 10000": connections per single-node run),
# BENCH_REALTIME_TWO_NODES (10000: connections split over two nodes sharing PostgreSQL and Redis;
# 0 skips it), BENCH_REALTIME_IN_FLIGHT (100 handshakes at once), BENCH_REALTIME_BROADCASTS (5),
# BENCH_REALTIME_BACKEND (sqlite: the single-node runs), BENCH_PG_URL, BENCH_REDIS_URL
# (redis://127.0.0.1:6379), BENCH_PORTAL, CARGO_TARGET_DIR, BENCH_REALTIME_OUT
# (bench/last-realtime.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
SIZES=${BENCH_REALTIME_SIZES:-"1000 10000"}
TWO_NODES=${BENCH_REALTIME_TWO_NODES:-10000}
IN_FLIGHT=${BENCH_REALTIME_IN_FLIGHT:-100}
BROADCASTS=${BENCH_REALTIME_BROADCASTS:-5}
BACKEND=${BENCH_REALTIME_BACKEND:-sqlite}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_REALTIME_OUT:-$ROOT/bench/last-realtime.md}

require_tools curl:curl python3:python3 psql:postgresql-client

build_release
PORTAL=${BENCH_PORTAL:-$TARGET/release/portal}
SEED=$TARGET/release/seed
REALTIME=$TARGET/release/realtime

# Ten thousand sockets on each side of loopback: the limit is raised here, as far as the hard limit
# allows, for the servers and the client this script starts, and nowhere in the server.
ulimit -n "$(ulimit -Hn)"

start_work realtime

# Every connection comes from 127.0.0.1, so the per-address cap is lifted; the node-wide cap is
# raised above the largest run.
NODE_ENV=(PORTAL_SERVER__MAX_CONNECTIONS=30000 PORTAL_SERVER__MAX_CONNECTIONS_PER_IP=30000)

RESULTS=$WORK/realtime.tsv
: >"$RESULTS"

# scenario label connections pids urls tokens-file
run_scenario() {
    local label=$1 connections=$2 pids=$3 urls=$4 tokens=$5 cpu_before=0 cpu_after=0 pid result
    # The idle reading, like the connected one, comes after the server's allocator has purged what
    # its start-up freed (every 5 s).
    sleep 8
    for pid in ${pids//,/ }; do cpu_before=$((cpu_before + $(cpu_ticks "$pid"))); done
    result=$("$REALTIME" "$tokens" "$connections" "$IN_FLIGHT" "$BROADCASTS" "$pids" "$urls")
    for pid in ${pids//,/ }; do cpu_after=$((cpu_after + $(cpu_ticks "$pid"))); done
    echo "   $label: $result" >&2
    local cpu_s
    cpu_s=$(awk -v a="$cpu_before" -v b="$cpu_after" -v t="$TICKS" 'BEGIN { printf "%.1f", (b - a) / t }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$connections" \
        "$(field "$result" connected)" "$(field "$result" failed)" "$(field "$result" still_open)" \
        "$(field "$result" kb_per_connection)" "$(field "$result" connect_s)" \
        "$(field "$result" join_drained_s)" "$(field "$result" join_frames)" \
        "$(field "$result" deliveries)/$(field "$result" expected_deliveries)" \
        "$(field "$result" delivery_p50_ms)" "$(field "$result" delivery_p99_ms)" "$cpu_s" >>"$RESULTS"
}

for size in $SIZES; do
    echo "== $BACKEND, one node, $size connections" >&2
    seed_database "$BACKEND" "$size" portal_rt
    start_node "$DB_URL"
    run_scenario "$BACKEND, one node" "$size" "$NODE_PID" "ws://127.0.0.1:$NODE_PORT/v1/portal/ws" "$DB_DIR/tokens.txt"
    kill "$NODE_PID"
    wait "$NODE_PID" 2>/dev/null || true
done

if [[ $TWO_NODES != 0 ]]; then
    echo "== postgres + Redis, two nodes, $TWO_NODES connections" >&2
    seed_database postgres "$TWO_NODES" portal_rt
    start_node "$DB_URL" "$REDIS_URL"
    first_pid=$NODE_PID first_port=$NODE_PORT
    start_node "$DB_URL" "$REDIS_URL"
    run_scenario "postgres + Redis, two nodes" "$TWO_NODES" "$first_pid,$NODE_PID" \
        "ws://127.0.0.1:$first_port/v1/portal/ws,ws://127.0.0.1:$NODE_PORT/v1/portal/ws" "$DB_DIR/tokens.txt"
fi

{
    echo "Realtime run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores; $IN_FLIGHT handshakes in flight,"
    echo "$BROADCASTS broadcasts one second apart after the join storm has drained."
    echo
    echo "| scenario | connections | connected | failed | open at end | server KB per connection | all connected (s) | joins drained (s) | frames in the storm | deliveries | broadcast p50 ms | broadcast p99 ms | server CPU s |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }' "$RESULTS"
} | tee "$OUT"
