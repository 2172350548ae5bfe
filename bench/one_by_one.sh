#!/usr/bin/env bash
# one_by_one.sh -- the commands hyperfine times in case "commands": N `true`
# tasks submitted with one shell command each, then a wait until all ended.
#
#   one_by_one.sh prepare tl|tsp|nq DIR   a fresh queue in DIR, 2 slots
#   one_by_one.sh run     tl|tsp|nq DIR N submit N tasks, wait for them all
#   one_by_one.sh stop    tl|tsp|nq DIR   stop the queue's server, if any
#
# With two slots and first-in-first-out order, once the last two tasks
# have ended every task has. nq has no slot count: each `nq` starts its
# job's process at once, and the jobs then run one after another.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
TL=${TL:-$BENCH_DIR/../build/tl}
BIN=${BENCH_BIN:-$BENCH_DIR/../build/bench}
action=$1 sys=$2 dir=$3 n=${4:-0}

stop() {
    case $sys in
    tl)
        if [[ -f $dir.pid ]]; then
            pid=$(cat "$dir.pid")
            kill -TERM "$pid" 2>/dev/null || true
            for ((i = 0; i < 200; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
            done
            kill -KILL "$pid" 2>/dev/null || true
            rm -f "$dir.pid"
        fi
        ;;
    tsp)
        if [[ -S $dir/ts.sock ]]; then
            TS_SOCKET=$dir/ts.sock tsp -K 2>/dev/null || true
        fi
        ;;
    nq) ;;
    esac
}

case $action in
prepare)
    stop
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 700 "$dir"
    case $sys in
    tl)
        setsid "$TL" serve --data-dir "$dir" --listen 127.0.0.1:0 \
            </dev/null >"$dir.log" 2>&1 &
        echo $! >"$dir.pid"
        "$BIN/loadgen" --mode ready --unix "$dir/tasklight.sock" >/dev/null
        "$TL" --data-dir "$dir" parallel 2 >/dev/null
        ;;
    tsp)
        TS_SOCKET=$dir/ts.sock TMPDIR=$dir tsp -S 2
        ;;
    nq) ;;
    esac
    ;;
run)
    : >"$dir/ids"
    case $sys in
    tl)
        for ((i = 0; i < n; i++)); do
            "$TL" --data-dir "$dir" add -- true >>"$dir/ids"
        done
        mapfile -t last < <(tail -n 2 "$dir/ids" | grep -o '[0-9]\+$')
        "$TL" --data-dir "$dir" wait "${last[@]}" >/dev/null
        ;;
    tsp)
        export TS_SOCKET=$dir/ts.sock TMPDIR=$dir
        for ((i = 0; i < n; i++)); do
            tsp true >>"$dir/ids"
        done
        for id in $(tail -n 2 "$dir/ids"); do
            tsp -w "$id"
        done
        ;;
    nq)
        export NQDIR=$dir/nq
        for ((i = 0; i < n; i++)); do
            nq true >>"$dir/ids"
        done
        nq -w
        ;;
    esac
    ;;
stop) stop ;;
*)
    echo "usage: one_by_one.sh prepare|run|stop tl|tsp|nq DIR [N]" >&2
    exit 2
    ;;
esac
