#!/bin/sh
# tests/fuzz/run.sh BUILD_DIR SECONDS TARGET...
#
# Runs each libFuzzer target for SECONDS seconds on its seed corpus (the
# seeds in tests/fuzz/corpus are only read) and a working corpus where new
# inputs go (BUILD_DIR/corpus/TARGET, kept from run to run; FUZZ_FRESH=1
# empties it first, so a short run fuzzes instead of replaying what earlier
# runs found), with its dictionary when there is one, and prints one line of
# numbers per target: executions, executions per second, edge coverage
# ("cov"), features ("ft"), corpus size and peak memory. A crash, a leak, a
# sanitizer report, an input slower than 10 s or a failed check of the
# harness makes the target exit non-zero: its log's tail is shown, the
# input that did it is kept in BUILD_DIR/artifacts/TARGET/, and this
# script exits 1 after running the others.
set -u
build=$1
secs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
rc=0
summary=
for t in "$@"; do
    bin=$build/$t
    work=$build/corpus/$t
    art=$build/artifacts/$t
    log=$build/$t.log
    [ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$work"
    mkdir -p "$work" "$art"
    set -- -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$art/"
    [ -f "$here/$t.dict" ] && set -- "$@" -dict="$here/$t.dict"
    # The server targets keep state from input to input (tasks, events), so
    # libFuzzer's leak check after every input that did not free all it
    # allocated would scan the whole heap each time (most of their time).
    # Leaks are found at exit instead: the harness closes the server and the
    # manager there, LeakSanitizer reports whatever is left unreachable, and
    # the run fails.
    case $t in
    fuzz_http) set -- "$@" -max_len=16384 -detect_leaks=0 ;;
    fuzz_sse) set -- "$@" -max_len=2048 -detect_leaks=0 ;;
    esac
    echo "== $t ($secs s)"
    "$bin" "$@" "$work" "$here/corpus/$t" >"$log" 2>&1
    status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
    line="$t: exit $status, ${execs:-?} executions (${speed:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, peak ${rss:-?} MB"
    echo "$line"
    summary="$summary$line
"
    if [ "$status" -ne 0 ]; then
        rc=1
        echo "---- $t failed; the end of $log:"
        tail -n 80 "$log"
        echo "---- inputs kept in $art:"
        ls -l "$art"
    fi
done
echo "== summary"
printf '%s' "$summary"
exit $rc
