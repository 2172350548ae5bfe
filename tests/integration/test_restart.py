"""A killed or stopped daemon loses no acknowledged task."""

import signal
import time

from conftest import parse_ts, pids_in_group, proc_stat, wait_for

INTERRUPTED = "interrupted: daemon stopped"


def test_sigkill_keeps_every_acknowledged_task(daemon):
    daemon.tl("parallel", "1")
    done = daemon.add_cli("--", "sh", "-c", "echo finished-before")
    daemon.wait_final(done)
    running = daemon.add_cli("--", "sleep", "1000")
    daemon.wait_state(running, "running")
    queued = [
        daemon.add_cli("--title", "q-normal-1", "--", "sleep", "0.05"),
        daemon.add_cli("--title", "q-high", "--priority", "high", "--", "sleep", "0.05"),
        daemon.add_cli("--title", "q-normal-2", "--", "sleep", "0.05"),
        daemon.add_cli("--title", "q-low", "--priority", "low", "--", "sleep", "0.05"),
        daemon.add_cli("--title", "q-normal-3", "--", "sleep", "0.05"),
    ]
    before = {t: daemon.task(t) for t in [done, running] + queued}
    assert all(before[t]["state"] == "queued" for t in queued), before

    daemon.restart(kill=signal.SIGKILL)

    t = daemon.wait_final(running, timeout=5)
    assert t["state"] == "failed", t
    assert t["error"] == INTERRUPTED, t

    for tid in queued:
        assert daemon.wait_final(tid, timeout=15)["state"] == "completed"
    after = {t: daemon.task(t) for t in [done, running] + queued}
    for tid, old in before.items():
        new = after[tid]
        for field in ("id", "title", "priority", "group", "command", "created_at", "max_retries"):
            assert new[field] == old[field], f"task {tid} {field}: {old[field]!r} -> {new[field]!r}"
    assert after[done]["state"] == "completed" and after[done]["finished_at"] == before[done]["finished_at"]
    assert "finished-before" in [ln["text"] for ln in daemon.logs(done)]

    order = sorted(queued, key=lambda t: parse_ts(after[t]["started_at"]))
    assert [after[t]["title"] for t in order] == \
        ["q-high", "q-normal-1", "q-normal-2", "q-normal-3", "q-low"]

    listing = daemon.tasks("?limit=1000")
    assert sorted(t["id"] for t in listing["tasks"]) == sorted(before)
    assert listing["counts"]["completed"] == 6 and listing["counts"]["failed"] == 1, listing["counts"]


def test_running_task_with_retries_runs_again_after_restart(daemon):
    tid = daemon.add_cli("--retries", "1", "--", "sh", "-c", "echo attempt-start; sleep 1000")
    daemon.wait_state(tid, "running")
    wait_for(lambda: any(ln["text"] == "attempt-start" for ln in daemon.logs(tid)), 5)
    assert daemon.task(tid)["attempt"] == 1

    daemon.restart(kill=signal.SIGKILL)

    t = wait_for(lambda: (lambda x: x if x["state"] == "running" and x["attempt"] == 2 else None)(
        daemon.task(tid)), 10, msg="the second attempt running")
    assert t["max_retries"] == 1
    wait_for(lambda: sum(ln["text"] == "attempt-start" for ln in daemon.logs(tid)) == 2, 5,
             msg="the second attempt's output")
    daemon.tl("cancel", tid)
    daemon.wait_state(tid, "cancelled")


def test_sigterm_stops_tasks_and_they_are_interrupted(daemon):
    tid = daemon.add_cli("--", "sh", "-c", "sleep 1000 & wait")
    daemon.wait_state(tid, "running")
    wait_for(lambda: len(daemon.task_pids(tid)) >= 2, 5)
    pgid = daemon.task_pgid(tid)

    t0 = time.monotonic()
    daemon.stop(signal.SIGTERM, timeout=15)
    assert daemon.proc.returncode == 0, f"tl serve exited {daemon.proc.returncode} on SIGTERM"
    assert time.monotonic() - t0 < 10
    # the daemon kills the process groups of running tasks on the way out
    # (zombies are not counted: with the daemon gone, init reaps them)
    wait_for(lambda: not daemon.task_pids(tid), 3,
             msg=f"the processes of task {tid} (group {pgid}) gone after the daemon stopped")

    daemon.start()
    t = daemon.task(tid)
    assert t["state"] == "failed" and t["error"] == INTERRUPTED, t


def test_ids_are_never_reused_across_restarts(daemon):
    a = daemon.add("true")["id"]
    daemon.wait_final(a)
    b = daemon.add("true")["id"]
    daemon.wait_final(b)
    daemon.unix("DELETE", f"/api/tasks/{b}")
    daemon.restart()
    c = daemon.add("true")["id"]
    assert c > b > a, (a, b, c)


def test_restart_after_sigkill_kills_the_orphaned_group(daemon):
    """The daemon records each command's start time (clock ticks after
    boot); a successor started after a SIGKILL finds the group its
    predecessor left, still led by that process, and kills it."""
    tid = daemon.add_cli("--", "sh", "-c", "sleep 1000 & wait")
    daemon.wait_state(tid, "running")
    wait_for(lambda: len(daemon.task_pids(tid)) >= 2, 5)
    pgid = daemon.task_pgid(tid)
    stored = daemon.task(tid)
    assert stored["pid"] == pgid

    daemon.restart(kill=signal.SIGKILL)
    wait_for(lambda: not [p for p in pids_in_group(pgid) if (proc_stat(p) or ("Z",))[0] != "Z"], 5,
             msg=f"the orphaned group {pgid} killed by the new daemon")
    t = daemon.wait_final(tid)
    assert t["state"] == "failed" and t["error"] == INTERRUPTED, t


def test_every_kind_of_write_survives_sigkill(daemon):
    """Writes that move a task's state, group or finish time rewrite the
    store's indexes on them; the others (a tracked task's progress and
    message, a title) leave them. Both kinds, and what the task was created
    as, are in the store after a SIGKILL: the listing by group and by state
    finds each task where it is."""
    blockers = []
    for g in ("parked", "elsewhere"):
        daemon.tl("parallel", "1", "--group", g)
        blockers.append(daemon.add("sleep", "1000", group=g)["id"])
        daemon.wait_state(blockers[-1], "running")
    moved = daemon.add("sleep", "1000", group="parked")["id"]
    r = daemon.unix("PATCH", f"/api/tasks/{moved}", {"group": "elsewhere", "title": "moved"})
    assert r.status == 200, r.body

    tracked = daemon.unix("POST", "/api/tasks", {"title": "tracked", "kind": "k1", "key": "key-1"}).json()
    tid = tracked["id"]
    for body in ({"progress": 10, "message": "first"}, {"progress": 55.5, "message": "second"}):
        assert daemon.unix("PATCH", f"/api/tasks/{tid}", body).status == 200
    done = daemon.unix("POST", "/api/tasks", {"title": "finished", "kind": "k1"}).json()["id"]
    assert daemon.unix("PATCH", f"/api/tasks/{done}", {"state": "completed"}).status == 200
    before = {t: daemon.task(t) for t in (moved, tid, done)}
    time.sleep(0.6)  # progress ticks are saved every 250 ms (docs/PERFORMANCE.md)

    daemon.restart(kill=signal.SIGKILL)

    m = daemon.task(moved)
    assert (m["group"], m["title"]) == ("elsewhere", "moved"), m
    t = daemon.task(tid)
    assert (t["progress"], t["message"], t["kind"], t["key"]) == (55.5, "second", "k1", "key-1"), t
    assert t["state"] == "running", t
    d = daemon.task(done)
    assert d["state"] == "completed" and d["finished_at"] == before[done]["finished_at"], d
    assert [x["id"] for x in daemon.tasks("?group=elsewhere")["tasks"]] == [moved, blockers[1]]
    assert [x["id"] for x in daemon.tasks("?group=parked")["tasks"]] == [blockers[0]]
    assert [x["id"] for x in daemon.tasks("?state=completed")["tasks"]] == [done]
    assert [x["id"] for x in daemon.tasks("?kind=k1&state=running")["tasks"]] == [tid]
    counts = daemon.tasks("?limit=1")["counts"]
    assert counts["completed"] == 1 and counts["failed"] == 2, counts  # the blockers, interrupted
    assert counts["running"] + counts["queued"] == 2, counts  # the tracked and the moved task
