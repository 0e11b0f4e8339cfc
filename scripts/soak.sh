#!/usr/bin/env bash
# A soak: mixed load (reads, full logins, staff writes, bot batches) against the release binary for
# SOAK_SECONDS (default 600), with the server's RSS sampled every 10 s. Fails on any 5xx, any
# unexpected status, or RSS leaving a 10% band after the first minute. Writes the samples and a
# summary to SOAK_REPORT (default target/soak-report.json).
#
#   scripts/soak.sh [sqlite|postgres]
#   SOAK_SECONDS=120 SOAK_WARMUP=20 SOAK_RATE=100 scripts/soak.sh   # a shorter, lighter run
#   SOAK_PROFILE=debug scripts/soak.sh                      # without a release build
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND="${1:-sqlite}"
SECONDS_TOTAL="${SOAK_SECONDS:-600}"
RATE="${SOAK_RATE:-150}"
WARMUP="${SOAK_WARMUP:-60}"
PROFILE="${SOAK_PROFILE:-release}"
PORT="${SOAK_PORT:-18474}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portal-target}"
REPORT="${SOAK_REPORT:-$CARGO_TARGET_DIR/soak-report.json}"

if [ "$PROFILE" = "release" ]; then
    cargo build --quiet --release --bin portal
else
    cargo build --quiet --bin portal
fi
PORTAL="$CARGO_TARGET_DIR/$PROFILE/portal"

WORK="$(mktemp -d)"
SERVER_PID=""
PG_ADMIN="${PORTAL_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DATABASE=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$PG_DATABASE" ]; then
        psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DATABASE WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

unset DATABASE_URL REDIS_URL
export PORTAL_BIND="127.0.0.1:${PORT}"
export PORTAL_DATA_DIR="$WORK/data"
export PORTAL_LOG="warn"
case "$BACKEND" in
    sqlite) ;;
    postgres)
        PG_DATABASE="portal_soak_$$_$RANDOM"
        psql -q "$PG_ADMIN" -c "CREATE DATABASE $PG_DATABASE" >/dev/null
        export DATABASE_URL="${PG_ADMIN%/*}/$PG_DATABASE"
        ;;
    *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac
# One client machine makes all of the load: rate tiers off, as behind a trusted proxy with many users.
for tier in LOGIN AUTH ADMIN PUBLIC BOT HEALTH; do
    export "PORTAL_RATE_LIMIT__${tier}=0"
done
export PORTAL_LOGIN_CODE__MAX_PENDING_PER_IP=1000000

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

"$PORTAL" migrate >/dev/null
"$PORTAL" user create --platform discord --platform-user-id 1 --username soak_owner --level 3 >/dev/null
TARGET="$("$PORTAL" user create --platform discord --platform-user-id 2 --username soak_target | json_field "['id']")"
BOT_KEY="$("$PORTAL" bot create --name "Login Bot" --owner soak_owner --platform discord --type official \
    --rate-limit-per-hour 1000000 | json_field "['api_key']")"

"$PORTAL" serve 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:${PORT}/health" >/dev/null 2>&1 && break
    sleep 0.1
done

BASE="http://127.0.0.1:${PORT}"
curl -fsS -X POST "$BASE/v1/authentication/request" -H 'content-type: application/json' \
    -d '{"platform":"discord","platform_user_id":"1"}' >/dev/null
CODE="$(curl -fsS -X POST "$BASE/v1/authentication/bot/login-code" -H 'content-type: application/json' \
    -H "x-api-key: $BOT_KEY" -d '{"platform":"discord","platform_user_id":"1","platform_username":"owner"}' \
    | json_field "['code']")"
OWNER_SESSION="$(curl -fsS -X POST "$BASE/v1/authentication/verify" -H 'content-type: application/json' \
    -d "{\"code\":\"$CODE\"}" -D - -o /dev/null | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: psession=\([^;]*\);.*/\1/p')"

echo "soak: $BACKEND, $PROFILE build, ${SECONDS_TOTAL}s at about ${RATE} requests/s"
status=0
python3 scripts/soak_driver.py --port "$PORT" --pid "$SERVER_PID" --bot-key "$BOT_KEY" \
    --owner-session "$OWNER_SESSION" --target "$TARGET" --duration "$SECONDS_TOTAL" --warmup "$WARMUP" --rate "$RATE" \
    > "$WORK/driver.out" || status=$?
sed -n '/^t=/p' "$WORK/driver.out"
sed -n '/^{/,$p' "$WORK/driver.out" > "$REPORT"
python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['summary'], indent=1))" "$REPORT"
if grep -q 'ERROR' "$WORK/server.log"; then
    echo "soak: the server logged errors:" >&2
    grep 'ERROR' "$WORK/server.log" | head -20 >&2
    status=1
fi
[ "$status" -eq 0 ] && echo "soak: passed (report: $REPORT)" || echo "soak: FAILED (report: $REPORT)" >&2
exit "$status"
