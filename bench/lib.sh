# Helpers shared by the benchmark scripts (sourced, not run).

TICKS=$(getconf CLK_TCK)

# How the benchmarks run portal: every rate tier off, and the load tools' X-Forwarded-For trusted
# (the login client gives each connection its own client address).
SERVE_ENV=(PORTAL_TRUSTED_PROXIES=127.0.0.1/32 PORTAL_RATE_LIMIT__LOGIN=0 PORTAL_RATE_LIMIT__AUTH=0
    PORTAL_RATE_LIMIT__ADMIN=0 PORTAL_RATE_LIMIT__PUBLIC=0 PORTAL_RATE_LIMIT__BOT=0 PORTAL_RATE_LIMIT__HEALTH=0)

# require_tools command:package ...: makes sure each command is there. Missing ones are installed
# from Debian's packages when this runs as root with apt-get (so a fresh machine needs no set-up);
# otherwise the harness stops and names the packages.
require_tools() {
    local pair missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "bench: installing ${missing[*]} (apt-get)" >&2
        apt-get install -y -q "${missing[@]}" >/dev/null && return 0
    fi
    echo "bench: needs ${missing[*]} (Debian: apt-get install -y ${missing[*]})" >&2
    exit 1
}

# login_bot portal-binary database-url owner-id: registers the Official Discord bot that delivers
# login codes and prints its key.
login_bot() {
    "$1" --database-url "$2" bot create --name LoginBot --owner "$3" --platform discord --type official \
        --rate-limit-per-hour 1000000 | grep -o 'hbot_[A-Za-z0-9]\{40\}' | head -1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() { # url
    for _ in $(seq 1 200); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "$1") != 000 ]] && return 0
        sleep 0.05
    done
    echo "bench: $1 did not come up" >&2
    return 1
}

# User + system CPU ticks of a process so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# postgres_ticks DATABASE: CPU ticks of the PostgreSQL backends serving that database (found by its
# name in their process titles; other databases' clients on the same server are left out); 0 for
# no database.
postgres_ticks() {
    local total=0 pid
    [[ -n $1 ]] || { echo 0; return; }
    for pid in $(pgrep -u postgres -f "postgres: .* $1 " 2>/dev/null); do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# wrk's "12.34ms" / "850.00us" / "1.02s" in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "%s", v }'
}

# field JSON KEY [DEFAULT]: a key of a JSON object (the load client's and roundtrip's output);
# without a default, a missing key fails the harness.
field() {
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d[sys.argv[2]] if len(sys.argv) < 4 else d.get(sys.argv[2], sys.argv[3]))' "$@"
}

# wrk_stat WRK-OUTPUT rate|requests|p50|p99|non2xx: one figure of a wrk --latency report (latencies
# in milliseconds; non2xx is empty when every answer was 2xx or 3xx).
wrk_stat() {
    case $2 in
    rate) awk '/^Requests\/sec:/ { print $2 }' "$1" ;;
    requests) awk '/requests in/ { print $1 }' "$1" ;;
    p50) to_ms "$(awk '$1 == "50%" { print $2 }' "$1")" ;;
    p99) to_ms "$(awk '$1 == "99%" { print $2 }' "$1")" ;;
    non2xx) awk '/Non-2xx or 3xx responses:/ { print $NF }' "$1" ;;
    esac
}

# seed_database backend connections name-prefix: a fresh database (SQLite under $WORK, or a new
# PostgreSQL database at $PG_URL named after the prefix, recorded in PG_DBS for the clean-up) seeded
# by $SEED with enough live sessions for `connections` clients. Sets DB_URL, DB_NAME (empty for
# SQLite) and DB_DIR, where the seed wrote tokens.txt.
seed_database() {
    local backend=$1 connections=$2 prefix=$3
    DB_DIR="$WORK/$backend-$connections-$RANDOM"
    DB_NAME=
    mkdir -p "$DB_DIR"
    case $backend in
    sqlite) DB_URL="sqlite://$DB_DIR/portal.db?mode=rwc" ;;
    postgres)
        DB_NAME="${prefix}_$(date +%s)_$$_$RANDOM"
        psql "$PG_URL/postgres" -qc "CREATE DATABASE $DB_NAME" >/dev/null
        PG_DBS+=("$DB_NAME")
        DB_URL="$PG_URL/$DB_NAME"
        ;;
    esac
    # About half the users hold a live session; a few of them are banned.
    "$SEED" "$DB_URL" $((connections * 22 / 10 + 1000)) "$DB_DIR" >&2
}

# start_node database-url [redis-url]: starts $PORTAL serving on a free port with SERVE_ENV and
# the script's NODE_ENV; sets NODE_PID and NODE_PORT and records the pid in PIDS.
start_node() {
    local url=$1 redis=${2:-} port
    port=$(free_port)
    env DATABASE_URL="$url" PORTAL_BIND="127.0.0.1:$port" ${redis:+REDIS_URL=$redis} \
        PORTAL_REDIS_PREFIX="bench$$:" "${SERVE_ENV[@]}" "${NODE_ENV[@]}" \
        "$PORTAL" serve 2>>"$WORK/server-$port.log" &
    NODE_PID=$!
    NODE_PORT=$port
    PIDS+=("$NODE_PID")
    wait_ready "http://127.0.0.1:$port/health"
}

# build_release: the server and the bench tools in release mode, the tools into $TARGET.
build_release() {
    echo "== building (release)" >&2
    cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
    CARGO_TARGET_DIR=$TARGET cargo build --release --quiet --manifest-path "$ROOT/bench/Cargo.toml"
}

# start_work name: a scratch folder ($WORK) and the lists of what the run starts (PIDS, PG_DBS),
# all gone on exit: the servers stopped, the PostgreSQL databases at $PG_URL dropped, the folder
# deleted; a run that fails first shows the last warnings of each server started by start_node.
start_work() {
    WORK=$(mktemp -d "/tmp/portal-$1.XXXXXX")
    PIDS=()
    PG_DBS=()
    trap stop_work EXIT
}

stop_work() {
    local status=$? pid db log
    if [[ $status != 0 ]]; then
        for log in "$WORK"/server-*.log; do
            [[ -f $log ]] || continue
            echo "== the last warnings of ${log##*/}" >&2
            grep -v ' INFO ' "$log" | tail -5 >&2 || true
        done
    fi
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for db in "${PG_DBS[@]}"; do
        psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
