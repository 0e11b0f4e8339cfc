#!/usr/bin/env bash
# Fuzzes every operation of the server's own /openapi.json with schemathesis, once per kind of
# credential (none, a public key, a bot key, a User session, an Owner session), and fails on any
# server error, any answer that does not match the document (status, content type, body schema),
# or an operation that declares a credential and serves a request without it (ignored_auth).
#
#   scripts/fuzz-api.sh [sqlite|postgres]     # the short CI budget: 20 examples per operation and
#                                             # credential, about a minute
#   FUZZ_MAX_EXAMPLES=300 scripts/fuzz-api.sh  # a longer local run (about 15 minutes per backend)
#   FUZZ_SEED=1234 scripts/fuzz-api.sh        # replay a run
#
# The server is the debug binary on a fresh SQLite file, or on a fresh PostgreSQL database made on
# the server of PORTAL_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) and
# dropped afterwards. schemathesis is installed from PyPI into a private virtualenv under the cache
# folder; when it cannot be installed, the script fails under CI=true and otherwise skips loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
BACKEND="${1:-sqlite}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-20}"
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

export PORTAL_BIND="127.0.0.1:${PORT}"
export PORTAL_DATA_DIR="$WORK/data"
export PORTAL_LOG="warn"
# No browser engine: starting a chat's machine answers its documented 503 (see fuzz_checks.py)
# rather than launching a Chromium per generated request.
export PORTAL_BROWSER__ENGINE=off
unset DATABASE_URL REDIS_URL
case "$BACKEND" in
    sqlite) ;;
    postgres)
        PG_DATABASE="portal_fuzz_$$_$RANDOM"
        psql -q "$PG_ADMIN" -c "CREATE DATABASE $PG_DATABASE" >/dev/null
        export DATABASE_URL="${PG_ADMIN%/*}/$PG_DATABASE"
        ;;
    *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac
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

CHECKS="${FUZZ_CHECKS:-not_a_server_error_but_the_documented_one,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth,schema_valid_input_is_accepted}"
# The project's own checks (scripts/fuzz_checks.py): what the document calls valid is not refused as
# invalid; no server error but the one the contract gives for this server's set-up (a browser start
# without an engine).
export SCHEMATHESIS_HOOKS=fuzz_checks
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}"
status=0
runs_passed=0
runs_failed=0
cases=0
# run NAME SCHEME CREDENTIAL [schemathesis options]: one pass over every operation with the
# credential given to schemathesis as the document's security scheme SCHEME (session or api_key),
# so that ignored_auth knows which credential it may remove or spoil.
run() {
    local name="$1" scheme="$2" credential="$3"
    shift 3
    echo "== fuzz-api: $BACKEND, $name (max $MAX_EXAMPLES examples per operation)"
    local out="$WORK/out-$name.txt" config="$WORK/schemathesis-$name.toml"
    : >"$config"
    if [ -n "$scheme" ]; then
        printf '[auth.openapi.%s]\napi_key = "%s"\n' "$scheme" "$credential" >"$config"
    fi
    if "$VENV/bin/schemathesis" --config-file "$config" run "$BASE/openapi.json" \
        --checks "$CHECKS" \
        --max-examples "$MAX_EXAMPLES" \
        ${SEED:+--seed "$SEED"} \
        --workers 1 \
        --phases examples,coverage,fuzzing \
        --suppress-health-check all \
        --request-timeout 10 \
        --report junit --report-dir "$WORK/report-$name" \
        --no-color \
        "$@" >"$out" 2>&1; then
        runs_passed=$((runs_passed + 1))
    else
        status=1
        runs_failed=$((runs_failed + 1))
        echo "fuzz-api: FAILED: $name" >&2
    fi
    cat "$out"
    local generated
    generated="$(sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' "$out" | head -1)"
    cases=$((cases + ${generated:-0}))
}

# Ending the session that makes the requests would leave the rest of a run unauthenticated.
KEEP_SESSION=(--exclude-path /v1/authentication/logout)
run anonymous "" ""
run public-key api_key "$PUBLIC_KEY"
run bot-key api_key "$BOT_KEY"
run user-session session "$USER_SESSION" "${KEEP_SESSION[@]}"
run owner-session session "$OWNER_SESSION" "${KEEP_SESSION[@]}"

if grep -q '"level":"ERROR"\|ERROR' "$WORK/server.log"; then
    echo "fuzz-api: the server logged errors:" >&2
    grep 'ERROR' "$WORK/server.log" | head -20 >&2
    status=1
fi
echo "fuzz-api: $BACKEND, $cases generated test cases over $((runs_passed + runs_failed)) credential runs"
echo "fuzz-api: $runs_passed passed, $runs_failed failed"
if [ "$status" -ne 0 ]; then
    echo "fuzz-api: FAILED" >&2
    exit 1
fi
