#!/usr/bin/env bash
# Fuzzes every operation of the server's own /openapi.json with schemathesis, once per kind of
# credential (none, a public key, a bot key, a User session, an Owner session), and fails on any
# server error or any answer that does not match the document (status, content type, body schema).
#
#   scripts/fuzz-api.sh                      # the short CI budget (FUZZ_MAX_EXAMPLES=8 per operation)
#   FUZZ_MAX_EXAMPLES=200 scripts/fuzz-api.sh  # a longer local run (about 20-30 minutes)
#   FUZZ_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_fuzz scripts/fuzz-api.sh
#                                            # against PostgreSQL (the database must exist and be empty)
#
# The server is the debug binary (built if missing) on a fresh SQLite file unless FUZZ_DATABASE_URL
# is set. schemathesis is installed from PyPI into a private virtualenv under the cache folder. When
# it cannot be installed, the script fails under CI=true and otherwise skips with a loud message.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-8}"
SEED="${FUZZ_SEED:-}"
PORT="${FUZZ_PORT:-18473}"
BASE="http://127.0.0.1:${PORT}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portal-target}"
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/portal-fuzz-venv-${SCHEMATHESIS_VERSION}"

skip_or_fail() {
    if [ "${CI:-}" = "true" ]; then
        echo "fuzz-api: $1 (required under CI=true)" >&2
        exit 1
    fi
    echo "=====================================================================" >&2
    echo "fuzz-api: SKIPPED: $1" >&2
    echo "=====================================================================" >&2
    exit 0
}

if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV" >/dev/null 2>&1 || skip_or_fail "cannot create a Python virtualenv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}" \
        || { rm -rf "$VENV"; skip_or_fail "cannot install schemathesis==${SCHEMATHESIS_VERSION} from PyPI"; }
fi

cargo build --quiet --bin portal
PORTAL="$CARGO_TARGET_DIR/debug/portal"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

export PORTAL_BIND="127.0.0.1:${PORT}"
export PORTAL_DATA_DIR="$WORK/data"
export PORTAL_LOG="warn"
if [ -n "${FUZZ_DATABASE_URL:-}" ]; then
    export DATABASE_URL="$FUZZ_DATABASE_URL"
fi
# The fuzzer sends far more than a person would: rate tiers off, so every answer is a real one.
for tier in LOGIN AUTH ADMIN PUBLIC BOT HEALTH; do
    export "PORTAL_RATE_LIMIT__${tier}=0"
done
export PORTAL_LOGIN_CODE__MAX_PENDING_PER_IP=1000000
export PORTAL_VERIFY__MAX_FAILURES=1000000

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

"$PORTAL" migrate >/dev/null
"$PORTAL" user create --platform discord --platform-user-id 9000001 --username fuzz_owner --level 3 >/dev/null
"$PORTAL" user create --platform discord --platform-user-id 9000002 --username fuzz_user >/dev/null
# Somebody for the staff endpoints to act on.
"$PORTAL" user create --platform discord --platform-user-id 9000003 --username fuzz_target >/dev/null
BOT_KEY="$("$PORTAL" bot create --name "Login Bot" --owner fuzz_owner --platform discord --type official \
    --rate-limit-per-hour 1000000 | json_field "['api_key']")"
PUBLIC_KEY="$("$PORTAL" public-key create --label fuzz | json_field "['api_key']")"
export PORTAL_PUBLIC_API_KEYS=""

"$PORTAL" serve 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "$BASE/health" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$BASE/health" >/dev/null || { cat "$WORK/server.log" >&2; echo "fuzz-api: server did not start" >&2; exit 1; }

# The real login flow: request a code, the login bot fetches it, verify sets the session cookie.
login() {
    local platform_user_id="$1"
    curl -fsS -X POST "$BASE/v1/authentication/request" -H 'content-type: application/json' \
        -d "{\"platform\":\"discord\",\"platform_user_id\":\"$platform_user_id\"}" >/dev/null
    local code
    code="$(curl -fsS -X POST "$BASE/v1/authentication/bot/login-code" -H 'content-type: application/json' \
        -H "x-api-key: $BOT_KEY" \
        -d "{\"platform\":\"discord\",\"platform_user_id\":\"$platform_user_id\",\"platform_username\":\"fuzz\"}" \
        | json_field "['code']")"
    curl -fsS -X POST "$BASE/v1/authentication/verify" -H 'content-type: application/json' \
        -d "{\"code\":\"$code\"}" -D - -o /dev/null \
        | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: psession=\([^;]*\);.*/\1/p'
}

USER_SESSION="$(login 9000002)"
OWNER_SESSION="$(login 9000001)"
[ -n "$USER_SESSION" ] && [ -n "$OWNER_SESSION" ] || { echo "fuzz-api: login failed" >&2; exit 1; }

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
status=0
run() {
    local name="$1"
    shift
    echo "== fuzz-api: $name (max $MAX_EXAMPLES examples per operation)"
    if ! "$VENV/bin/schemathesis" run "$BASE/openapi.json" \
        --checks "$CHECKS" \
        --max-examples "$MAX_EXAMPLES" \
        ${SEED:+--seed "$SEED"} \
        --workers 1 \
        --phases examples,coverage,fuzzing \
        --suppress-health-check all \
        --request-timeout 10 \
        --report junit --report-dir "$WORK/report-$name" \
        --no-color \
        "$@"; then
        status=1
        echo "fuzz-api: FAILED: $name" >&2
    fi
}

# Ending the session that makes the requests would leave the rest of a run unauthenticated.
KEEP_SESSION=(--exclude-path /v1/authentication/logout)
run anonymous
run public-key -H "X-API-Key: $PUBLIC_KEY"
run bot-key -H "X-API-Key: $BOT_KEY"
run user-session -H "Cookie: psession=$USER_SESSION" "${KEEP_SESSION[@]}"
run owner-session -H "Cookie: psession=$OWNER_SESSION" "${KEEP_SESSION[@]}"

if grep -q '"level":"ERROR"\|ERROR' "$WORK/server.log"; then
    echo "fuzz-api: the server logged errors:" >&2
    grep 'ERROR' "$WORK/server.log" | head -20 >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "fuzz-api: FAILED" >&2
    exit 1
fi
echo "fuzz-api: passed (no server error, every answer matches the document)"
