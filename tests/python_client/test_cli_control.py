"""`tl cancel` / `tl pause` / `tl resume` from the CLI reach Python code that
reports on a task in another process."""

import pytest

from .tl_pyclient_util import wait_for, wait_state

REPORTER = r"""
import sys, time, tasklight
mode = sys.argv[1]
try:
    if mode == "tracker":
        with tasklight.ProgressTracker(task_type="benchmark_run", title="long work") as tr:
            print(tr.task_id, flush=True)
            for i in range(100000):
                tr.update(progress=min(99.0, i / 10), message=f"step {i}")
                time.sleep(0.02)
    elif mode == "track":
        def slow():
            for i in range(100000):
                time.sleep(0.01)
                yield i
        it = tasklight.track(slow(), total=100000, title="tracked loop", kind="loop")
        for i, x in enumerate(it):
            if i == 0:
                print(it.task_id, flush=True)
    elif mode == "seed001":
        tid = tasklight.add_task("Backtest - Golden Cross", "backtest", "Testing")
        print(tid, flush=True)
        for i in range(100000):
            tasklight.update_task(tid, progress=i % 100)
            time.sleep(0.02)
except tasklight.Cancelled as e:
    print("CANCELLED", e.task_id, flush=True)
    sys.exit(3)
print("FINISHED", flush=True)
"""


@pytest.mark.parametrize("mode", ["tracker", "track", "seed001"])
@pytest.mark.time_limit(30)
def test_tl_cancel_stops_python_code(daemon, unix_client, mode):
    p = daemon.python(REPORTER, mode, popen=True)
    try:
        tid = int(p.stdout.readline())
        wait_for(lambda: unix_client.get_task(tid)["updated_at"] != unix_client.get_task(tid)["created_at"],
                 5, msg="progress reports")
        cp = daemon.tl("cancel", tid)
        assert str(tid) in cp.stdout
        out, err = p.communicate(timeout=10)
        assert p.returncode == 3, (out, err)
        assert out.strip() == f"CANCELLED {tid}"
        t = unix_client.get_task(tid)
        assert t["state"] == "cancelled" and t["cancel_requested"] is True
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.time_limit(30)
def test_tl_pause_and_resume_a_python_loop(daemon, unix_client):
    p = daemon.python(REPORTER, "track", popen=True)
    try:
        tid = int(p.stdout.readline())
        daemon.tl("pause", tid)
        wait_state(unix_client, tid, "paused", timeout=5)
        cur = unix_client.get_task(tid)["current"]
        import time
        time.sleep(0.5)
        t = unix_client.get_task(tid)
        assert t["state"] == "paused" and t["current"] == cur, "the loop kept going while paused"
        daemon.tl("resume", tid)
        wait_state(unix_client, tid, "running", timeout=5)
        wait_for(lambda: unix_client.get_task(tid)["current"] > cur, 5, msg="the loop to go on")
        daemon.tl("cancel", tid)
        out, err = p.communicate(timeout=10)
        assert p.returncode == 3, (out, err)
        assert unix_client.get_task(tid)["state"] == "cancelled"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_tl_sees_python_reports(daemon, unix_client):
    import tasklight
    with tasklight.ProgressTracker(task_type="report", title="seen by tl", total=8, unit="files") as tr:
        tr.update(current=3, message="3 of 8")
        shown = daemon.tl("show", tr.task_id).stdout
        assert "seen by tl" in shown
        listed = daemon.tl("ls", "--json").stdout
        assert str(tr.task_id) in listed
