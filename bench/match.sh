#!/usr/bin/env bash
# The matchmaking scenario: pairings per second with nobody else waiting, with 1,000 callers waiting
# whom no newcomer can be paired with, and while a 1,000-long queue of one tag drains. Reports
# pairings per second, the latency of the enqueue that pairs, and server CPU per pairing, each
# against the baseline of the same run. See bench/README.md.
#
# Settings (environment): BENCH_MATCH_BACKENDS ("sqlite postgres"), BENCH_MATCH_CLIENTS (8, the
# clients enqueueing at once), BENCH_MATCH_PAIRS (1000 pairings per paired phase),
# BENCH_MATCH_WAITING (1000 callers left waiting), BENCH_MATCH_PG_ANALYZE (0; 1 runs ANALYZE on
# PostgreSQL before each phase, for a server whose autovacuum is off), BENCH_PG_URL, BENCH_PORTAL, CARGO_TARGET_DIR,
# BENCH_MATCH_OUT (bench/last-match.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
BACKENDS=${BENCH_MATCH_BACKENDS:-"sqlite postgres"}
CLIENTS=${BENCH_MATCH_CLIENTS:-8}
PAIRS=${BENCH_MATCH_PAIRS:-1000}
WAITING=${BENCH_MATCH_WAITING:-1000}
PG_ANALYZE=${BENCH_MATCH_PG_ANALYZE:-0}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_MATCH_OUT:-$ROOT/bench/last-match.md}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

for backend in $BACKENDS; do
    case $backend in
    sqlite | postgres) ;;
    *)
        echo "bench: BENCH_MATCH_BACKENDS lists sqlite and postgres only" >&2
        exit 1
        ;;
    esac
done

tools=(curl:curl python3:python3)
[[ $BACKENDS == *postgres* ]] && tools+=(psql:postgresql-client)
require_tools "${tools[@]}"

build_release
PORTAL=${BENCH_PORTAL:-$TARGET/release/portal}
SEED=$TARGET/release/seed
MATCH=$TARGET/release/match

start_work match

# The load client opens no realtime connection, so every caller is "away" from their enqueue: the
# grace after which an away caller's entry is dropped (30 s) and the queue's deadline (600 s) are
# raised to a day, so that the waiting callers stay in the queue for the whole run; the reconnect
# grace of a direct chat (60 s) likewise, so that no chat made by the run ends during it. The sweep
# that ends entries and chats past their deadlines (every second) runs once an hour: with nothing
# ever due, it would only add its scans to the CPU measured.
NODE_ENV=(PORTAL_MATCH__DISCONNECT_GRACE_S=86400 PORTAL_MATCH__QUEUE_TTL_S=86400
    PORTAL_MATCH__RECONNECT_GRACE_S=86400 PORTAL_MATCH__SWEEP_INTERVAL_S=3600)

# Each token enqueues once: three paired phases, the waiting callers and the newcomers that drain them.
NEEDED=$((3 * 2 * PAIRS + 2 * WAITING))
RESULTS=$WORK/match.jsonl
: >"$RESULTS"

for backend in $BACKENDS; do
    echo "== $backend, one node: $WAITING waiting, $PAIRS pairings a phase, $CLIENTS clients" >&2
    seed_database "$backend" "$NEEDED" portal_match
    start_node "$DB_URL"
    sleep 1
    CLK_TCK=$TICKS MATCH_CLIENTS=$CLIENTS MATCH_PAIRS=$PAIRS MATCH_WAITING=$WAITING MATCH_PG_DATABASE=$DB_NAME \
        MATCH_ANALYZE=$([[ $backend == postgres ]] && echo "$PG_ANALYZE" || echo 0) \
        "$MATCH" "$DB_DIR/tokens.txt" "$NODE_PID" "http://127.0.0.1:$NODE_PORT" "$DB_URL" |
        while read -r line; do
            echo "   $line" >&2
            python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["backend"]=sys.argv[2]; print(json.dumps(d))' \
                "$line" "$backend" >>"$RESULTS"
        done
    kill "$NODE_PID"
    wait "$NODE_PID" 2>/dev/null || true
done

{
    echo "Matchmaking run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"
    echo "load average before the run: $LOAD_BEFORE; $CLIENTS clients, $PAIRS pairings a paired phase, $WAITING waiting callers$(
        [[ $PG_ANALYZE == 1 ]] && echo "; ANALYZE on PostgreSQL before each phase")."
    echo "\"of baseline\": the phase's pairings per second and server CPU per pairing over those of the run's first phase."
    echo
    python3 - "$RESULTS" <<'PY'
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| backend | phase | queue before | pairings | window s | pairings/s | of baseline | enqueues/s | "
      "pairing enqueue p50 ms | p99 ms | max ms | first enqueue p50 ms | server CPU µs/pairing | of baseline | "
      "PostgreSQL CPU µs/pairing | client CPU µs/pairing |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
base = {}
ends = []
for r in rows:
    if "queue_at_end" in r:
        ends.append(f"{r['backend']}: {r['queue_at_end']}")
        continue
    b = r["backend"]
    if r["phase"] == "baseline":
        base[b] = r
    fill = r["phase"] == "fill"
    ratio = lambda k: "—" if fill or b not in base or not base[b][k] else f"{r[k] / base[b][k]:.2f}"
    first = f"{r['first_enqueue_p50_ms']:.2f}" if r["phase"] not in ("fill", "drain") else "—"
    pg = f"{r['postgres_cpu_us_per_unit']:.0f}" if b == "postgres" else "—"
    unit = " (per enqueue)" if fill else ""
    print(f"| {b} | {r['phase']}{unit} | {r['queue_before']} | {r['pairings']} | {r['window_s']:.2f} | "
          f"{r['pairings_per_s']:.0f} | {ratio('pairings_per_s')} | {r['enqueues_per_s']:.0f} | "
          f"{r['latency_p50_ms']:.2f} | {r['latency_p99_ms']:.2f} | {r['latency_max_ms']:.2f} | {first} | "
          f"{r['server_cpu_us_per_unit']:.0f} | {ratio('server_cpu_us_per_unit')} | {pg} | "
          f"{r['client_cpu_us_per_unit']:.0f} |")
print()
print("Queue length at the end: " + ", ".join(ends) + ".")
PY
} | tee "$OUT"
