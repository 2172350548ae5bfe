#!/usr/bin/env bash
# plot.sh LAT_DIR OUT_DIR -- plots the add-to-start latency distributions
# (every sample of every run, as a cumulative distribution) that
# case_latency.sh dumped as LAT_DIR/SYSTEM.RUN.txt, to
# OUT_DIR/add_to_start_latency.png. Needs gnuplot.
set -euo pipefail
lat=$1 out=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

plots=()
for sys in tasklight posix_spawn bullmq; do
    compgen -G "$lat/$sys.*.txt" >/dev/null || continue
    # Sorted samples with their cumulative fraction.
    sort -g "$lat"/"$sys".*.txt | awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i], i / NR }' >"$tmp/$sys.cdf"
    case $sys in
    tasklight) title="tasklight: POST to the command's first instruction" ;;
    posix_spawn) title="posix\\\\_spawn of the same program (floor)" ;;
    bullmq) title="BullMQ: queue.add to the processor entered" ;;
    esac
    plots+=("'$tmp/$sys.cdf' using 1:2 with lines lw 2 title \"$title\"")
done
[[ ${#plots[@]} -gt 0 ]] || exit 0
joined=$(IFS=,; echo "${plots[*]}")
gnuplot <<GP
set terminal pngcairo size 900,520 font "sans,10"
set output "$out/add_to_start_latency.png"
set title "Add-to-start latency on an idle system (all runs)"
set xlabel "latency (ms, log scale)"
set ylabel "fraction of tasks started within"
set logscale x
set xrange [0.1:*]
set yrange [0:1]
set grid
set key right bottom
plot $joined
GP
