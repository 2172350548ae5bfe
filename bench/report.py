#!/usr/bin/python3
"""Turns the rows the benchmark cases recorded into tables.

    report.py RESULTS.tsv [--meta META.json] > report.md

Each case is a section, each scenario a table: one row per system and
metric with the median of the runs, their spread (min-max), the number of
runs, the ratio tasklight/peer of the medians (for rates above 1 means
tasklight is faster; for times below 1 means it is faster, and the words
say which) and the system's durability. Rows of systems named
"tasklight ..." (tasklight measured another way, e.g. a function task) get
no ratio; rows of one scenario recorded by two cases (the graphile case
adds to the latency table) form one table. The output is Markdown whose
columns are padded, so it reads as plain text too.
"""
import argparse
import csv
import json
import statistics
import sys

FIELDS = ["case", "scenario", "system", "metric", "unit", "better", "value",
          "run", "durability", "note"]

LEGEND = [
    ("SQLite WAL, synchronous=NORMAL",
     "tasklight: a 2xx reply means the change is committed to the WAL; it "
     "survives a crash of the daemon, not a power loss or kernel crash "
     "(the last commits may be lost, the file never corrupts)"),
    ("WAL/NORMAL; ticks saved every 250 ms",
     "tasklight, progress reports: creates and state changes are committed "
     "before the reply (as above); a progress tick is answered at once and "
     "stored by a save every 250 ms, so a crash of the daemon may lose the "
     "last 250 ms of ticks, never a final state or final progress"),
    ("server memory",
     "task-spooler: the queue lives in the tsp server process; a crash "
     "of it loses the queue (outputs are files)"),
    ("a file per job, no fsync",
     "nq: each job is a file written before it runs, with no fsync; no "
     "server to crash"),
    ("Redis without RDB/AOF",
     "BullMQ and Celery: Redis started with save '' and appendonly no; a "
     "Redis crash loses every job (production setups often add AOF, which "
     "costs more)"),
    ("JSON file rewritten, no fsync",
     "seed design: tasks.json rewritten (temp file + rename) on every update "
     "without fsync: process-crash safe, not power-loss safe"),
    ("PostgreSQL, fsync=off",
     "graphile-worker: a private PostgreSQL cluster with fsync=off; a commit "
     "writes its WAL to the OS before it returns, without a flush, like "
     "tasklight's WAL/NORMAL: it survives a crash of PostgreSQL, not a power "
     "loss (with completeJobBatchDelay, completions are committed in "
     "batches after the job's function returned)"),
]


def fmt(v, unit):
    if unit == "%":
        return f"{v:.2f}"
    if unit in ("ms",):
        return f"{v:.3f}" if v < 1 else (f"{v:.2f}" if v < 100 else f"{v:,.0f}")
    if unit == "MiB":
        return f"{v:.1f}"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}"


def ratio_words(r, better):
    if r is None:
        return ""
    if abs(r - 1) < 0.03:
        return f"{r:.2f} (same)"
    faster = (r > 1) if better == "higher" else (r < 1)
    factor = r if r >= 1 else 1 / r
    return f"{r:.2f} ({'better' if faster else 'worse'}, {factor:.1f}x)"


def table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for k, r in enumerate(rows):
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        if k == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def load(path):
    rows = []
    with open(path, newline="") as f:
        for rec in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if not rec:
                continue
            rec += [""] * (len(FIELDS) - len(rec))
            d = dict(zip(FIELDS, rec))
            d["value"] = float(d["value"])
            rows.append(d)
    return rows


def ordered(seq):
    seen = []
    for x in seq:
        if x not in seen:
            seen.append(x)
    return seen


def render(rows, meta):
    out = []
    if meta:
        out.append(meta_block(meta))
    for case in ordered(r["case"] for r in rows):
        out.append(f"### {case}\n")
        crow = [r for r in rows if r["case"] == case]
        for scen in ordered(r["scenario"] for r in crow):
            srow = [r for r in crow if r["scenario"] == scen]
            out.append(f"**{scen}**\n")
            stats = {}
            for r in srow:
                key = (r["system"], r["metric"])
                stats.setdefault(key, {"vals": [], "r": r})["vals"].append(r["value"])
            header = ["system", "metric", "median", "min-max", "runs",
                      "tasklight/peer", "durability"]
            body = [header]
            notes = []
            for (system, metric), st in stats.items():
                vals, r = st["vals"], st["r"]
                med = statistics.median(vals)
                ratio = ""
                # Only peers get a ratio; "tasklight function task" and the
                # like are tasklight measured another way.
                if not system.startswith("tasklight"):
                    tl = stats.get(("tasklight", metric))
                    if tl and med:
                        ratio = ratio_words(statistics.median(tl["vals"]) / med,
                                            r["better"])
                unit = r["unit"]
                mname = metric if metric == unit or unit in metric else f"{metric} ({unit})"
                body.append([system, mname, fmt(med, unit),
                             f"{fmt(min(vals), unit)}-{fmt(max(vals), unit)}",
                             str(len(vals)), ratio or "-", r["durability"] or "-"])
                if r["note"] and (system, r["note"]) not in notes:
                    notes.append((system, r["note"]))
            out.append(table(body))
            out.append("")
            for system, note in notes:
                out.append(f"- {system}: {note}")
            out.append("")
    out.append("Durability:\n")
    for k, v in LEGEND:
        out.append(f"- *{k}*: {v}")
    out.append("")
    return "\n".join(out)


def meta_block(m):
    lines = ["### machine and run\n"]
    for k in ("date", "mode", "runs", "cpu", "nproc", "memory", "kernel", "os",
              "load_before", "load_after", "duration_s", "versions"):
        if k in m:
            v = m[k]
            if isinstance(v, dict):
                v = ", ".join(f"{a} {b}" for a, b in v.items())
            lines.append(f"- {k.replace('_', ' ')}: {v}")
    lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--meta")
    a = ap.parse_args()
    meta = json.load(open(a.meta)) if a.meta else None
    sys.stdout.write(render(load(a.results), meta))


if __name__ == "__main__":
    main()
