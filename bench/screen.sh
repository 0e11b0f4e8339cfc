#!/usr/bin/env bash
# Browser rooms: one chat's machine shows a page that changes every animation frame, and 1, 10 and
# 50 viewers watch its screen. Reports the frames the server accepts per second, the frames each
# viewer receives per second, the deliveries per second and the server's CPU per frame and per
# delivery. Needs Chromium (Debian's `chromium`). See bench/README.md, "Browser rooms".
#
# Settings (environment): BENCH_SCREEN_VIEWERS ("1,10,50"), BENCH_SCREEN_WINDOW_S (10),
# BENCH_SCREEN_MAX_FPS (15), BENCH_PORTAL, CARGO_TARGET_DIR, BENCH_SCREEN_OUT (bench/last-screen.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
VIEWERS=${BENCH_SCREEN_VIEWERS:-1,10,50}
WINDOW=${BENCH_SCREEN_WINDOW_S:-10}
MAX_FPS=${BENCH_SCREEN_MAX_FPS:-15}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_SCREEN_OUT:-$ROOT/bench/last-screen.md}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

require_tools curl:curl python3:python3 chromium:chromium

build_release
PORTAL=${BENCH_PORTAL:-$TARGET/release/portal}
SEED=$TARGET/release/seed
SCREEN=$TARGET/release/screen

start_work screen

PAGE_PORT=$(free_port)
# The page server is the one inner site the machine may reach; as root Chromium needs its sandbox
# off. Viewers are many users on one address, so the per-address cap is lifted.
NODE_ENV=(PORTAL_BROWSER__ENGINE=process PORTAL_BROWSER__PROCESS__NO_SANDBOX=true
    PORTAL_BROWSER__EGRESS__ALLOW_HOSTS="127.0.0.1:$PAGE_PORT" PORTAL_BROWSER__MAX_FPS="$MAX_FPS"
    PORTAL_BROWSER__MAX_VIEWERS=1000 PORTAL_SERVER__MAX_CONNECTIONS_PER_IP=30000)

largest=$(tr ',' '\n' <<<"$VIEWERS" | sort -n | tail -1)
seed_database sqlite "$largest" portal_screen
start_node "$DB_URL"
echo "== one machine, viewers $VIEWERS, windows of ${WINDOW}s" >&2
RESULTS=$WORK/screen.tsv
CLK_TCK=$TICKS "$SCREEN" "$DB_DIR/tokens.txt" "$VIEWERS" "$NODE_PID" "http://127.0.0.1:$NODE_PORT" "$PAGE_PORT" "$WINDOW" >"$RESULTS"

{
    echo "Screen run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"
    echo "load average before the run: $LOAD_BEFORE; browser.max_fps $MAX_FPS, viewport 1280×720, JPEG quality 60; each"
    echo "window ${WINDOW} s. Server CPU is the portal process only (Chromium's own CPU is not in it)."
    echo
    echo "| viewers | frames accepted/s | frames/s per viewer | deliveries/s | KB per frame | server CPU µs/frame | server CPU µs/delivery | server CPU % |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    tail -n +2 "$RESULTS" | awk -F'\t' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n" }'
} | tee "$OUT"
