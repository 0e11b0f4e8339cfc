#!/usr/bin/env bash
# An A/B of one scenario: two variants of the server run in turn, several rounds, each on a fresh copy
# of one seeded community (SQLite, or PostgreSQL with AB_BACKEND=postgres), so the machine's drift
# falls on both alike. See bench/README.md.
#
# Usage: bench/ab.sh <scenario> <variant-a> <variant-b>
#   scenario: login (the login flow, logins/s), view (public view of one user), random (public view
#             of a uniformly random user), staff (an Owner's view of the heavy users), health
#   variant:  a server binary, optionally followed by environment settings, e.g.
#             "$CARGO_TARGET_DIR/release/portal PORTAL_DATABASE__SQLITE_WRITE_THREAD=false"
# Settings (environment): AB_ROUNDS (3), AB_BACKEND (sqlite or postgres), BENCH_PG_URL
# (postgres://postgres@127.0.0.1:5432), BENCH_USERS (10000), BENCH_DURATION seconds per run (10),
# BENCH_CONNECTIONS (64), BENCH_THREADS wrk threads (2), CARGO_TARGET_DIR (where the bench tools are
# built).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
if [[ $# -ne 3 ]]; then
    sed -n '4,9p' "$0" >&2
    exit 2
fi
SCENARIO=$1
VARIANTS=("$2" "$3")
ROUNDS=${AB_ROUNDS:-3}
BACKEND=${AB_BACKEND:-sqlite}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
TOOLS=(wrk:wrk curl:curl python3:python3)
[[ $BACKEND == postgres ]] && TOOLS+=(psql:postgresql-client)
require_tools "${TOOLS[@]}"
USERS=${BENCH_USERS:-10000}
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

CARGO_TARGET_DIR=$TARGET cargo build --release --quiet --manifest-path "$ROOT/bench/Cargo.toml"
SEED=$TARGET/release/seed
LOADGEN=$TARGET/release/loadgen

WORK=$(mktemp -d /tmp/portal-ab.XXXXXX)
SERVER=""
# PostgreSQL: the seeded community, and each run's copy of it.
PG_SEED="portal_ab_seed_$$"
PG_RUN=""
drop_database() { psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 || true; }
cleanup() {
    if [[ -n $SERVER ]]; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    if [[ $BACKEND == postgres ]]; then
        [[ -n $PG_RUN ]] && drop_database "$PG_RUN"
        drop_database "$PG_SEED"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

case $BACKEND in
sqlite)
    SEED_URL="sqlite://$WORK/seed/portal.db"
    SEED_OPTIONS="?mode=rwc"
    ;;
postgres)
    SEED_URL="$PG_URL/$PG_SEED"
    SEED_OPTIONS=""
    psql "$PG_URL/postgres" -qc "CREATE DATABASE $PG_SEED" >/dev/null
    ;;
*)
    echo "bench: AB_BACKEND is sqlite or postgres, not $BACKEND" >&2
    exit 2
    ;;
esac
mkdir "$WORK/seed"
"$SEED" "$SEED_URL$SEED_OPTIONS" "$USERS" "$WORK/seed" >&2
# shellcheck disable=SC1091
source "$WORK/seed/manifest.env"
read -r -a first <<<"${VARIANTS[0]}"
BOT_KEY=$(login_bot "${first[0]}" "$SEED_URL" "$OWNER_ID")

# fresh_copy: a copy of the seeded community for one run, at RUN_URL.
fresh_copy() {
    if [[ $BACKEND == sqlite ]]; then
        rm -rf "$WORK/run"
        mkdir "$WORK/run"
        cp "$WORK"/seed/portal.db* "$WORK/run/"
        RUN_URL="sqlite://$WORK/run/portal.db"
    else
        [[ -n $PG_RUN ]] && drop_database "$PG_RUN"
        PG_RUN="portal_ab_run_$$"
        psql "$PG_URL/postgres" -qc "CREATE DATABASE $PG_RUN TEMPLATE $PG_SEED" >/dev/null
        RUN_URL="$PG_URL/$PG_RUN"
    fi
}

# run_variant label "binary [ENV=value ...]": prints the variant's rate, p99, and the server's CPU per
# unit (request or login) with, on PostgreSQL, its backends' beside it.
run_variant() {
    local label=$1 words binary port base pid
    read -r -a words <<<"$2"
    binary=${words[0]}
    fresh_copy
    port=$(free_port)
    base="http://127.0.0.1:$port"
    env DATABASE_URL="$RUN_URL" PORTAL_BIND="127.0.0.1:$port" "${SERVE_ENV[@]}" \
        "${words[@]:1}" "$binary" serve 2>"$WORK/server.log" &
    SERVER=$!
    pid=$SERVER
    wait_ready "$base/health"
    local viewer=$USER_PUID
    [[ $SCENARIO == staff ]] && viewer=$OWNER_PUID
    local token
    token=$("$LOADGEN" login "$base" "$BOT_KEY" "$viewer")
    local before after db_before db_after rate p99 units
    before=$(cpu_ticks "$pid")
    db_before=$(postgres_ticks "$PG_RUN")
    if [[ $SCENARIO == login ]]; then
        local flow
        flow=$("$LOADGEN" flow "$base" "$BOT_KEY" "$WORK/seed/identities.txt" "$CONNECTIONS" "$DURATION")
        after=$(cpu_ticks "$pid")
        db_after=$(postgres_ticks "$PG_RUN")
        rate=$(field "$flow" logins_per_s)
        p99=$(field "$flow" p99_ms)
        units=$(field "$flow" logins)
    else
        local args=(-t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Cookie: psession=$token")
        local url=$base
        case $SCENARIO in
        view) url=$base/v1/users/$MAX_ID ;;
        random | staff) args+=(-s "$ROOT/bench/profile.lua") ;;
        health) url=$base/health ;;
        *)
            echo "bench: unknown scenario $SCENARIO" >&2
            exit 2
            ;;
        esac
        MIN_ID=$MIN_ID MAX_ID=$MAX_ID TARGET_IDS=$([[ $SCENARIO == staff ]] && echo "$HEAVY_IDS") \
            wrk "${args[@]}" "$url" >"$WORK/wrk.out"
        after=$(cpu_ticks "$pid")
        db_after=$(postgres_ticks "$PG_RUN")
        rate=$(wrk_stat "$WORK/wrk.out" rate)
        p99=$(wrk_stat "$WORK/wrk.out" p99)
        units=$(wrk_stat "$WORK/wrk.out" requests)
    fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    SERVER=""
    awk -v r="$rate" -v p="$p99" -v a="$before" -v b="$after" -v t="$TICKS" -v n="$units" \
        -v da="$db_before" -v db="$db_after" -v pg="$([[ $BACKEND == postgres ]] && echo 1)" \
        -v l="$label" 'BEGIN { printf "%s  %10.1f /s   p99 %8.3f ms   server CPU %8.1f us per unit", l, r, p,
            (b - a) / t * 1e6 / n
            if (pg) printf "   PostgreSQL CPU %8.1f us per unit", (db - da) / t * 1e6 / n
            printf "\n" }'
}

echo "$SCENARIO on $BACKEND, $ROUNDS rounds, $CONNECTIONS connections, ${DURATION} s a run, $(nproc) cores"
for round in $(seq 1 "$ROUNDS"); do
    for label in A B; do
        variant=${VARIANTS[0]}
        [[ $label == B ]] && variant=${VARIANTS[1]}
        run_variant "round $round $label" "$variant"
    done
done
echo "A: ${VARIANTS[0]}"
echo "B: ${VARIANTS[1]}"
