#!/usr/bin/env bash
# plot.sh LAT_DIR OUT_DIR [RESULTS_TSV] -- the plots of a run, as PNG in
# OUT_DIR (needs gnuplot; without it, nothing is drawn):
#   add_to_start_latency.png  cumulative distributions of every sample of
#                             every run that case_latency.sh and
#                             case_graphile.sh dumped as LAT_DIR/SYS.RUN.txt
#   sse_delay.png             the same for the SSE fan-out delays
#   cost_by_store_size.png    listing p50/p99 and restart time against the
#                             number of finished tasks (from RESULTS_TSV)
set -euo pipefail
lat=$1 out=$2 tsv=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v gnuplot >/dev/null || exit 0

# Sorted samples of LAT_DIR/$1.*.txt with their cumulative fraction.
cdf() {
    sort -g "$lat"/"$1".*.txt | awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i], i / NR }'
}

cdf_plot() { # name title xmin systems... (as sys=legend)
    local name=$1 title=$2 xmin=$3 plots=() sys legend
    shift 3
    for pair in "$@"; do
        sys=${pair%%=*} legend=${pair#*=}
        compgen -G "$lat/$sys.*.txt" >/dev/null || continue
        cdf "$sys" >"$tmp/$sys.cdf"
        plots+=("'$tmp/$sys.cdf' using 1:2 with lines lw 2 title \"$legend\"")
    done
    [[ ${#plots[@]} -gt 0 ]] || return 0
    local joined
    joined=$(IFS=,; echo "${plots[*]}")
    gnuplot <<GP
set terminal pngcairo size 900,520 font "sans,10"
set output "$out/$name.png"
set title "$title"
set xlabel "latency (ms, log scale)"
set ylabel "fraction within"
set logscale x
set xrange [$xmin:*]
set yrange [0:1]
set grid
set key right bottom
plot $joined
GP
}

cdf_plot add_to_start_latency "Add-to-start latency on an idle system (all runs)" 0.01 \
    "tasklight=tasklight: POST to the command's first instruction" \
    "posix_spawn=posix\\\\_spawn of the same program (floor)" \
    "bullmq=BullMQ: queue.add to the processor entered" \
    "graphile=graphile-worker: addJob to the task function entered" \
    "tasklight_function=tasklight function task: tl\\\\_submit\\\\_function to the function entered"

cdf_plot sse_delay "SSE fan-out: PATCH written to event parsed by each subscriber (all runs)" 0.5 \
    "sse_250=250 subscribers" "sse_1000=1,000 subscribers"

# Cost against the size of the store: the medians of the listing and
# restart rows, by the number of finished tasks in their metric names.
if [[ -n $tsv && -f $tsv ]]; then
    /usr/bin/python3 - "$tsv" "$tmp" <<'EOF'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) < 7 or f[0] != "listing and restart" or "finished" not in f[3]:
        continue
    head = f[3].split(" finished")[0].replace(",", "")
    if not head.isdigit():
        continue  # the memory row names two sizes
    size = int(head)
    key = None
    if f[1].startswith("restart"):
        key = "restart"
    elif f[1] == "GET /api/tasks?limit=100, unix socket":
        key = "list_p50" if f[3].endswith("p50") else "list_p99"
    if key:
        rows[(key, size)].append(float(f[6]))
for key in ("restart", "list_p50", "list_p99"):
    with open(f"{sys.argv[2]}/{key}.dat", "w") as out:
        for (k, size), vals in sorted(rows.items(), key=lambda kv: kv[0][1]):
            if k == key:
                out.write(f"{size} {statistics.median(vals)}\n")
EOF
    if [[ -s $tmp/restart.dat ]]; then
        gnuplot <<GP
set terminal pngcairo size 900,520 font "sans,10"
set output "$out/cost_by_store_size.png"
set title "Cost against finished tasks in the store (medians of the runs)"
set xlabel "finished tasks in the store (log scale)"
set ylabel "ms"
set logscale x
set yrange [0:*]
set grid
set key left top
plot '$tmp/list_p50.dat' using 1:2 with linespoints lw 2 title "GET /api/tasks?limit=100, p50", \
     '$tmp/list_p99.dat' using 1:2 with linespoints lw 2 title "GET /api/tasks?limit=100, p99", \
     '$tmp/restart.dat' using 1:2 with linespoints lw 2 title "restart: start to serving"
GP
    fi
fi
