#!/usr/bin/env bash
# The chat-transport scenario: one official chat whose room many devices join (each with a device
# key, answering key requests with random blobs), then a few senders post encrypted messages over
# HTTP that every device receives over the realtime connection. Reports deliveries per second,
# send-to-delivery latency, and server CPU per delivery and per message. See bench/README.md.
#
# Settings (environment): BENCH_CHAT_SIZES ("200 1000": devices in the room, one single-node run
# each), BENCH_CHAT_SENDERS (10), BENCH_CHAT_MESSAGES (300 per sender), BENCH_CHAT_BACKEND (sqlite
# or postgres: the single-node runs), BENCH_CHAT_TWO_NODES (devices of a run on two nodes sharing
# PostgreSQL and Redis; "auto", the default, runs it with the first size when Redis answers at
# BENCH_REDIS_URL; 0 skips it), BENCH_PG_URL, BENCH_REDIS_URL (redis://127.0.0.1:6379),
# BENCH_PORTAL, CARGO_TARGET_DIR, BENCH_CHAT_OUT (bench/last-chat.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
SIZES=${BENCH_CHAT_SIZES:-"200 1000"}
SENDERS=${BENCH_CHAT_SENDERS:-10}
MESSAGES=${BENCH_CHAT_MESSAGES:-300}
BACKEND=${BENCH_CHAT_BACKEND:-sqlite}
TWO_NODES=${BENCH_CHAT_TWO_NODES:-auto}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_CHAT_OUT:-$ROOT/bench/last-chat.md}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

case $BACKEND in
sqlite | postgres) ;;
*)
    echo "bench: BENCH_CHAT_BACKEND must be sqlite or postgres" >&2
    exit 1
    ;;
esac

# redis_answers URL: a PING over bash's /dev/tcp to the URL's host and port gets +PONG.
redis_answers() {
    local hostport=${1#redis://} line
    hostport=${hostport##*@}
    hostport=${hostport%%/*}
    local host=${hostport%%:*} port=6379
    [[ $hostport == *:* ]] && port=${hostport##*:}
    (
        exec 3<>"/dev/tcp/$host/$port" || exit 1
        printf 'PING\r\n' >&3
        read -r -t 2 line <&3 && [[ $line == +PONG* ]]
    ) 2>/dev/null
}

if [[ $TWO_NODES == auto ]]; then
    if redis_answers "$REDIS_URL"; then
        TWO_NODES=${SIZES%% *}
    else
        echo "bench: no Redis at $REDIS_URL, the two-node run is skipped" >&2
        TWO_NODES=0
    fi
fi

tools=(curl:curl python3:python3)
if [[ $BACKEND == postgres || $TWO_NODES != 0 ]]; then
    tools+=(psql:postgresql-client)
fi
require_tools "${tools[@]}"

build_release
PORTAL=${BENCH_PORTAL:-$TARGET/release/portal}
SEED=$TARGET/release/seed
CHAT=$TARGET/release/chat

# Two sockets per device (the realtime connection and a keep-alive one for key uploads) on each
# side of loopback: the limit is raised here, as far as the hard limit allows, for the servers and
# the client this script starts.
ulimit -n "$(ulimit -Hn)"

start_work chat

# Every connection comes from 127.0.0.1, so the per-address cap is lifted and the node-wide cap
# raised; the message rates (30 a minute per user and chat, 60 per user) are lifted so that the
# senders are bounded by the server's work, not by the limiter.
NODE_ENV=(PORTAL_SERVER__MAX_CONNECTIONS=30000 PORTAL_SERVER__MAX_CONNECTIONS_PER_IP=30000
    PORTAL_CHATS__MESSAGE_RATE__PER_CHAT=1000000 PORTAL_CHATS__MESSAGE_RATE__PER_USER=1000000)

stop_nodes() {
    local pid
    for pid in "$@"; do
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    done
}

# num VALUE DECIMALS: VALUE rounded for the table.
num() { awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }'; }

RESULTS=$WORK/chat.tsv
: >"$RESULTS"

# scenario label devices pids urls tokens-file database-name
run_scenario() {
    local label=$1 devices=$2 pids=$3 urls=$4 tokens=$5 db=$6 cpu_before=0 cpu_after=0 pid result
    sleep 1
    for pid in ${pids//,/ }; do cpu_before=$((cpu_before + $(cpu_ticks "$pid"))); done
    result=$(CLK_TCK=$TICKS CHAT_PG_DATABASE=$db "$CHAT" "$tokens" "$devices" "$SENDERS" "$MESSAGES" "$pids" "$urls")
    for pid in ${pids//,/ }; do cpu_after=$((cpu_after + $(cpu_ticks "$pid"))); done
    echo "   $label: $result" >&2
    local cpu_s pg=—
    cpu_s=$(awk -v a="$cpu_before" -v b="$cpu_after" -v t="$TICKS" 'BEGIN { printf "%.1f", (b - a) / t }')
    [[ -n $db ]] && pg=$(num "$(field "$result" postgres_cpu_us_per_message)" 0)
    printf '%s\t' "$label" "$devices" "$(num "$(field "$result" ready_s)" 1)" "$(num "$(field "$result" setup_mb)" 0)" \
        "$(field "$result" deliveries)/$(field "$result" expected_deliveries)" "$(num "$(field "$result" window_s)" 2)" \
        "$(num "$(field "$result" messages_per_s)" 0)" "$(num "$(field "$result" deliveries_per_s)" 0)" \
        "$(num "$(field "$result" latency_p50_ms)" 1)" "$(num "$(field "$result" latency_p99_ms)" 1)" \
        "$(num "$(field "$result" latency_max_ms)" 1)" "$(num "$(field "$result" send_answer_p50_ms)" 1)" \
        "$(num "$(field "$result" server_cpu_us_per_delivery)" 2)" "$(num "$(field "$result" server_cpu_us_per_message)" 0)" \
        "$pg" "$(num "$(field "$result" client_cpu_us_per_delivery)" 2)" "$cpu_s" >>"$RESULTS"
    awk -v a="$(field "$result" rss_ready_kb)" -v b="$(field "$result" rss_end_kb)" \
        'BEGIN { printf "%.1f / %.1f\n", a / 1024, b / 1024 }' >>"$RESULTS"
}

for size in $SIZES; do
    echo "== $BACKEND, one node, $size devices" >&2
    seed_database "$BACKEND" "$size" portal_chat
    start_node "$DB_URL"
    run_scenario "$BACKEND, one node" "$size" "$NODE_PID" "http://127.0.0.1:$NODE_PORT" "$DB_DIR/tokens.txt" "$DB_NAME"
    stop_nodes "$NODE_PID"
done

if [[ $TWO_NODES != 0 ]]; then
    echo "== postgres + Redis, two nodes, $TWO_NODES devices" >&2
    seed_database postgres "$TWO_NODES" portal_chat
    start_node "$DB_URL" "$REDIS_URL"
    first_pid=$NODE_PID first_port=$NODE_PORT
    start_node "$DB_URL" "$REDIS_URL"
    run_scenario "postgres + Redis, two nodes" "$TWO_NODES" "$first_pid,$NODE_PID" \
        "http://127.0.0.1:$first_port,http://127.0.0.1:$NODE_PORT" "$DB_DIR/tokens.txt" "$DB_NAME"
    stop_nodes "$first_pid" "$NODE_PID"
fi

{
    echo "Chat run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"
    echo "load average before the run: $LOAD_BEFORE; $SENDERS senders × $MESSAGES messages, each sent once the previous one"
    echo "was answered. CPU per delivery and per message: over the send window (first send to last delivery)."
    echo
    echo "| scenario | devices | all ready (s) | set-up MB received | deliveries | send window (s) | messages/s | deliveries/s | latency p50 ms | latency p99 ms | latency max ms | send answer p50 ms | server CPU µs/delivery | server CPU µs/message | PostgreSQL CPU µs/message | client CPU µs/delivery | server CPU s, whole run | server RSS MB ready / end |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n" }' "$RESULTS"
} | tee "$OUT"
