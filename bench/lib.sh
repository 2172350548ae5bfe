# shellcheck shell=bash disable=SC2034
# lib.sh -- helpers shared by the benchmark cases; sourced, not run.
#
# Every server a case starts (tl serve, redis-server, the seed Flask server,
# a task-spooler server, PostgreSQL, a Celery worker) is recorded by its pid and stopped by the EXIT trap
# set here, so a case that fails or is interrupted leaves nothing running.
# Servers listen on loopback only. Results are appended to $BENCH_RESULTS as
# tab-separated rows that bench/report.py turns into tables.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TL=${TL:-$ROOT/build/tl}
BIN=${BENCH_BIN:-$ROOT/build/bench}
PY=/usr/bin/python3
QUICK=${QUICK:-0}
RUNS=${RUNS:-3}
BENCH_RESULTS=${BENCH_RESULTS:-$ROOT/bench/results/adhoc.tsv}
export NODE_PATH=$BENCH_DIR/.peers/node_modules

# Durability of each system, printed next to every figure (bench/report.py
# explains each in its legend).
DUR_TL="SQLite WAL, synchronous=NORMAL"
DUR_TL_TICK="WAL/NORMAL; ticks saved every 250 ms"
DUR_TSP="server memory"
DUR_NQ="a file per job, no fsync"
DUR_REDIS="Redis without RDB/AOF"
DUR_SEED="JSON file rewritten, no fsync"
DUR_PG="PostgreSQL, fsync=off"
DUR_NONE="-"

# The helper programs, built into build/bench when missing or older than
# their source.
build_helpers() {
    local f
    mkdir -p "$BIN"
    for f in loadgen stamp spawn_limit; do
        if [[ ! -x $BIN/$f || $BENCH_DIR/$f.c -nt $BIN/$f ]]; then
            ${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
                -o "$BIN/$f" "$BENCH_DIR/$f.c"
        fi
    done
}
build_helpers

# bench/fn_lifecycle.c links libtasklight statically: run.sh builds it into
# the results with the library it measures; a case run alone builds it here
# from $TL_BUILD_DIR (default build/).
build_fn_lifecycle() {
    local lib=${TL_BUILD_DIR:-$ROOT/build}/libtasklight.a
    [[ -x $BIN/fn_lifecycle ]] && return 0
    [[ -f $lib ]] || die "$lib is missing: run make"
    # shellcheck disable=SC2046
    ${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/include" \
        -o "$BIN/fn_lifecycle" "$BENCH_DIR/fn_lifecycle.c" "$lib" \
        $(pkg-config --libs libevent jansson sqlite3 libpcre2-8) -lm -lpthread
}
[[ -x $TL ]] || { echo "error: $TL is missing: run make" >&2; exit 1; }

_BENCH_PIDS=()
_BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tlbench.XXXXXX")
chmod 700 "$_BENCH_TMP"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Stops one process we started: TERM, then KILL after 10 s.
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
    local pid
    for pid in "${_BENCH_PIDS[@]}"; do
        stop_pid "$pid"
    done
    _BENCH_PIDS=()
    rm -rf "$_BENCH_TMP"
    [[ -z ${PG_DIR:-} ]] || rm -rf "$PG_DIR"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
    local pid=$1 keep=() p
    for p in "${_BENCH_PIDS[@]}"; do
        [[ $p == "$pid" ]] || keep+=("$p")
    done
    _BENCH_PIDS=("${keep[@]}")
}

# A fresh directory under this case's temp dir.
fresh_dir() {
    local d
    d=$(mktemp -d "$_BENCH_TMP/$1.XXXXXX")
    chmod 700 "$d"
    echo "$d"
}

free_port() {
    $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 20 s) until the unix socket answers /healthz; sets
# TL_READY to the wall-clock time (seconds) it first did.
tl_wait_ready() {
    local dir=$1 out
    out=$("$BIN/loadgen" --mode ready --unix "$dir/tasklight.sock" --timeout 20) ||
        die "tl serve in $dir did not become ready; log: $(tail -5 "$dir.log" 2>/dev/null)"
    TL_READY=$(jfield "$out" realtime)
}

# tl_start DIR: starts a daemon on DIR (created if missing) on a free
# loopback port; sets TL_PID, and TL_START_MS to the time from its start to
# its first answer. The daemon's output goes to DIR.log.
tl_start() {
    local dir=$1 t0
    mkdir -p "$dir"
    chmod 700 "$dir"
    t0=$EPOCHREALTIME
    setsid "$TL" serve --data-dir "$dir" --listen 127.0.0.1:0 \
        </dev/null >"$dir.log" 2>&1 &
    TL_PID=$!
    _BENCH_PIDS+=("$TL_PID")
    echo "$TL_PID" >"$dir.pid"
    tl_wait_ready "$dir"
    TL_START_MS=$($PY -c 'import sys; print(round((float(sys.argv[1]) - float(sys.argv[2])) * 1000, 2))' "$TL_READY" "$t0")
    for _ in $(seq 100); do [[ -s $dir/listen ]] && break; sleep 0.02; done
    [[ -s $dir/listen ]] || die "tl serve wrote no $dir/listen"
}

# tl_stop DIR: stops the daemon tl_start started on DIR.
tl_stop() {
    local dir=$1 pid
    [[ -f $dir.pid ]] || return 0
    pid=$(cat "$dir.pid")
    stop_pid "$pid"
    forget_pid "$pid"
    rm -f "$dir.pid"
}

tl_tcp() { cat "$1/listen"; }

# The CPU time (user + system, ms) the daemon of data dir $1 has used.
daemon_cpu_ms() {
    local stat
    read -r -a stat <"/proc/$(cat "$1.pid")/stat"
    echo $(((stat[13] + stat[14]) * 1000 / $(getconf CLK_TCK)))
}

# Starts redis-server on a free loopback port without persistence; sets
# REDIS_PORT and REDIS_PID.
redis_start() {
    local dir
    dir=$(fresh_dir redis)
    REDIS_PORT=$(free_port)
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
        --appendonly no --dir "$dir" --daemonize no --protected-mode yes \
        </dev/null >"$dir/redis.log" 2>&1 &
    REDIS_PID=$!
    _BENCH_PIDS+=("$REDIS_PID")
    for _ in $(seq 200); do
        redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    die "redis-server did not start: $(tail -5 "$dir/redis.log")"
}

redis_stop() {
    [[ -n ${REDIS_PID:-} ]] || return 0
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    stop_pid "$REDIS_PID"
    forget_pid "$REDIS_PID"
    REDIS_PID=
}

# Starts the seed design's Flask server on a fresh directory; sets
# SEED_PORT and SEED_PID.
seed_start() {
    local dir
    dir=$(fresh_dir seed)
    SEED_PORT=$(free_port)
    $PY "$BENCH_DIR/seed_flask_server.py" --port "$SEED_PORT" --data-dir "$dir" \
        </dev/null >"$dir/seed.log" 2>&1 &
    SEED_PID=$!
    _BENCH_PIDS+=("$SEED_PID")
    "$BIN/loadgen" --mode ready --tcp "127.0.0.1:$SEED_PORT" --timeout 20 >/dev/null ||
        die "seed server did not start: $(tail -5 "$dir/seed.log")"
}

seed_stop() {
    [[ -n ${SEED_PID:-} ]] || return 0
    stop_pid "$SEED_PID"
    forget_pid "$SEED_PID"
    SEED_PID=
}

# Starts a private PostgreSQL cluster (initdb in a temp dir, trust auth,
# listening on a free loopback port and a unix socket in that dir only);
# sets PG_PORT, PG_PID, PG_URL. fsync=off: a commit writes the WAL to the OS
# before it returns but does not flush it, the durability tasklight's SQLite
# WAL with synchronous=NORMAL has. As root the server runs as the
# `postgres` user (initdb refuses root).
pg_start() {
    local bin
    bin=$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [[ -x $bin/initdb ]] || die "PostgreSQL server binaries not found (apt-get install postgresql)"
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tlbench-pg.XXXXXX")
    local as=()
    if [[ $(id -u) == 0 ]]; then
        chown postgres: "$PG_DIR"
        as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    fi
    chmod 700 "$PG_DIR"
    "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 \
        --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
        die "initdb failed: $(tail -5 "$PG_DIR/initdb.log")"
    PG_PORT=$(free_port)
    "${as[@]}" "$bin/postgres" -D "$PG_DIR/data" -p "$PG_PORT" \
        -c listen_addresses=127.0.0.1 -c unix_socket_directories="$PG_DIR" \
        -c fsync=off -c max_connections=50 \
        </dev/null >"$PG_DIR/postgres.log" 2>&1 &
    PG_PID=$!
    _BENCH_PIDS+=("$PG_PID")
    for _ in $(seq 200); do
        "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
        sleep 0.05
    done
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" ||
        die "postgres did not start: $(tail -5 "$PG_DIR/postgres.log")"
    PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

# A fresh database on the cluster: PG_URL points at it.
pg_fresh_db() {
    local name=$1
    PGOPTIONS='-c client_min_messages=warning' psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
        -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null ||
        die "cannot create database $name"
    PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/$name"
}

# Stops the cluster: SIGINT is PostgreSQL's fast shutdown.
pg_stop() {
    local i
    [[ -n ${PG_PID:-} ]] || return 0
    kill -INT "$PG_PID" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        kill -0 "$PG_PID" 2>/dev/null || break
        sleep 0.05
    done
    stop_pid "$PG_PID"
    forget_pid "$PG_PID"
    PG_PID=
    rm -rf "$PG_DIR"
    PG_DIR=
}

# The value of a numeric field in a one-line JSON text.
jfield() {
    $PY -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

# record CASE SCENARIO SYSTEM METRIC UNIT BETTER VALUE RUN DURABILITY [NOTE]
# BETTER is "higher" or "lower". One row per measured value.
record() {
    mkdir -p "$(dirname "$BENCH_RESULTS")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" \
        "$6" "$7" "$8" "$9" "${10:-}" >>"$BENCH_RESULTS"
    log "$1 | $2 | $3 | $4 = $7 $5 (run $8)"
}

# record_json CASE SCENARIO SYSTEM RUN DURABILITY NOTE JSON FIELD:METRIC:UNIT:BETTER...
# Records several fields of one loadgen or bullmq_bench result line.
record_json() {
    local c=$1 s=$2 sys=$3 run=$4 dur=$5 note=$6 json=$7 spec f m u b v
    shift 7
    for spec in "$@"; do
        IFS=: read -r f m u b <<<"$spec"
        v=$(jfield "$json" "$f")
        record "$c" "$s" "$sys" "$m" "$u" "$b" "$v" "$run" "$dur" "$note"
    done
}
