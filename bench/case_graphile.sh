#!/usr/bin/env bash
# case_graphile.sh -- graphile-worker (Node.js, PostgreSQL) against
# tasklight's function tasks, both in-process, both with durable state.
#
#   add-to-start latency (joins the latency case's table: same scenario)
#     graphile-worker  bench/graphile_bench.js latency: addJob to the task
#                      function entered (same process, woken by the
#                      LISTEN/NOTIFY add_job sends)
#     tasklight        bench/fn_lifecycle latency: tl_submit_function to the
#                      function's first instruction on its worker thread
#   function tasks in-process: N tasks submitted at once, run to the end
#     tasklight        bench/fn_lifecycle lifecycle: N tl_submit_function
#                      (one loop turn commits them), each function calls
#                      tl_ctx_progress 10 times and returns; 4 workers;
#                      done when tl_wait_all returns (every end committed)
#     graphile-worker  one addJobs call of N no-op jobs (one INSERT), a
#                      worker pool runs them; done when no job is left in
#                      the table (every completion committed). Jobs report
#                      no progress: graphile-worker has no progress API.
#                      Twice: defaults at concurrency 4, and tuned
#                      (concurrency 10, localQueue 50, completeJobBatchDelay
#                      10 ms: the batching its performance docs suggest)
# PostgreSQL is a private cluster on a free loopback port, fsync=off (see
# lib.sh pg_start), a fresh database per run; stopped when the case ends.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ $QUICK == 1 ]]; then NLAT=200 N=3000; else NLAT=1000 N=10000; fi
build_fn_lifecycle
LAT_DIR=${LAT_DIR:-}
GW=$BENCH_DIR/graphile_bench.js

pg_start
db=0
log "graphile: $RUNS runs"
for ((run = 1; run <= RUNS; run++)); do
    # Same case and scenario names as case_latency.sh: one table.
    CASE="add-to-start latency"
    S="idle, one at a time, N=$NLAT"
    pg_fresh_db "gw$((++db))"
    out=$(node "$GW" latency "$PG_URL" --count "$NLAT" --pause-ms 5 \
        ${LAT_DIR:+--dump "$LAT_DIR/graphile.$run.txt"})
    record_json "$CASE" "$S" graphile-worker "$run" "$DUR_PG" \
        "addJob to the task function entered (same process, no process started)" "$out" \
        p50_ms:p50:ms:lower p99_ms:p99:ms:lower

    out=$("$BIN/fn_lifecycle" latency --count "$NLAT" --pause-ms 5 \
        ${LAT_DIR:+--dump "$LAT_DIR/tasklight_function.$run.txt"})
    record_json "$CASE" "$S" "tasklight function task" "$run" "$DUR_TL" \
        "tl_submit_function to the function entered on a worker thread (in-process, C API)" "$out" \
        p50_ms:p50:ms:lower p99_ms:p99:ms:lower

    CASE="function tasks in-process"
    S="$N tasks submitted at once, run to completion"
    out=$("$BIN/fn_lifecycle" lifecycle --count "$N" --workers 4 --updates 10 --timeout 300)
    record_json "$CASE" "$S" tasklight "$run" "$DUR_TL" \
        "C API: submit + 10 tl_ctx_progress + return; 4 worker threads" "$out" \
        rate:lifecycles/s:lifecycles/s:higher

    pg_fresh_db "gw$((++db))"
    out=$(node "$GW" lifecycle "$PG_URL" --count "$N" --conc 4 --timeout 300)
    record_json "$CASE" "$S" "graphile-worker (defaults, concurrency 4)" "$run" "$DUR_PG" \
        "addJobs of N no-op jobs + run + complete; no progress (no API for it)" "$out" \
        rate:lifecycles/s:lifecycles/s:higher

    pg_fresh_db "gw$((++db))"
    out=$(node "$GW" lifecycle "$PG_URL" --count "$N" --conc 10 --local-queue 50 \
        --complete-batch-ms 10 --timeout 300)
    record_json "$CASE" "$S" "graphile-worker (tuned)" "$run" "$DUR_PG" \
        "concurrency 10, localQueue.size 50, completeJobBatchDelay 10 ms; no progress" "$out" \
        rate:lifecycles/s:lifecycles/s:higher
done
pg_stop
