#!/usr/bin/env bash
# The realtime soak: thousands of users held on /v1/portal/ws for minutes, a share of them
# reconnecting every minute, beside steady encrypted chat traffic in one room. Reports whether the
# server's RSS stayed within a band after the warm-up, and every error of either client. See
# bench/README.md ("Realtime soak").
#
# Settings (environment): BENCH_SOAK_CONNECTIONS (5000 held connections), BENCH_SOAK_SECONDS (600),
# BENCH_SOAK_CHURN (10: percent of the connections reconnecting a minute), BENCH_SOAK_WARMUP (120:
# seconds; every RSS sample after it must stay within BENCH_SOAK_BAND percent, 10, of the first),
# BENCH_SOAK_MEMBERS (50 devices in the chat room), BENCH_SOAK_SENDERS (5),
# BENCH_SOAK_SEND_INTERVAL_MS (1000 per sender), BENCH_SOAK_BACKEND (sqlite or postgres),
# BENCH_PG_URL, BENCH_PORTAL, CARGO_TARGET_DIR, BENCH_SOAK_OUT (bench/last-soak.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
CONNECTIONS=${BENCH_SOAK_CONNECTIONS:-5000}
SECONDS_TOTAL=${BENCH_SOAK_SECONDS:-600}
CHURN=${BENCH_SOAK_CHURN:-10}
WARMUP=${BENCH_SOAK_WARMUP:-120}
BAND=${BENCH_SOAK_BAND:-10}
MEMBERS=${BENCH_SOAK_MEMBERS:-50}
SENDERS=${BENCH_SOAK_SENDERS:-5}
INTERVAL_MS=${BENCH_SOAK_SEND_INTERVAL_MS:-1000}
BACKEND=${BENCH_SOAK_BACKEND:-sqlite}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_SOAK_OUT:-$ROOT/bench/last-soak.md}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

require_tools curl:curl python3:python3 psql:postgresql-client

build_release
PORTAL=${BENCH_PORTAL:-$TARGET/release/portal}
SEED=$TARGET/release/seed
CHAT=$TARGET/release/chat
CHURN_CLIENT=$TARGET/release/churn

ulimit -n "$(ulimit -Hn)"

start_work soak

# The chat's rates are lifted so that the steady traffic is never refused; every connection comes
# from 127.0.0.1, so the per-address cap is lifted too.
NODE_ENV=(PORTAL_SERVER__MAX_CONNECTIONS=30000 PORTAL_SERVER__MAX_CONNECTIONS_PER_IP=30000
    PORTAL_CHATS__MESSAGE_RATE__PER_CHAT=1000000 PORTAL_CHATS__MESSAGE_RATE__PER_USER=1000000)

echo "== $BACKEND, $CONNECTIONS connections, $SECONDS_TOTAL s" >&2
seed_database "$BACKEND" $((CONNECTIONS + MEMBERS + 1)) portal_soak
start_node "$DB_URL"
url="http://127.0.0.1:$NODE_PORT"
# The chat's set-up waits up to a minute for its frames to drain, which the churn never lets
# happen; its messages fill the rest of the run.
messages=$(((SECONDS_TOTAL - 60) * 1000 / INTERVAL_MS))
CLK_TCK=$TICKS CHAT_SEND_INTERVAL_MS=$INTERVAL_MS "$CHAT" "$DB_DIR/tokens.txt" "$MEMBERS" "$SENDERS" \
    "$messages" "$NODE_PID" "$url" >"$WORK/chat.json" 2>"$WORK/chat.err" &
chat_pid=$!
"$CHURN_CLIENT" "$DB_DIR/tokens.txt" $((MEMBERS + 1)) "$CONNECTIONS" "$SECONDS_TOTAL" "$CHURN" \
    "$NODE_PID" "ws://127.0.0.1:$NODE_PORT/v1/portal/ws" >"$WORK/churn.json"
chat_status=0
wait "$chat_pid" || chat_status=$?
cat "$WORK/chat.err" >&2

status=0
python3 - "$WORK/churn.json" "$WORK/chat.json" "$chat_status" "$WARMUP" "$BAND" "$BACKEND" \
    "$CONNECTIONS" "$SECONDS_TOTAL" "$CHURN" "$MEMBERS" "$SENDERS" "$INTERVAL_MS" "$LOAD_BEFORE" "$(nproc)" >"$OUT" <<'EOF' || status=$?
import json, sys, time
(churn_file, chat_file, chat_status, warmup, band, backend, connections, seconds, churn,
 members, senders, interval, load, cores) = sys.argv[1:]
churn_run = json.load(open(churn_file))
try:
    chat = json.load(open(chat_file))
except ValueError:
    chat = None
samples = churn_run["rss_samples"]
# The band is the one scripts/soak.sh keeps: every sample after the warm-up within BAND % of the
# first of them. The two halves' means show a drift that a band could hide.
after = [kb for at, kb in samples if at >= int(warmup)]
reference = after[0] if after else 0
low, high = (min(after), max(after)) if after else (0, 0)
worst = max(abs(kb - reference) for kb in after) / reference * 100 if reference else float("inf")
half = len(after) // 2
first_half = sum(after[:half]) / half if half else 0
second_half = sum(after[half:]) / (len(after) - half) if after else 0
chat_errors = ("the chat client failed (status %s)" % chat_status if chat is None
               else chat["send_errors"] + chat["join_errors"] + chat["upload_errors"] + chat["closed"]
               + chat["expected_deliveries"] - chat["deliveries"])
errors = churn_run["errors"] + (chat_errors if isinstance(chat_errors, int) else 1)
held = worst <= float(band)
print(f"Soak run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {cores} cores "
      f"(load average before: {load}); {backend}, one node.")
print()
print(f"- {connections} held connections for {seconds} s, {churn} % of them reconnecting a minute: "
      f"all connected after {churn_run['connected_s']} s, {churn_run['reconnects']} reconnections, "
      f"{churn_run['frames']:,} frames read.")
if chat is None:
    print(f"- Chat: {chat_errors}.")
else:
    print(f"- Chat: {members} devices in one room, {senders} senders, one message each every {interval} ms: "
          f"{chat['sent']} messages sent, {chat['deliveries']:,} of {chat['expected_deliveries']:,} deliveries, "
          f"latency p50 {chat['latency_p50_ms']} ms, p99 {chat['latency_p99_ms']} ms.")
print(f"- Errors: {errors} (connections {churn_run['errors']}, chat {chat_errors}).")
for line in churn_run["first_errors"]:
    print(f"  - {line}")
print(f"- Server RSS after the {warmup} s warm-up: {reference / 1024:.1f} MB at its end, then {low / 1024:.1f} to "
      f"{high / 1024:.1f} MB, at most {worst:.1f} % away ({'within' if held else 'outside'} the {band} % band); "
      f"the means of the two halves after it: {first_half / 1024:.1f} and {second_half / 1024:.1f} MB.")
print()
print("| s | " + " | ".join(str(at) for at, _ in samples) + " |")
print("| --- | " + " | ".join("---:" for _ in samples) + " |")
print("| RSS MB | " + " | ".join(f"{kb / 1024:.1f}" for _, kb in samples) + " |")
sys.exit(0 if held and errors == 0 else 1)
EOF
cat "$OUT"
exit $status
