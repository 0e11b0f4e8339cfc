#!/usr/bin/env bash
# The portal benchmark: builds in release mode, seeds a fresh community on SQLite and on PostgreSQL,
# logs viewers in through the real login flow, drives each scenario with wrk (the login flow with
# bench's own load client), and reports every figure as a share of a ceiling server measured in the
# same run. See bench/README.md.
#
# Usage: bench/run.sh
# Settings (environment): BENCH_USERS (10000), BENCH_DURATION seconds per scenario (10),
# BENCH_CONNECTIONS (64), BENCH_THREADS wrk threads (2), BENCH_BACKENDS ("sqlite postgres"),
# BENCH_PG_URL (postgres://postgres@127.0.0.1:5432), CARGO_TARGET_DIR (the build folder),
# BENCH_OUT (bench/last-run.md), BENCH_PORTAL (another server binary to measure, e.g. an older build),
# BENCH_IDLE_WAIT_S (10: how long a started server stays quiet before its idle RSS is read),
# BENCH_SERVER_CPUS and BENCH_LOAD_CPUS (taskset CPU lists: the servers, portal and the ceiling alike,
# run on the first, wrk and the login client on the second; unset = no pinning), BENCH_LIVE (1: then
# the realtime scenarios, bench/realtime.sh, and the chat fan-out, bench/chat.sh, each with its own
# settings and table; 0 skips them).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
USERS=${BENCH_USERS:-10000}
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
BACKENDS=${BENCH_BACKENDS:-"sqlite postgres"}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER_CPUS=${BENCH_SERVER_CPUS:-}
LOAD_CPUS=${BENCH_LOAD_CPUS:-}
OUT=${BENCH_OUT:-$ROOT/bench/last-run.md}

TOOLS=(/usr/bin/time:time wrk:wrk curl:curl python3:python3)
[[ $BACKENDS == *postgres* ]] && TOOLS+=(psql:postgresql-client)
require_tools "${TOOLS[@]}"

echo "== building (release)" >&2
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
CARGO_TARGET_DIR=$TARGET cargo build --release --quiet --manifest-path "$ROOT/bench/Cargo.toml"
PORTAL=${BENCH_PORTAL:-$TARGET/release/portal}
SEED=$TARGET/release/seed
LOADGEN=$TARGET/release/loadgen
CEILING=$TARGET/release/ceiling
ROUNDTRIP=$TARGET/release/roundtrip

WORK=$(mktemp -d /tmp/portal-bench.XXXXXX)
PIDS=()
PG_DB=""
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $PG_DB ]]; then
        psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Command prefixes that pin a process to its CPU list (empty when no list is set).
SERVER_PIN=()
LOAD_PIN=()
[[ -n $SERVER_CPUS ]] && SERVER_PIN=(taskset -c "$SERVER_CPUS")
[[ -n $LOAD_CPUS ]] && LOAD_PIN=(taskset -c "$LOAD_CPUS")

rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# Makes VmHWM start again from the current RSS, so each scenario reports its own peak.
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }

RESULTS=$WORK/results.tsv
: >"$RESULTS"
: >"$WORK/login-cpu.tsv"
: >"$WORK/roundtrip.tsv"

# run_wrk backend scenario pid url [cookie] [lua-script]
run_wrk() {
    local backend=$1 scenario=$2 pid=$3 url=$4 cookie=${5:-} script=${6:-}
    local args=(-t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency)
    [[ -n $cookie ]] && args+=(-H "Cookie: psession=$cookie")
    [[ -n $script ]] && args+=(-s "$script")
    reset_peak "$pid"
    local cpu_before
    cpu_before=$(cpu_ticks "$pid")
    "${LOAD_PIN[@]}" wrk "${args[@]}" "$url" >"$WORK/wrk.out" 2>&1
    local cpu_after
    cpu_after=$(cpu_ticks "$pid")
    local rps p50 p99 bad requests
    rps=$(wrk_stat "$WORK/wrk.out" rate)
    requests=$(wrk_stat "$WORK/wrk.out" requests)
    p50=$(wrk_stat "$WORK/wrk.out" p50)
    p99=$(wrk_stat "$WORK/wrk.out" p99)
    bad=$(wrk_stat "$WORK/wrk.out" non2xx)
    if [[ -n $bad ]]; then
        echo "bench: $backend $scenario: $bad answers were not 2xx" >&2
        cat "$WORK/wrk.out" >&2
        exit 1
    fi
    local cpu_us
    cpu_us=$(awk -v a="$cpu_before" -v b="$cpu_after" -v t="$TICKS" -v n="$requests" \
        'BEGIN { printf "%.1f", (b - a) / t * 1e6 / n }')
    record "$backend" "$scenario" "$rps" "$p50" "$p99" "$cpu_us" "$pid"
}

# record backend scenario rps p50 p99 cpu_us_per_request pid — the share of the ceiling is worked
# out at the end, against the faster of the backend's two ceiling runs (before and after its scenarios).
record() {
    local hwm=0
    [[ -n ${7:-} ]] && hwm=$(rss_kb "$7" VmHWM)
    printf '%s\t%s\t%.0f\t%s\t%s\t%s\t%.1f\n' "$1" "$2" "$3" "$4" "$5" "$6" \
        "$((hwm / 1024)).$(((hwm % 1024) * 10 / 1024))" >>"$RESULTS"
    printf '   %-30s %9.0f req/s  p50 %7s ms  p99 %7s ms  %6s us CPU/req\n' "$2" "$3" "$4" "$5" "$6" >&2
}

start_ceiling() {
    local port
    port=$(free_port)
    "${SERVER_PIN[@]}" "$CEILING" "127.0.0.1:$port" >"$WORK/ceiling.log" 2>&1 &
    CEILING_PID=$!
    PIDS+=("$CEILING_PID")
    wait_ready "http://127.0.0.1:$port/"
    CEILING_URL="http://127.0.0.1:$port/"
}

bench_backend() {
    local backend=$1 url
    echo "== $backend" >&2
    case $backend in
    sqlite)
        mkdir -p "$WORK/sqlite"
        url="sqlite://$WORK/sqlite/portal.db?mode=rwc"
        ;;
    postgres)
        PG_DB="portal_bench_$(date +%s)_$$"
        psql "$PG_URL/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
        url="$PG_URL/$PG_DB"
        ;;
    esac

    "$SEED" "$url" "$USERS" "$WORK/$backend"
    # shellcheck disable=SC1090
    source "$WORK/$backend/manifest.env"
    local bot_key
    bot_key=$(login_bot "$PORTAL" "$url" "$OWNER_ID")

    local port pid base
    port=$(free_port)
    base="http://127.0.0.1:$port"
    env DATABASE_URL="$url" PORTAL_BIND="127.0.0.1:$port" "${SERVE_ENV[@]}" \
        "${SERVER_PIN[@]}" "$PORTAL" serve 2>"$WORK/$backend/server.log" &
    pid=$!
    PIDS+=("$pid")
    wait_ready "$base/health"
    # Idle means quiet for a while: the allocator's background purge (every 5 s) has given back
    # what the start-up freed.
    sleep "${BENCH_IDLE_WAIT_S:-10}"
    local idle_kb
    idle_kb=$(rss_kb "$pid" VmRSS)
    printf '%s\tidle\t%s\n' "$backend" "$((idle_kb / 1024)).$(((idle_kb % 1024) * 10 / 1024))" >>"$WORK/idle.tsv"
    echo "   idle RSS $((idle_kb / 1024)) MB" >&2

    local user_token owner_token
    user_token=$("$LOADGEN" login "$base" "$bot_key" "$USER_PUID")
    owner_token=$("$LOADGEN" login "$base" "$bot_key" "$OWNER_PUID")

    run_wrk "$backend" ceiling "$CEILING_PID" "$CEILING_URL" "$user_token"
    run_wrk "$backend" "GET /health" "$pid" "$base/health" "$user_token"
    MIN_ID=$MIN_ID MAX_ID=$MAX_ID run_wrk "$backend" "public view (random of $USERS)" "$pid" "$base" \
        "$user_token" "$ROOT/bench/profile.lua"
    # A fixed URL needs no script, so the load tool costs what it costs against the ceiling.
    run_wrk "$backend" "public view (one user)" "$pid" "$base/v1/users/$MAX_ID" "$user_token"
    TARGET_IDS=$HEAVY_IDS run_wrk "$backend" "elevated view (Owner)" "$pid" "$base" \
        "$owner_token" "$ROOT/bench/profile.lua"
    run_wrk "$backend" "GET /v1/users/me" "$pid" "$base/v1/users/me" "$user_token"

    reset_peak "$pid"
    local cpu_before cpu_after flow db_before db_after client_ticks
    cpu_before=$(cpu_ticks "$pid")
    db_before=$(postgres_ticks "$PG_DB")
    flow=$(/usr/bin/time -f '%U %S' -o "$WORK/loadgen.time" \
        "${LOAD_PIN[@]}" "$LOADGEN" flow "$base" "$bot_key" "$WORK/$backend/identities.txt" "$CONNECTIONS" "$DURATION")
    cpu_after=$(cpu_ticks "$pid")
    db_after=$(postgres_ticks "$PG_DB")
    client_ticks=$(awk -v t="$TICKS" '{ printf "%.0f", ($1 + $2) * t }' "$WORK/loadgen.time")
    echo "   login flow: $flow" >&2
    local logins_per_s p50 p99 errors cpu_us
    logins_per_s=$(field "$flow" logins_per_s)
    p50=$(field "$flow" p50_ms)
    p99=$(field "$flow" p99_ms)
    errors=$(field "$flow" errors)
    if [[ $errors != 0 ]]; then
        echo "bench: $backend login flow had $errors errors" >&2
    fi
    cpu_us=$(awk -v a="$cpu_before" -v b="$cpu_after" -v t="$TICKS" -v r="$logins_per_s" -v d="$DURATION" \
        'BEGIN { printf "%.1f", (b - a) / t * 1e6 / (r * d) }')
    # Where a login's CPU goes: the server, PostgreSQL's processes (SQLite runs inside the server)
    # and the load client; 2 cores' worth of it bounds the logins per second this machine can do.
    awk -v s="$((cpu_after - cpu_before))" -v db="$((db_after - db_before))" -v c="$client_ticks" \
        -v t="$TICKS" -v n="$(field "$flow" logins)" \
        -v cores="$(nproc)" -v b="$backend" 'BEGIN {
            us = 1e6 / t / n
            printf "%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\n", b, s * us, db * us, c * us, (s + db + c) * us,
                cores * 1e6 / ((s + db + c) * us)
        }' >>"$WORK/login-cpu.tsv"
    record "$backend" "login flow (logins/s)" "$logins_per_s" "$p50" "$p99" "$cpu_us" "$pid"
    run_wrk "$backend" "ceiling (again)" "$CEILING_PID" "$CEILING_URL" "$user_token"

    # One database round trip through the store, with the driver's threads free to run on any core
    # and with the whole process on one core: the login flow is a dozen of them.
    local free one_core
    free=$("$ROUNDTRIP" "$url" 20000)
    one_core=$(taskset -c 0 "$ROUNDTRIP" "$url" 20000)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" \
        "$(field "$free" wall_us_per_statement)" "$(field "$free" cpu_us_per_statement)" \
        "$(field "$one_core" wall_us_per_statement)" "$(field "$one_core" cpu_us_per_statement)" \
        "$(field "$free" direct_wall_us_per_statement —)" >>"$WORK/roundtrip.tsv"  # SQLite only
    echo "   round trip: any core $free; one core $one_core" >&2

    kill "$pid"
    wait "$pid" 2>/dev/null || true
    if [[ $backend == postgres ]]; then
        psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
        PG_DB=""
    fi
}

start_ceiling
for backend in $BACKENDS; do
    bench_backend "$backend"
done

{
    echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
    echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg); $USERS users, $CONNECTIONS connections,"
    echo "${DURATION} s per scenario, wrk with $THREADS threads${SERVER_CPUS:+; servers pinned to CPU $SERVER_CPUS}${LOAD_CPUS:+, load tools to CPU $LOAD_CPUS}."
    echo
    echo "| backend | scenario | req/s | p50 ms | p99 ms | of ceiling | server CPU µs/req | peak RSS MB |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    # Shares of the backend's faster ceiling run; a login is three requests.
    awk -F'\t' '
        NR == FNR { if ($2 ~ /^ceiling/ && $3 > best[$1]) best[$1] = $3; next }
        {
            share = 100 * $3 / best[$1]
            if ($2 ~ /^login flow/) share *= 3
            printf "| %s | %s | %s | %s | %s | %.0f%% | %s | %s |\n", $1, $2, $3, $4, $5, share, $6, $7
        }' "$RESULTS" "$RESULTS"
    echo
    awk -F'\t' '{ printf "Idle RSS (%s): %s MB. ", $1, $3 }' "$WORK/idle.tsv"
    echo
    echo
    echo "CPU per completed login (µs), and the logins per second that $(nproc) fully used cores would allow at that cost:"
    echo
    echo "| backend | server | PostgreSQL | load client | total | bound at $(nproc) cores |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s/s |\n", $1, $2, $3, $4, $5, $6 }' "$WORK/login-cpu.tsv"
    echo
    echo "One \`SELECT 1\` through the store on one pooled connection (µs per statement; the client's CPU only):"
    echo
    echo "| backend | wall, any core | CPU, any core | wall, one core | CPU, one core | called directly (SQLite) |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$WORK/roundtrip.tsv"
} | tee "$OUT"

# The live scenarios after the HTTP ones, once this run's servers are gone: connection memory, the
# join storm, broadcasts and two nodes, then the chat fan-out on one and two nodes.
if [[ ${BENCH_LIVE:-1} != 0 ]]; then
    cleanup
    trap - EXIT
    "$ROOT/bench/realtime.sh"
    "$ROOT/bench/chat.sh"
fi
