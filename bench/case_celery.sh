#!/usr/bin/env bash
# case_celery.sh -- Celery on Redis against tasklight's bulk API: N tasks
# run to completion at concurrency 2.
#
#   Celery     a worker (prefork pool, concurrency 2, Debian python3-celery)
#              on the case's Redis, broker in db 0, results in db 1;
#              bench/celery_bench.py sends N no-op tasks with apply_async
#              one after another and waits until N results are stored
#   tasklight  the bulk API figure of the commands case: N POST /api/tasks
#              of `true` on one keep-alive unix-socket connection, 2 slots,
#              until /api/stats counts them completed. Each tasklight task
#              is a process (fork+exec of true); a Celery task is a call in
#              a pool process that already runs: the ratio says what a task
#              with a process costs against one without
# Each run gets a fresh daemon, and a fresh Redis and worker.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ $QUICK == 1 ]]; then N=2000; else N=5000; fi
CASE="Celery"
S="$N no-op tasks, concurrency 2, submitted one by one"

celery_start() {
    local dir
    dir=$(fresh_dir celery)
    CELERY_BENCH_REDIS=redis://127.0.0.1:$REDIS_PORT \
        PYTHONPATH=$BENCH_DIR \
        $PY -m celery -A celery_app worker --pool prefork --concurrency 2 \
        --loglevel WARNING --without-heartbeat --without-gossip --without-mingle \
        </dev/null >"$dir/worker.log" 2>&1 &
    CELERY_PID=$!
    _BENCH_PIDS+=("$CELERY_PID")
}

celery_stop() {
    [[ -n ${CELERY_PID:-} ]] || return 0
    stop_pid "$CELERY_PID"
    forget_pid "$CELERY_PID"
    CELERY_PID=
}

log "$CASE: $RUNS runs of $N"
for ((run = 1; run <= RUNS; run++)); do
    dir=$(fresh_dir bulk)
    tl_start "$dir"
    "$TL" --data-dir "$dir" parallel 2 >/dev/null
    out=$("$BIN/loadgen" --unix "$dir/tasklight.sock" --mode create --count "$N" \
        --argv '["true"]' --timeout 300)
    tl_stop "$dir"
    rm -rf "$dir"
    record_json "$CASE" "$S" tasklight "$run" "$DUR_TL" \
        "bulk API: POST of \`true\` command tasks on one unix-socket connection, 2 slots; a process per task" "$out" \
        rate:tasks/s:tasks/s:higher

    redis_start
    celery_start
    out=$(CELERY_BENCH_REDIS=redis://127.0.0.1:$REDIS_PORT $PY "$BENCH_DIR/celery_bench.py" \
        --count "$N" --timeout 300)
    celery_stop
    redis_stop
    record_json "$CASE" "$S" "Celery (prefork, 2)" "$run" "$DUR_REDIS" \
        "apply_async from one Python process; a no-op function in a running pool process; results in Redis" "$out" \
        rate:tasks/s:tasks/s:higher
done
