#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: the one measure on this shared machine
# that other load does not move, for telling small changes apart. See bench/README.md.
#
# Usage: bench/instructions.sh <server-binary> [ENV=value ...]
# Settings (environment): INSTR_PATH (the request, default the public view of one user, which is
# served from the cache; a curl range such as /v1/users/[3001-5000] sends each path once, so each
# public view misses the cache), INSTR_REQUESTS (2000, or the range's size), BENCH_USERS (10000),
# INSTR_OUT (where the callgrind profile is kept for callgrind_annotate, /tmp/portal-callgrind.out),
# CARGO_TARGET_DIR (where the bench tools are built).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
if [[ $# -lt 1 ]]; then
    sed -n '5,10p' "$0" >&2
    exit 2
fi
BINARY=$1
shift
REQUESTS=${INSTR_REQUESTS:-2000}
USERS=${BENCH_USERS:-10000}
OUT=${INSTR_OUT:-/tmp/portal-callgrind.out}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
require_tools valgrind:valgrind callgrind_control:valgrind curl:curl

CARGO_TARGET_DIR=$TARGET cargo build --release --quiet --manifest-path "$ROOT/bench/Cargo.toml"
WORK=$(mktemp -d /tmp/portal-instr.XXXXXX)
SERVER=""
cleanup() {
    if [[ -n $SERVER ]]; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$TARGET/release/seed" "sqlite://$WORK/portal.db?mode=rwc" "$USERS" "$WORK" >&2
# shellcheck disable=SC1091
source "$WORK/manifest.env"
BOT_KEY=$(login_bot "$BINARY" "sqlite://$WORK/portal.db" "$OWNER_ID")
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
URL=$BASE${INSTR_PATH:-/v1/users/$MAX_ID}
WARM_URL=$BASE/v1/users/$MAX_ID
COUNTED=("$URL?n=[1-$REQUESTS]")
if [[ $URL =~ \[([0-9]+)-([0-9]+)\] ]]; then
    REQUESTS=$((BASH_REMATCH[2] - BASH_REMATCH[1] + 1))
    COUNTED=("$URL")
fi

# Counting starts only when asked (`--instr-atstart=no`), after start-up and a warm-up.
env DATABASE_URL="sqlite://$WORK/portal.db" PORTAL_BIND="127.0.0.1:$PORT" "${SERVE_ENV[@]}" "$@" \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out" \
    "$BINARY" serve 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 1 600); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$BASE/health") != 000 ]] && break
    sleep 0.1
done
# Start-up work (the subscription sweep over the seeded history) runs in the background; under
# valgrind it takes seconds, and it must not be counted.
sleep 10
TOKEN=$("$TARGET/release/loadgen" login "$BASE" "$BOT_KEY" "$USER_PUID")
# curl's [a-b] range sends the requests over one kept-alive connection; the query string is ignored.
curl -sf -o /dev/null -H "Cookie: psession=$TOKEN" "$WARM_URL?warm=[1-200]"
callgrind_control --instr=on "$SERVER" >/dev/null 2>&1
curl -sf -o /dev/null -H "Cookie: psession=$TOKEN" "${COUNTED[@]}"
callgrind_control --instr=off "$SERVER" >/dev/null 2>&1
callgrind_control --dump "$SERVER" >/dev/null 2>&1
kill "$SERVER"
wait "$SERVER" 2>/dev/null || true
SERVER=""

# The dump holds the counted part; the file written at exit holds nothing more.
PROFILE=$(ls "$WORK"/callgrind.out.* | head -1)
cp "$PROFILE" "$OUT"
awk -v n="$REQUESTS" -v out="$OUT" '/^totals:/ { total = $2 }
    END { printf "%d instructions in %d requests: %d per request (profile: %s)\n", total, n, total / n, out }' "$PROFILE"
