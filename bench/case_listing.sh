#!/usr/bin/env bash
# case_listing.sh -- listing and restart with a large history.
#
# The store grows to 1,000, 100,000 and 1,000,000 finished tasks (rows added
# with the sqlite3 CLI by bench/gen_store.sh into the stopped daemon's
# database). At each size:
#   - restart time: from starting `tl serve` until GET /healthz answers
#     (bench/loadgen --mode ready polls every millisecond);
#   - GET /api/tasks?limit=100 latency (p50/p99, one keep-alive connection,
#     one request at a time), on the unix socket and on loopback TCP with
#     the token (what the dashboard uses).
# At the largest size, with 100 running `sleep` tasks as well:
#   - GET /api/tasks?state=running latency;
#   - the daemon's resident memory (VmRSS from /proc/PID/status).
# tasklight only: none of the peers keeps a history to list.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ $QUICK == 1 ]]; then
    SIZES="1000 100000" GETS=200 GETS_TCP=100
else
    SIZES="1000 100000 1000000" GETS=1000 GETS_TCP=300
fi
CASE="listing and restart"
RUNNING=100

fmt() { $PY -c 'import sys; print(f"{int(sys.argv[1]):,}")' "$1"; }

dir=$(fresh_dir store)
tl_start "$dir"
tl_stop "$dir"
have=0
for size in $SIZES; do
    log "$CASE: growing the store to $size finished tasks"
    "$BENCH_DIR/gen_store.sh" "$dir/tasklight.db" $((size - have)) >/dev/null
    have=$size
    label=$(fmt "$size")
    for ((run = 1; run <= RUNS; run++)); do
        tl_start "$dir"
        ms=$TL_START_MS
        record "$CASE" "restart: start to serving /healthz" tasklight "$label finished" ms lower \
            "$ms" "$run" "$DUR_TL" "includes exec of tl serve and opening the store"
        for door in unix tcp; do
            if [[ $door == unix ]]; then
                conn=(--unix "$dir/tasklight.sock") sname="unix socket" n=$GETS
            else
                conn=(--tcp "$(tl_tcp "$dir")" --token-file "$dir/token") sname="TCP + token" n=$GETS_TCP
            fi
            out=$("$BIN/loadgen" "${conn[@]}" --mode get --count "$n" \
                --path '/api/tasks?limit=100' --timeout 300)
            record_json "$CASE" "GET /api/tasks?limit=100, $sname" tasklight "$run" "$DUR_TL" \
                "$n requests, one at a time, keep-alive" "$out" \
                p50_ms:"$label finished, p50":ms:lower p99_ms:"$label finished, p99":ms:lower
        done
        tl_stop "$dir"
    done
done

# The largest store with RUNNING running tasks.
label=$(fmt "$have")
tl_start "$dir"
curl -sf --unix-socket "$dir/tasklight.sock" -X PUT -H 'Content-Type: application/json' \
    -d '{"parallel": 0}' http://localhost/api/groups/default >/dev/null
ids=()
for ((i = 0; i < RUNNING; i++)); do
    id=$(curl -sf --unix-socket "$dir/tasklight.sock" -H 'Content-Type: application/json' \
        -d '{"command": {"argv": ["sleep", "300"]}, "title": "bench sleeper"}' \
        http://localhost/api/tasks | $PY -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    ids+=("$id")
done
running=0
for _ in $(seq 200); do
    running=$(curl -sf --unix-socket "$dir/tasklight.sock" http://localhost/api/stats |
        $PY -c 'import json, sys; print(json.load(sys.stdin)["counts"]["running"])')
    [[ $running == "$RUNNING" ]] && break
    sleep 0.05
done
[[ $running == "$RUNNING" ]] || die "only $running of $RUNNING sleepers are running"
for ((run = 1; run <= RUNS; run++)); do
    for door in unix tcp; do
        if [[ $door == unix ]]; then
            conn=(--unix "$dir/tasklight.sock") sname="unix socket" n=$GETS
        else
            conn=(--tcp "$(tl_tcp "$dir")" --token-file "$dir/token") sname="TCP + token" n=$GETS_TCP
        fi
        out=$("$BIN/loadgen" "${conn[@]}" --mode get --count "$n" \
            --path '/api/tasks?state=running' --timeout 300)
        record_json "$CASE" "GET /api/tasks?state=running ($RUNNING running), $sname" tasklight \
            "$run" "$DUR_TL" "$n requests, one at a time, keep-alive" "$out" \
            p50_ms:"$label finished, p50":ms:lower p99_ms:"$label finished, p99":ms:lower
    done
    rss=$(awk '/^VmRSS:/ {print $2 / 1024}' "/proc/$TL_PID/status")
    record "$CASE" "daemon memory" tasklight "VmRSS, $RUNNING running + $label finished" MiB lower \
        "$rss" "$run" "$DUR_TL" "/proc/PID/status after the listings"
done
for id in "${ids[@]}"; do
    curl -sf --unix-socket "$dir/tasklight.sock" -X POST \
        "http://localhost/api/tasks/$id/cancel" >/dev/null || true
done
tl_stop "$dir"
