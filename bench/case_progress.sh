#!/usr/bin/env bash
# case_progress.sh -- progress updates per second into one task.
#
#   tasklight  PATCH /api/tasks/ID {"progress": p} into one tracked task over
#              loopback TCP with the token: one keep-alive connection one
#              request at a time, then 8 connections with 8 requests
#              pipelined on each
#   BullMQ     job.updateProgress(p) on one job: one connection one call at
#              a time, then 8 connections with 8 calls in flight on each
# Each run gets a fresh daemon and a fresh job.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ $QUICK == 1 ]]; then N1=5000 N8=20000; else N1=20000 N8=100000; fi
CASE="progress updates"

redis_start
for shape in "1 1" "8 8"; do
    read -r conns depth <<<"$shape"
    if [[ $conns == 1 ]]; then n=$N1; else n=$N8; fi
    if [[ $depth == 1 ]]; then
        S="one task, 1 connection, 1 request at a time"
    else
        S="one task, $conns connections x $depth pipelined"
    fi
    log "$CASE: $S, $RUNS runs"
    for ((run = 1; run <= RUNS; run++)); do
        dir=$(fresh_dir progress)
        tl_start "$dir"
        out=$("$BIN/loadgen" --tcp "$(tl_tcp "$dir")" --token-file "$dir/token" \
            --mode progress --count "$n" --conns "$conns" --depth "$depth" --timeout 300)
        tl_stop "$dir"
        rm -rf "$dir"
        record_json "$CASE" "$S" tasklight "$run" "$DUR_TL_TICK" \
            "N=$n PATCHes over loopback TCP + token; a tick is answered at once and stored by the next save (every 250 ms)" \
            "$out" rate:updates/s:updates/s:higher p50_ms:"update p50":ms:lower \
            p99_ms:"update p99":ms:lower

        out=$(node "$BENCH_DIR/bullmq_bench.js" progress "$REDIS_PORT" \
            --count "$n" --conns "$conns" --depth "$depth" --timeout 300)
        record_json "$CASE" "$S" BullMQ "$run" "$DUR_REDIS" \
            "N=$n job.updateProgress calls" "$out" rate:updates/s:updates/s:higher \
            p50_ms:"update p50":ms:lower p99_ms:"update p99":ms:lower
    done
done
redis_stop
