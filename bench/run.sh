#!/usr/bin/env bash
# run.sh -- the benchmark: tasklight and its peers measured in one run on
# this machine. `make bench` runs it in full, `make bench-quick` with
# --quick (fewer tasks; well under 5 minutes).
#
#   bench/run.sh [--quick] [--runs N] [--cases commands,tracked,...]
#
# Cases, in order: commands, tracked, progress, latency, listing, sse,
# graphile, celery.
# TL_BUILD_DIR (default build/) is where tl and libtasklight.a are taken
# from; it is built with `make BUILD=$TL_BUILD_DIR all` when tl is missing.
# It installs the peers it needs (bench/peers.sh), builds the helper
# programs, runs each case script in order, and prints one table per
# scenario: medians of the runs with their spread and the ratio
# tasklight/peer. Everything lands in bench/results/DATE[-quick]/
# (results.tsv, report.md, meta.json, logs/, lat/, and plots when gnuplot is
# there); bench/results/latest points at the newest. Every server a case
# starts listens on loopback and is stopped when the case ends.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
PY=/usr/bin/python3
ALL_CASES="commands tracked progress latency listing sse graphile celery"
TL_BUILD_DIR=$(realpath -m "${TL_BUILD_DIR:-$ROOT/build}")

quick=0 runs="" cases=$ALL_CASES
while [[ $# -gt 0 ]]; do
    case $1 in
    --quick) quick=1 ;;
    --runs) runs=$2; shift ;;
    --cases) cases=${2//,/ }; shift ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
# Medians of 5 runs in full, 3 in quick.
if [[ -z $runs ]]; then
    if [[ $quick == 1 ]]; then runs=3; else runs=5; fi
fi
[[ $runs -ge 1 ]] || { echo "run.sh: --runs must be at least 1" >&2; exit 2; }
for c in $cases; do
    [[ " $ALL_CASES " == *" $c "* ]] || { echo "run.sh: no case $c ($ALL_CASES)" >&2; exit 2; }
done

"$BENCH_DIR/peers.sh"
[[ -x $TL_BUILD_DIR/tl && -f $TL_BUILD_DIR/libtasklight.a ]] ||
    make -C "$ROOT" --no-print-directory BUILD="$TL_BUILD_DIR" all

stamp=$(date +%Y%m%d-%H%M%S)
[[ $quick == 1 ]] && stamp+=-quick
out=$ROOT/bench/results/$stamp
mkdir -p "$out/logs" "$out/lat"
ln -sfn "$stamp" "$ROOT/bench/results/latest"

# The machine and the versions measured, for the report's header.
versions() {
    printf '%s\t%s\n' tasklight "$("$TL" --version 2>/dev/null | head -1) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || echo ', with local changes'))"
    printf '%s\t%s\n' task-spooler "$(dpkg-query -W -f='${Version}' task-spooler)"
    printf '%s\t%s\n' nq "$(dpkg-query -W -f='${Version}' nq)"
    printf '%s\t%s\n' redis "$(dpkg-query -W -f='${Version}' redis-server)"
    printf '%s\t%s\n' bullmq "$(node -p 'require(process.argv[1]).version' \
        "$BENCH_DIR/.peers/node_modules/bullmq/package.json")"
    printf '%s\t%s\n' ioredis "$(node -p 'require(process.argv[1]).version' \
        "$BENCH_DIR/.peers/node_modules/ioredis/package.json")"
    printf '%s\t%s\n' node "$(node --version)"
    printf '%s\t%s\n' flask "$(dpkg-query -W -f='${Version}' python3-flask)"
    printf '%s\t%s\n' postgresql "$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null || echo none)"
    printf '%s\t%s\n' graphile-worker "$(node -p 'require(process.argv[1]).version' \
        "$BENCH_DIR/.peers/node_modules/graphile-worker/package.json" 2>/dev/null || echo none)"
    printf '%s\t%s\n' celery "$(dpkg-query -W -f='${Version}' python3-celery 2>/dev/null || echo none)"
    printf '%s\t%s\n' kombu "$(dpkg-query -W -f='${Version}' python3-kombu 2>/dev/null || echo none)"
    printf '%s\t%s\n' sqlite "$(dpkg-query -W -f='${Version}' libsqlite3-0)"
}
# The binaries measured are copied into the results: a rebuild of build/
# during the run changes nothing, and the run can be repeated on them.
# (tl links libtasklight statically.)
mkdir -p "$out/bin"
cp "$TL_BUILD_DIR/tl" "$out/bin/tl"
# The function-task program links the same library statically.
# shellcheck disable=SC2046
${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/include" \
    -o "$out/bin/fn_lifecycle" "$BENCH_DIR/fn_lifecycle.c" "$TL_BUILD_DIR/libtasklight.a" \
    $(pkg-config --libs libevent jansson sqlite3 libpcre2-8) -lm -lpthread
export TL_BUILD_DIR
export TL=$out/bin/tl BENCH_BIN=$out/bin
versions >"$out/versions.tsv"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)

failed=""
for c in $cases; do
    echo "== case $c ($( [[ $quick == 1 ]] && echo quick || echo full ), $runs runs)" >&2
    if ! QUICK=$quick RUNS=$runs BENCH_RESULTS=$out/results.tsv LAT_DIR=$out/lat \
        "$BENCH_DIR/case_$c.sh" 2>&1 | tee "$out/logs/$c.log" >&2; then
        echo "== case $c FAILED (log: $out/logs/$c.log)" >&2
        failed+=" $c"
    fi
done

$PY - "$out" "$quick" "$runs" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$(($(date +%s) - t0))" <<'EOF'
import json, os, platform, sys
out, quick, runs, lb, la, dur = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
            if l.startswith("model name")), "unknown")
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
osname = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
               if l.startswith("PRETTY_NAME=")), "")
vers = dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(out, "versions.tsv")))
meta = {"date": out.rsplit("/", 1)[1], "mode": "quick" if quick == "1" else "full",
        "runs": int(runs), "cpu": cpu, "nproc": os.cpu_count(),
        "memory": f"{mem / 1024 / 1024:.1f} GiB", "kernel": platform.release(),
        "os": osname, "load_before": lb, "load_after": la, "duration_s": int(dur),
        "versions": vers}
json.dump(meta, open(os.path.join(out, "meta.json"), "w"), indent=1)
EOF

if [[ -s $out/results.tsv ]]; then
    $PY "$BENCH_DIR/report.py" "$out/results.tsv" --meta "$out/meta.json" >"$out/report.md"
    if command -v gnuplot >/dev/null && compgen -G "$out/lat/*.txt" >/dev/null; then
        "$BENCH_DIR/plot.sh" "$out/lat" "$out" "$out/results.tsv" || echo "plotting failed (tables are fine)" >&2
    fi
    echo
    cat "$out/report.md"
    echo "results: $out"
fi
if [[ -n $failed ]]; then
    echo "failed cases:$failed" >&2
    exit 1
fi
