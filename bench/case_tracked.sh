#!/usr/bin/env bash
# case_tracked.sh -- the tracked-task lifecycle over HTTP: create a task,
# report progress 10 times, complete it; at concurrency 1 and 50.
#
#   tasklight  bench/loadgen over loopback TCP with the token, keep-alive
#              connections: POST /api/tasks (no command), 10 x PATCH
#              {"progress"}, PATCH {"state":"completed"}
#   BullMQ     bench/bullmq_bench.js: queue.add, a worker calls
#              job.updateProgress 10 times and returns (job completed)
#   seed       bench/seed_flask_server.py (Flask, a dict under a lock,
#              tasks.json rewritten on every update), driven by the same
#              loadgen as tasklight
# Each run gets a fresh daemon / queue / seed server.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ $QUICK == 1 ]]; then
    N1=300 N50=1000 SEED1=100 SEED50=150
else
    N1=1000 N50=3000 SEED1=200 SEED50=300
fi
CASE="tracked lifecycle"
UPD=10

redis_start
for conc in 1 50; do
    if [[ $conc == 1 ]]; then n=$N1 ns=$SEED1; else n=$N50 ns=$SEED50; fi
    S="create + $UPD progress + complete, concurrency $conc"
    log "$CASE: concurrency $conc, $RUNS runs"
    for ((run = 1; run <= RUNS; run++)); do
        dir=$(fresh_dir tracked)
        tl_start "$dir"
        out=$("$BIN/loadgen" --tcp "$(tl_tcp "$dir")" --token-file "$dir/token" \
            --mode lifecycle --count "$n" --conns "$conc" --updates "$UPD" --timeout 300)
        tl_stop "$dir"
        rm -rf "$dir"
        record_json "$CASE" "$S" tasklight "$run" "$DUR_TL_TICK" \
            "N=$n; loopback TCP + token, $conc keep-alive connection(s); create and complete are committed before the reply" "$out" \
            rate:lifecycles/s:lifecycles/s:higher p50_ms:"request p50":ms:lower \
            p99_ms:"request p99":ms:lower

        out=$(node "$BENCH_DIR/bullmq_bench.js" lifecycle "$REDIS_PORT" \
            --count "$n" --conc "$conc" --updates "$UPD" --timeout 300)
        record_json "$CASE" "$S" BullMQ "$run" "$DUR_REDIS" \
            "N=$n; $conc producers, worker concurrency $conc" "$out" \
            rate:lifecycles/s:lifecycles/s:higher

        seed_start
        out=$("$BIN/loadgen" --tcp "127.0.0.1:$SEED_PORT" --mode lifecycle \
            --count "$ns" --conns "$conc" --updates "$UPD" --timeout 300)
        seed_stop
        record_json "$CASE" "$S" "seed design (Flask + tasks.json)" "$run" "$DUR_SEED" \
            "N=$ns (its cost grows with the tasks in the file); closes every connection" "$out" \
            rate:lifecycles/s:lifecycles/s:higher p50_ms:"request p50":ms:lower \
            p99_ms:"request p99":ms:lower
    done
done
redis_stop
