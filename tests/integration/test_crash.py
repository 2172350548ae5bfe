"""Crash consistency: a daemon killed with SIGKILL at random moments under a
mixed load loses nothing it acknowledged and never leaves a task in a
contradictory state.

Client threads create command and tracked tasks, report progress, complete
tracked tasks with a result, append log lines, add substeps and cancel
queued tasks, over the unix socket, while the main thread kills the daemon
(SIGKILL) and restarts it on the same data directory again and again. A
client retries a request whose connection failed and records an operation
only when it received a 2xx: that is the daemon's promise ("durable before
acknowledged", DESIGN.md section 6). At the end every recorded operation is
checked against the store, the listing is checked for contradictions, and
the last restart is checked to have recovered the command tasks that were
running when the daemon died.
"""

import collections
import http.client
import os
import random
import signal
import socket
import sqlite3
import threading
import time
import uuid

import pytest

from conftest import FINAL_STATES, wait_for

INTERRUPTED = "interrupted: daemon stopped"
KILLS = 20
WORKERS = 4
SEED = int(os.environ.get("TL_CRASH_SEED", "0")) or random.randrange(1 << 30)

CONNECTION_ERRORS = (ConnectionError, FileNotFoundError, socket.timeout, TimeoutError,
                     http.client.HTTPException, OSError)


class Acks:
    """What the daemon acknowledged, by kind."""

    def __init__(self):
        self.lock = threading.Lock()
        self.created = {}      # id -> key or None
        self.completed = {}    # id -> result
        self.cancelled = set()  # ids
        self.log_lines = collections.defaultdict(list)  # id -> [text]
        self.substeps = collections.defaultdict(list)   # id -> [substep id]
        self.ops = collections.Counter()
        self.unanswered = 0


def call(d, stop, method, path, body=None, give_up=30.0):
    """The answer (status, json or None), retrying while the daemon is down;
    None when no answer came (stop set, or give_up seconds passed)."""
    deadline = time.monotonic() + give_up
    while time.monotonic() < deadline:
        try:
            r = d.unix(method, path, body, timeout=5)
        except CONNECTION_ERRORS:
            if stop.is_set() and d.proc.poll() is not None:
                return None
            time.sleep(0.02)
            continue
        try:
            data = r.json()
        except ValueError:
            data = None
        return r.status, data
    return None


def worker(d, acks, stop, rnd, n):
    tracked = []   # my tracked tasks still running, as far as I know
    commands = []  # my command tasks, newest last
    while not stop.is_set():
        op = rnd.choices(
            ["command", "tracked", "progress", "complete", "log", "substep", "cancel"],
            weights=[18, 12, 20, 10, 20, 8, 12])[0]
        if op in ("progress", "complete", "log", "substep") and not tracked:
            op = "tracked"
        if op == "cancel" and not commands:
            op = "command"
        tag = uuid.uuid4().hex[:12]

        if op == "command":
            argv = ["true"] if rnd.random() < 0.7 else ["sleep", "0.1"]
            body = {"command": {"argv": argv}, "group": "crash", "title": f"cmd {tag}"}
            key = f"cmd-{tag}" if rnd.random() < 0.5 else None
            if key:
                body["key"] = key
            res = call(d, stop, "POST", "/api/tasks", body)
            if res and res[0] in (200, 201):
                with acks.lock:
                    acks.created[res[1]["id"]] = key
                commands.append(res[1]["id"])
                del commands[:-20]
        elif op == "tracked":
            key = f"trk-{tag}"
            res = call(d, stop, "POST", "/api/tasks", {"title": f"tracked {tag}", "key": key, "total": 100,
                                                        "heartbeat_timeout_s": 0})
            if res and res[0] in (200, 201):
                with acks.lock:
                    acks.created[res[1]["id"]] = key
                tracked.append(res[1]["id"])
        elif op == "progress":
            tid = rnd.choice(tracked)
            res = call(d, stop, "PATCH", f"/api/tasks/{tid}",
                       {"current": rnd.randrange(101), "message": f"at {tag}"})
            if res and res[0] == 409:
                tracked.remove(tid)
        elif op == "complete":
            tid = tracked.pop(rnd.randrange(len(tracked)))
            result = {"tag": tag, "n": rnd.randrange(1000)}
            res = call(d, stop, "PATCH", f"/api/tasks/{tid}", {"state": "completed", "result": result})
            if res and res[0] == 200:
                with acks.lock:
                    acks.completed[tid] = result
        elif op == "log":
            tid = rnd.choice(tracked)
            text = f"line {tag}"
            res = call(d, stop, "POST", f"/api/tasks/{tid}/logs", {"line": text})
            if res and res[0] == 200:
                with acks.lock:
                    acks.log_lines[tid].append(text)
            elif res and res[0] == 409:
                tracked.remove(tid)
        elif op == "substep":
            tid = rnd.choice(tracked)
            sid = f"s-{tag}"
            res = call(d, stop, "POST", f"/api/tasks/{tid}/substeps", {"name": f"step {tag}", "id": sid})
            if res and res[0] == 201:
                with acks.lock:
                    acks.substeps[tid].append(sid)
            elif res and res[0] == 409:
                tracked.remove(tid)
        elif op == "cancel":
            tid = commands.pop(rnd.randrange(len(commands)))
            res = call(d, stop, "POST", f"/api/tasks/{tid}/cancel")
            if res and res[0] == 200 and res[1].get("state") == "cancelled":
                with acks.lock:
                    acks.cancelled.add(tid)
        with acks.lock:
            acks.ops[op] += 1
            if res is None:
                acks.unanswered += 1
        time.sleep(rnd.uniform(0, 0.01))


def scan(d):
    """Every task, through the cursor, and the listing's counts."""
    tasks, cursor, counts = [], None, None
    while True:
        q = "?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        page = d.tasks(q)
        if counts is None:
            counts = page["counts"]
        tasks += page["tasks"]
        cursor = page.get("next_cursor")
        if not cursor:
            return tasks, counts


def active_commands_in_store(d):
    """(id, state, attempt, max_retries) of the running or paused command
    tasks in the store of a stopped daemon, read-only."""
    db = sqlite3.connect(f"file:{os.path.join(d.data_dir, 'tasklight.db')}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT id, state, attempt, max_retries FROM tasks "
                          "WHERE source = 'command' AND state IN ('running', 'paused')").fetchall()
    finally:
        db.close()


@pytest.mark.time_limit(150)
def test_sigkill_under_mixed_load_loses_nothing_acknowledged(daemon):
    rnd = random.Random(SEED)
    why = f"(TL_CRASH_SEED={SEED})"
    daemon.set_parallel(4, "crash")
    daemon.set_parallel(0, "final")
    acks = Acks()
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(daemon, acks, stop, random.Random(SEED + i), i),
                                daemon=True) for i in range(WORKERS)]
    for th in threads:
        th.start()

    t0 = time.monotonic()
    runs = []
    try:
        for _ in range(KILLS):
            run = rnd.uniform(0.2, 1.0)
            time.sleep(run)
            daemon.stop(signal.SIGKILL)
            runs.append(round(run, 2))
            daemon.start()
    finally:
        stop.set()
        for th in threads:
            th.join(40)
    assert not any(th.is_alive() for th in threads), "a client thread hung"
    storm_s = time.monotonic() - t0

    # The last kill: with long command tasks running, one of them with a retry.
    final = [daemon.add("sleep", "60", group="final", title=f"final {i}")["id"] for i in range(3)]
    final.append(daemon.add("sleep", "60", group="final", title="final retry", max_retries=1)["id"])
    for tid in final:
        daemon.wait_state(tid, "running")
    daemon.stop(signal.SIGKILL)
    active = active_commands_in_store(daemon)
    assert {tid for tid in final} <= {row[0] for row in active}, (final, active)
    daemon.start()
    for tid, state, attempt, max_retries in active:
        t = daemon.task(tid)
        if attempt <= max_retries:
            assert t["state"] in ("queued", "running") or t["attempt"] > attempt, \
                f"task {tid} (attempt {attempt} of {max_retries} retries) was not re-queued: {t}"
        else:
            assert t["state"] == "failed" and t["error"] == INTERRUPTED, \
                f"task {tid}, {state} when the daemon died, recovered as {t['state']!r} " \
                f"with error {t['error']!r}"
            assert t["finished_at"], t
    t = daemon.wait_state(final[-1], "running", timeout=15)
    assert t["attempt"] == 2, t
    for tid in final:
        daemon.unix("POST", f"/api/tasks/{tid}/cancel")

    # The load's command tasks drain.
    def drained():
        c = daemon.tasks("?limit=1")["counts"]
        return c if c["queued"] == 0 and not [
            t for t in daemon.tasks("?state=running&limit=1000")["tasks"] if t["source"] == "command"] else None
    wait_for(drained, 60, 0.2, msg="queued and running command tasks to finish")

    tasks, counts = scan(daemon)
    by_id = {t["id"]: t for t in tasks}
    problems = []

    # Every acknowledged create exists, with its key.
    by_key = collections.defaultdict(list)
    for t in tasks:
        if t["key"] is not None:
            by_key[t["key"]].append(t["id"])
    for tid, key in acks.created.items():
        if tid not in by_id:
            problems.append(f"acknowledged task {tid} (key {key}) is gone")
        elif key is not None and by_key.get(key) != [tid]:
            problems.append(f"key {key}: acknowledged as task {tid}, the store has {by_key.get(key)}")
    # Every acknowledged completion holds, with its result.
    for tid, result in acks.completed.items():
        t = by_id.get(tid)
        if not t or t["state"] != "completed" or t["result"] != result:
            problems.append(f"task {tid} acknowledged completed with {result}, now "
                            f"{t and t['state']!r} with {t and t['result']!r}")
    # Every acknowledged cancel holds.
    for tid in acks.cancelled:
        t = by_id.get(tid)
        if not t or t["state"] != "cancelled":
            problems.append(f"task {tid} acknowledged cancelled, now {t and t['state']!r}")
    # Every acknowledged log line is in its log, every substep in its task.
    for tid, lines in acks.log_lines.items():
        have = {ln["text"] for ln in daemon.logs(tid, tail=0)}
        missing = [x for x in lines if x not in have]
        if missing:
            problems.append(f"task {tid} lost {len(missing)} of {len(lines)} acknowledged log lines: "
                            f"{missing[:3]}")
    for tid, sids in acks.substeps.items():
        have = {s["id"] for s in (by_id.get(tid) or {}).get("substeps", [])}
        missing = [s for s in sids if s not in have]
        if missing:
            problems.append(f"task {tid} lost acknowledged substeps {missing[:3]}")

    # No contradictions.
    for t in tasks:
        final_state = t["state"] in FINAL_STATES
        if final_state != bool(t["finished_at"]):
            problems.append(f"task {t['id']} is {t['state']} with finished_at {t['finished_at']!r}")
        if t["state"] in ("running", "paused") and not t["started_at"]:
            problems.append(f"task {t['id']} is {t['state']} without started_at")
        if t["state"] == "completed" and t["source"] == "command" and t["exit_code"] not in (0, None):
            problems.append(f"task {t['id']} completed with exit code {t['exit_code']}")
    scanned = collections.Counter(t["state"] for t in tasks)
    for state in ("queued", "running", "paused", "completed", "failed", "cancelled"):
        if counts.get(state, 0) != scanned.get(state, 0):
            problems.append(f"counts say {counts.get(state, 0)} {state}, a full scan finds "
                            f"{scanned.get(state, 0)}")

    summary = (f"{why} {KILLS} kills after {runs} s runs in {storm_s:.1f} s; ops {dict(acks.ops)}; "
               f"acknowledged: {len(acks.created)} creates, {len(acks.completed)} completions, "
               f"{len(acks.cancelled)} cancels, {sum(map(len, acks.log_lines.values()))} log lines, "
               f"{sum(map(len, acks.substeps.values()))} substeps; {len(tasks)} tasks in the store")
    print(summary)
    assert not problems, summary + "\n" + "\n".join(problems[:40])
    assert acks.completed and acks.cancelled and acks.log_lines and acks.substeps, \
        f"the load did not exercise every kind of operation: {summary}"
