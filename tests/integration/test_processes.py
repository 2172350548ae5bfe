"""Pause, resume, cancel and timeouts act on the task's whole process group."""

import os
import time

import pytest

from conftest import pids_in_group, proc_stat, wait_for

KILL_GRACE_S = 5  # tl_manager_options_t.kill_grace_s default
MARGIN_S = 3


def stdout_count(daemon, tid):
    return sum(1 for line in daemon.logs(tid) if line["stream"] == "stdout")


def group_states(pgid):
    out = {}
    for pid in pids_in_group(pgid):
        st = proc_stat(pid)
        if st:
            out[pid] = st[0]
    return out


@pytest.mark.parametrize("script", [
    "while true; do echo tick; sleep 0.1; done",
    "sleep 1000 & while :; do echo t; sleep 0.1; done",
])
def test_pause_stops_every_process_and_resume_continues(daemon, script):
    tid = daemon.add_cli("--", "sh", "-c", script)
    daemon.wait_state(tid, "running")
    wait_for(lambda: stdout_count(daemon, tid) >= 3, 5, msg="some output")
    pgid = daemon.task_pgid(tid)
    if "sleep 1000" in script:
        wait_for(lambda: len(daemon.task_pids(tid)) >= 2, 5, msg="the background child")

    cp = daemon.tl("pause", tid)
    assert cp.returncode == 0
    assert daemon.task(tid)["state"] == "paused"

    def all_stopped():
        st = group_states(pgid)
        return st if st and all(s in ("T", "t") for s in st.values()) else None

    try:
        stopped = wait_for(all_stopped, 2, msg="every process of the group stopped")
    except AssertionError:
        raise AssertionError(f"after pause, process states in group {pgid}: {group_states(pgid)}") from None
    if "sleep 1000" in script:
        assert len(stopped) >= 2, stopped
    # every process of the task is in that group
    assert set(daemon.task_pids(tid)) <= set(stopped), (daemon.task_pids(tid), stopped)

    time.sleep(0.3)  # lines written just before the stop may still be in the pipe
    before = stdout_count(daemon, tid)
    time.sleep(1.0)
    assert stdout_count(daemon, tid) == before, "output kept coming while paused"
    assert all(s in ("T", "t") for s in group_states(pgid).values()), group_states(pgid)
    assert daemon.task(tid)["state"] == "paused"

    daemon.tl("resume", tid)
    t = daemon.task(tid)
    assert t["state"] == "running", t
    wait_for(lambda: stdout_count(daemon, tid) >= before + 3, 3, msg="output after resume")
    assert not any(s in ("T", "t") for s in group_states(pgid).values()), group_states(pgid)

    daemon.tl("cancel", tid)
    daemon.wait_state(tid, "cancelled")


def _assert_task_processes_gone(daemon, tid, pgid, pids, within):
    def gone():
        live = daemon.task_pids(tid)
        group = pids_in_group(pgid)  # zombies too: the daemon must reap them
        old = [p for p in pids if os.path.exists(f"/proc/{p}")]
        return (not live and not group and not old) or None

    try:
        wait_for(gone, within, msg="every process of the task gone")
    except AssertionError:
        raise AssertionError(
            f"task {tid} processes remain {within} s after cancel: with its id "
            f"{daemon.task_pids(tid)}, group {pgid}: {group_states(pgid)}") from None


def test_cancel_kills_children_and_grandchildren(daemon):
    tid = daemon.add_cli("--", "sh", "-c", "sleep 1000 & sleep 1000 & wait")
    daemon.wait_state(tid, "running")
    pids = wait_for(lambda: (lambda p: p if len(p) >= 3 else None)(daemon.task_pids(tid)), 5,
                    msg="sh and its two sleeps")
    pgid = daemon.task_pgid(tid)

    cp = daemon.tl("cancel", tid)
    assert cp.returncode == 0
    t = daemon.task(tid)
    assert t["state"] == "cancelled", t
    assert t["finished_at"], t
    _assert_task_processes_gone(daemon, tid, pgid, pids, KILL_GRACE_S + MARGIN_S)


def test_cancel_reaches_orphaned_descendants(daemon):
    # The subshell exits at once, orphaning its sleep, which the daemon (a
    # child subreaper) inherits; it is still in the task's process group.
    tid = daemon.add_cli("--", "sh", "-c", "(sleep 1000 &); sleep 1000")
    daemon.wait_state(tid, "running")
    pids = wait_for(lambda: (lambda p: p if len(p) >= 2 else None)(daemon.task_pids(tid)), 5,
                    msg="both sleeps")
    pgid = daemon.task_pgid(tid)
    daemon.tl("cancel", tid)
    assert daemon.task(tid)["state"] == "cancelled"
    _assert_task_processes_gone(daemon, tid, pgid, pids, KILL_GRACE_S + MARGIN_S)


def test_cancel_sigkills_what_ignores_sigterm(daemon):
    tid = daemon.add_cli("--", "sh", "-c", "trap '' TERM; sleep 1000 & while :; do sleep 0.1; done")
    daemon.wait_state(tid, "running")
    pids = wait_for(lambda: (lambda p: p if len(p) >= 2 else None)(daemon.task_pids(tid)), 5,
                    msg="the shell and its sleep")
    pgid = daemon.task_pgid(tid)
    t0 = time.monotonic()
    daemon.tl("cancel", tid)
    assert daemon.task(tid)["state"] == "cancelled"

    time.sleep(1.0)
    assert daemon.task_pids(tid), "SIGKILL came before the grace period (SIGTERM is ignored here)"
    _assert_task_processes_gone(daemon, tid, pgid, pids, KILL_GRACE_S + MARGIN_S - 1)
    assert time.monotonic() - t0 >= KILL_GRACE_S - 1.0


def test_cancel_a_paused_task(daemon):
    tid = daemon.add_cli("--", "sh", "-c", "sleep 1000 & wait")
    daemon.wait_state(tid, "running")
    pids = wait_for(lambda: (lambda p: p if len(p) >= 2 else None)(daemon.task_pids(tid)), 5)
    pgid = daemon.task_pgid(tid)
    daemon.tl("pause", tid)
    daemon.tl("cancel", tid)
    assert daemon.task(tid)["state"] == "cancelled"
    _assert_task_processes_gone(daemon, tid, pgid, pids, KILL_GRACE_S + MARGIN_S)


def test_cancel_a_queued_task(daemon):
    daemon.tl("parallel", "1")
    blocker = daemon.add_cli("--", "sleep", "60")
    daemon.wait_state(blocker, "running")
    q = daemon.add_cli("--", "sh", "-c", "echo should-not-run")
    daemon.tl("cancel", q)
    assert daemon.task(q)["state"] == "cancelled"
    daemon.tl("cancel", blocker)
    daemon.wait_state(blocker, "cancelled")
    time.sleep(0.5)
    t = daemon.task(q)
    assert t["state"] == "cancelled" and t["started_at"] is None, t
    assert not any("should-not-run" in line["text"] for line in daemon.logs(q))


def test_timeout_fails_the_task(daemon):
    t0 = time.monotonic()
    tid = daemon.add_cli("--timeout", "1", "--", "sleep", "30")
    daemon.wait_state(tid, "running")
    pgid = daemon.task_pgid(tid)
    t = daemon.wait_final(tid, timeout=5)
    took = time.monotonic() - t0
    assert t["state"] == "failed", t
    assert t["error"] and ("timeout" in t["error"].lower() or "timed out" in t["error"].lower()), t
    assert 0.9 <= took <= 3.0, f"a 1 s timeout ended the task after {took:.2f} s"
    _assert_task_processes_gone(daemon, tid, pgid, [], KILL_GRACE_S + MARGIN_S)


def test_time_paused_does_not_count_toward_the_timeout(daemon):
    tid = daemon.add_cli("--timeout", "2", "--", "sleep", "30")
    daemon.wait_state(tid, "running")
    t0 = time.monotonic()
    daemon.tl("pause", tid)
    time.sleep(2.0)
    daemon.tl("resume", tid)
    time.sleep(max(0.0, 2.5 - (time.monotonic() - t0)))
    t = daemon.task(tid)
    assert t["state"] == "running", f"2.5 s after start with 2 s paused: {t['state']} ({t['error']})"

    t = daemon.wait_final(tid, timeout=5)
    took = time.monotonic() - t0
    assert t["state"] == "failed" and "time" in (t["error"] or "").lower(), t
    assert took >= 3.5, f"timed out after {took:.2f} s though 2 s were spent paused"
