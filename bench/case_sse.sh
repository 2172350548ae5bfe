#!/usr/bin/env bash
# case_sse.sh -- SSE fan-out: many subscribers on GET /api/events of one
# daemon while a reporter sends progress updates at a steady rate.
#
#   bench/loadgen --mode sse over loopback TCP with the token: makes K
#   tracked tasks, opens S streams of /api/events (one connection each),
#   then PATCHes {"current","message":"sseb NS"} into the tasks round-robin
#   at R per second, NS = CLOCK_MONOTONIC just before the request is
#   written. Every stream records receive time - NS for each task.progress
#   event that carries a stamp.
#
# Progress events are coalesced to at most one per task per 100 ms
# (src/lib/report.c): with K = R/5 tasks each task is updated every 200 ms,
# so every PATCH emits its event at once, and the delay is the whole path:
# the PATCH read and applied, the frame built once, queued to S connections,
# written by the loop, carried by loopback and parsed by the subscriber (one
# single-threaded epoll client for all S streams). A stream the daemon
# refuses (429 past its cap on streams) is counted, not measured.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ $QUICK == 1 ]]; then DUR=5; else DUR=15; fi
RATE=${SSE_RATE:-50}
TASKS=$(((RATE + 4) / 5))
CASE="SSE fan-out"

# One descriptor per stream in the client, and as many in the daemon.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[[ $(ulimit -n) -ge 1100 ]] || die "open-file limit $(ulimit -n) is below 1,100 (raise ulimit -n)"

for subs in 250 1000; do
    S="$subs subscribers, $RATE progress updates/s into $TASKS tasks, ${DUR} s"
    log "$CASE: $subs subscribers, $RUNS runs"
    for ((run = 1; run <= RUNS; run++)); do
        dir=$(fresh_dir sse)
        tl_start "$dir"
        out=$("$BIN/loadgen" --tcp "$(tl_tcp "$dir")" --token-file "$dir/token" \
            --mode sse --subs "$subs" --tasks "$TASKS" --rate "$RATE" \
            --duration "$DUR" --timeout 120 \
            ${LAT_DIR:+--dump "$LAT_DIR/sse_$subs.$run.txt"})
        tl_stop "$dir"
        rm -rf "$dir"
        log "$out"
        conn=$(jfield "$out" connected)
        note="loopback TCP + token; one epoll client reads every stream; delay = PATCH written to event parsed"
        if [[ $conn -lt $subs ]]; then
            note+="; the daemon accepted $conn of $subs streams ($(jfield "$out" refused) answered 429: its stream cap)"
        fi
        record_json "$CASE" "$S" tasklight "$run" "$DUR_TL_TICK" "$note" "$out" \
            connected:"streams open":streams:higher \
            p50_ms:"delivery delay p50":ms:lower \
            p99_ms:"delivery delay p99":ms:lower \
            max_ms:"delivery delay max":ms:lower \
            delivered_pct:"events delivered":%:higher \
            fanout_per_s:"events written to streams/s":events/s:higher \
            patch_p50_ms:"PATCH reply p50":ms:lower
    done
done
