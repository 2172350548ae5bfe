#!/usr/bin/env bash
# case_commands.sh -- command tasks: N `true` tasks on two slots.
#
#  1. one shell command per task (`tl add -- true`, `tsp true` with
#     `tsp -S 2`, `nq true`), each run in a fresh data dir / TS_SOCKET /
#     NQDIR, timed by hyperfine from the first submission until every task
#     has ended;
#     plus, to explain the difference, what starting each client alone costs;
#  2. submitted in bulk over the HTTP API on the unix socket (one keep-alive
#     connection, POST /api/tasks in a loop) until every task has ended,
#     against the machine's posix_spawn limit (bench/spawn_limit.c: spawn
#     and reap `true`, one and two at a time), in the same run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ $QUICK == 1 ]]; then N1=300 NB=2000; else N1=1000 NB=5000; fi
CASE="commands"
S1="one shell command per task, N=$N1, 2 slots"
S2="bulk: POST /api/tasks on one unix-socket connection, N=$NB, 2 slots"

# ---- 1. one shell command per task, timed by hyperfine -------------------
log "$CASE: one command per task, N=$N1, $RUNS runs each"
OB=$BENCH_DIR/one_by_one.sh
d_tl=$_BENCH_TMP/one-tl d_tsp=$_BENCH_TMP/one-tsp d_nq=$_BENCH_TMP/one-nq
json=$_BENCH_TMP/one_by_one.json
cleanup_one() {
    "$OB" stop tl "$d_tl" || true
    "$OB" stop tsp "$d_tsp" || true
}
trap 'cleanup_one; bench_cleanup' EXIT
# One hyperfine call per run, so the three systems take turns and a change
# in the machine's load hits them alike.
for ((run = 1; run <= RUNS; run++)); do
    hyperfine --runs 1 --style basic --export-json "$json.$run" \
        --prepare "$OB prepare tl $d_tl" --command-name tasklight "$OB run tl $d_tl $N1" \
        --prepare "$OB prepare tsp $d_tsp" --command-name task-spooler "$OB run tsp $d_tsp $N1" \
        --prepare "$OB prepare nq $d_nq" --command-name nq "$OB run nq $d_nq $N1" \
        >&2
    cleanup_one
    # Tasks per second from hyperfine's wall time of each command.
    $PY - "$json.$run" "$N1" <<'EOF2' | while IFS=$'\t' read -r name rate; do
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    for t in r["times"]:
        print(f"{r['command']}\t{int(sys.argv[2]) / t:.2f}")
EOF2
        case $name in
        tasklight) dur=$DUR_TL note="tl add -- true per task; tl wait" ;;
        task-spooler) dur=$DUR_TSP note="tsp true per task, tsp -S 2; tsp -w" ;;
        nq) dur=$DUR_NQ note="nq true per task; no slots: every job's process starts at once, jobs run one after another" ;;
        esac
        record "$CASE" "$S1" "$name" "tasks/s" "tasks/s" higher "$rate" "$run" "$dur" "$note"
    done
done

# What part of that is the client starting: each client alone, started 100
# times per run without a shell (no daemon is asked anything).
S3="client start alone (tl --version, tsp -V), 100 starts per run"
for ((run = 1; run <= RUNS; run++)); do
    hyperfine -N --warmup 10 --runs 100 --style basic --export-json "$json.start.$run" \
        --command-name tasklight "$TL --version" --command-name task-spooler "tsp -V" >&2
    $PY - "$json.start.$run" <<'EOF2' | while IFS=$'\t' read -r name ms; do
import json, statistics, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"{r['command']}\t{statistics.median(r['times']) * 1000:.3f}")
EOF2
        case $name in
        tasklight) dur=$DUR_TL note="process start (tl links its libraries statically; glibc start-up is most of it on this VM)" ;;
        task-spooler) dur=$DUR_TSP note="" ;;
        esac
        record "$CASE" "$S3" "$name" "ms per start" ms lower "$ms" "$run" "$dur" "$note"
    done
done

# ---- 2. bulk over HTTP vs the posix_spawn limit ----------------------------
log "$CASE: bulk over HTTP, N=$NB, $RUNS runs"
for ((run = 1; run <= RUNS; run++)); do
    dir=$(fresh_dir bulk)
    tl_start "$dir"
    "$TL" --data-dir "$dir" parallel 2 >/dev/null
    out=$("$BIN/loadgen" --unix "$dir/tasklight.sock" --mode create --count "$NB" --timeout 120)
    cpu_ms=$(daemon_cpu_ms "$dir")
    tl_stop "$dir"
    record_json "$CASE" "$S2" tasklight "$run" "$DUR_TL" \
        "until all ended; POST p50 $(jfield "$out" p50_ms) ms" "$out" rate:tasks/s:tasks/s:higher
    record "$CASE" "$S2" tasklight "daemon CPU per task" ms lower \
        "$($PY -c 'import sys; print(round(float(sys.argv[1]) / float(sys.argv[2]), 3))' "$cpu_ms" "$NB")" \
        "$run" "$DUR_TL" "the daemon's user + system time (/proc/PID/stat) over the run, per task"
    for k in 2 1; do
        out=$("$BIN/spawn_limit" "$NB" "$k")
        record_json "$CASE" "$S2" "posix_spawn limit, $k in flight" "$run" "$DUR_NONE" \
            "bench/spawn_limit.c: posix_spawnp + waitpid of true" "$out" rate:tasks/s:tasks/s:higher
    done
    rm -rf "$dir"
done
