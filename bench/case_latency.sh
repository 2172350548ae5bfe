#!/usr/bin/env bash
# case_latency.sh -- add-to-start latency on an idle system, one task at a
# time with a 5 ms pause between tasks.
#
#   tasklight  POST /api/tasks over loopback TCP with the token, of a command
#              task running bench/stamp.c, which writes CLOCK_MONOTONIC as
#              its first act to a fifo; latency = that time - the time just
#              before the POST was sent (so it includes fork+exec)
#   floor      the same stamp program started directly with posix_spawn: the
#              part of the above that any runner of processes pays
#   BullMQ     queue.add -> the worker's processor entered (same process,
#              no process is started)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ $QUICK == 1 ]]; then N=200; else N=1000; fi
CASE="add-to-start latency"
S="idle, one at a time, N=$N"
LAT_DIR=${LAT_DIR:-}

redis_start
log "$CASE: $RUNS runs of $N"
for ((run = 1; run <= RUNS; run++)); do
    dir=$(fresh_dir latency)
    tl_start "$dir"
    out=$("$BIN/loadgen" --tcp "$(tl_tcp "$dir")" --token-file "$dir/token" \
        --mode start --count "$N" --stamp "$BIN/stamp" --fifo "$dir/fifo" \
        --pause-ms 5 ${LAT_DIR:+--dump "$LAT_DIR/tasklight.$run.txt"})
    tl_stop "$dir"
    rm -rf "$dir"
    record_json "$CASE" "$S" tasklight "$run" "$DUR_TL" \
        "POST to the command's first instruction (fork+exec included)" "$out" \
        p50_ms:p50:ms:lower p99_ms:p99:ms:lower

    fdir=$(fresh_dir floor)
    out=$("$BIN/loadgen" --mode spawn --count "$N" --stamp "$BIN/stamp" \
        --fifo "$fdir/fifo" --pause-ms 5 ${LAT_DIR:+--dump "$LAT_DIR/posix_spawn.$run.txt"})
    record_json "$CASE" "$S" "posix_spawn floor" "$run" "$DUR_NONE" \
        "posix_spawn to the same program's first instruction" "$out" \
        p50_ms:p50:ms:lower p99_ms:p99:ms:lower

    out=$(node "$BENCH_DIR/bullmq_bench.js" latency "$REDIS_PORT" --count "$N" \
        --pause-ms 5 ${LAT_DIR:+--dump "$LAT_DIR/bullmq.$run.txt"})
    record_json "$CASE" "$S" BullMQ "$run" "$DUR_REDIS" \
        "queue.add to the worker's processor entered (no process started)" "$out" \
        p50_ms:p50:ms:lower p99_ms:p99:ms:lower
done
redis_stop
