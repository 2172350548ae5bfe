"""ProgressTracker and task_manager (seed 000): reporting, ending, cancel and
pause requests, heartbeats."""

import threading
import time

import pytest

import tasklight
from tasklight import Cancelled, ProgressTracker, task_manager
from .tl_pyclient_util import wait_for, wait_state


def test_context_manager_reports_and_completes(client):
    with ProgressTracker(task_type="docker_pull", title="Pulling WAA Image",
                         description="Downloading winarena:latest from ACR",
                         metadata={"image_name": "winarena:latest"}) as tracker:
        assert tracker.task_id and tracker.state == "running"
        tracker.update(progress=25.0, metadata={"layers": "6/24"})
        tracker.log("Started layer download: sha256:abc123...")
        tracker.add_substep("layer-1", "Download base image")
        tracker.update_substep("layer-1", progress=100.0, status="completed")
        t = client.get_task(tracker.task_id)
        assert t["progress"] == 25.0 and t["state"] == "running"
    t = client.get_task(tracker.task_id)
    assert t["state"] == "completed" and t["progress"] == 100.0
    assert t["kind"] == "docker_pull" and t["title"] == "Pulling WAA Image"
    assert t["description"] == "Downloading winarena:latest from ACR"
    assert t["metadata"] == {"image_name": "winarena:latest", "layers": "6/24"}
    assert t["substeps"][0]["id"] == "layer-1" and t["substeps"][0]["state"] == "completed"
    assert [ln["text"] for ln in client.get_logs(t["id"])["lines"]] == [
        "Started layer download: sha256:abc123..."]
    assert tracker.finished and tracker._hb is None


def test_exception_marks_failed_and_propagates(client):
    with pytest.raises(ZeroDivisionError):
        with ProgressTracker(task_type="x", title="breaks") as tracker:
            tracker.update(progress=40)
            1 / 0
    t = client.get_task(tracker.task_id)
    assert t["state"] == "failed" and t["error"] == "division by zero"
    assert t["progress"] == 40


def test_explicit_complete_fail_and_status_phase(client):
    tr = task_manager.create_task("vm_provision", "Provisioning Azure VM: Standard_D4",
                                  metadata={"vm_size": "Standard_D4", "region": "eastus"})
    tr.update(progress=10.0, status="creating")
    t = client.get_task(tr.task_id)
    assert t["message"] == "creating" and t["metadata"]["status"] == "creating"
    tr.complete(metadata={"job_id": "job-1"}, result={"ok": True})
    t = client.get_task(tr.task_id)
    assert t["state"] == "completed" and t["metadata"]["job_id"] == "job-1"
    assert t["result"] == {"ok": True}
    tr.complete()  # a second end is a no-op
    tr2 = task_manager.create_task("benchmark_run", "WAA Evaluation")
    tr2.fail("Timeout waiting for Settings window")
    t2 = client.get_task(tr2.task_id)
    assert t2["state"] == "failed" and t2["error"] == "Timeout waiting for Settings window"


def test_counts_and_units(client):
    with ProgressTracker(task_type="data_transfer", title="rsync", total=10, unit="files") as tr:
        tr.update(current=4)
        t = client.get_task(tr.task_id)
        assert (t["current"], t["total"], t["unit"], t["progress"]) == (4, 10, "files", 40)
    t = client.get_task(tr.task_id)
    assert t["state"] == "completed" and t["current"] == 10 and t["progress"] == 100


def test_get_tasks_shape_and_filters(client):
    tr = task_manager.create_task("benchmark_run", "WAA Benchmark Evaluation",
                                  description="Running 154 tasks", metadata={"workers": 4})
    tr.update(progress=32.5, metadata={"completed_tasks": 50})
    tr.add_substep("task-001", "Open Notepad and type text")
    tr.update_substep("task-001", status="completed")
    tr.add_substep("task-002", "Navigate to Settings")
    tr.update_substep("task-002", status="failed", error_message="Timeout waiting for Settings window")
    tr.log("line one")
    done = task_manager.create_task("training", "Training: nightshift")
    done.complete()
    tasks = task_manager.get_tasks(include_completed=True, max_age_hours=24, log_lines=10)
    assert [t["task_id"] for t in tasks] == [done.task_id, tr.task_id]
    bt = tasks[1]
    for field in ("task_id", "task_type", "status", "title", "description", "progress_percent",
                  "elapsed_seconds", "estimated_total_seconds", "created_at", "started_at",
                  "completed_at", "metadata", "substeps", "error_message", "retry_count",
                  "max_retries", "log_lines", "log_file_path"):
        assert field in bt, field
    assert bt["task_type"] == "benchmark_run" and bt["status"] == "running"
    assert bt.status == "running" and bt.to_dict() == dict(bt)
    assert bt["progress_percent"] == 32.5 and bt["elapsed_seconds"] >= 0
    assert bt["metadata"] == {"workers": 4, "completed_tasks": 50}
    assert bt["substeps"][0] == {"step_id": "task-001", "name": "Open Notepad and type text",
                                 "status": "completed", "progress_percent": 100.0,
                                 "error_message": None,
                                 "started_at": bt["substeps"][0]["started_at"],
                                 "completed_at": bt["substeps"][0]["completed_at"]}
    assert bt["substeps"][1]["status"] == "failed"
    assert bt["substeps"][1]["error_message"] == "Timeout waiting for Settings window"
    assert bt["log_lines"] == ["line one"]
    assert tasks[0]["status"] == "completed" and tasks[0]["completed_at"]
    assert [t["task_id"] for t in task_manager.get_tasks(include_completed=False)] == [tr.task_id]
    assert [t["task_id"] for t in task_manager.get_tasks(max_age_hours=0)] == [tr.task_id]
    assert task_manager.get_task(tr.task_id)["title"] == "WAA Benchmark Evaluation"
    assert task_manager.get_task(99999) is None
    tr.complete()


def test_cancel_request_raises_cancelled_from_update(client):
    tr = task_manager.create_task("benchmark_run", "cancel me")
    assert task_manager.cancel_task(tr.task_id) is True
    assert client.get_task(tr.task_id)["cancel_requested"] is True
    with pytest.raises(Cancelled) as e:
        tr.update(progress=50)
    assert e.value.task_id == tr.task_id
    t = client.get_task(tr.task_id)
    assert t["state"] == "cancelled"
    assert tr.finished and tr.cancel_requested
    assert task_manager.cancel_task(tr.task_id) is False
    assert task_manager.cancel_task(424242) is False


def test_cancel_inside_with_marks_cancelled(client):
    with pytest.raises(Cancelled):
        with ProgressTracker(task_type="x", title="loop") as tr:
            for i in range(1000):
                if i == 3:
                    client.cancel_task(tr.task_id)
                tr.update(progress=i / 10)
    assert client.get_task(tr.task_id)["state"] == "cancelled"


def test_raise_on_cancel_false(client):
    tr = ProgressTracker(task_type="x", title="polite", raise_on_cancel=False).start()
    client.cancel_task(tr.task_id)
    tr.update(progress=1)  # no exception
    assert tr.cancel_requested
    assert client.get_task(tr.task_id)["state"] == "running"
    tr.cancel("stopped by the user")
    t = client.get_task(tr.task_id)
    assert t["state"] == "cancelled" and t["message"] == "stopped by the user"


def test_heartbeat_sees_cancel_while_idle(client):
    tr = ProgressTracker(task_type="x", title="idle", heartbeat_timeout_s=0.6).start()
    seen = []
    tr.on_cancel_requested(lambda t: seen.append(t.task_id))
    client.cancel_task(tr.task_id)
    wait_for(lambda: tr.cancel_requested, 5, msg="the heartbeat to see the cancel")
    assert seen == [tr.task_id]
    with pytest.raises(Cancelled):
        tr.check()
    assert client.get_task(tr.task_id)["state"] == "cancelled"


def test_cancelled_outright_surfaces_as_cancelled(client):
    """A second cancel ends a tracked task without its reporter."""
    tr = ProgressTracker(task_type="x", title="deaf", heartbeat_timeout_s=0).start()
    client.cancel_task(tr.task_id)
    client.cancel_task(tr.task_id)
    assert client.get_task(tr.task_id)["state"] == "cancelled"
    with pytest.raises(Cancelled):
        tr.update(progress=5)
    assert tr.finished


def test_pause_and_resume(client):
    tr = ProgressTracker(task_type="x", title="pausable", heartbeat_timeout_s=3).start()
    assert tr.wait_if_paused() is False
    client.pause_task(tr.task_id)
    tr.update(progress=10)
    assert tr.pause_requested
    result = {}

    def worker():
        result["paused"] = tr.wait_if_paused(poll_interval=0.05)

    th = threading.Thread(target=worker)
    th.start()
    wait_state(client, tr.task_id, "paused")
    time.sleep(0.3)
    assert th.is_alive(), "wait_if_paused returned while still paused"
    client.resume_task(tr.task_id)
    th.join(5)
    assert not th.is_alive() and result["paused"] is True
    assert client.get_task(tr.task_id)["state"] == "running"
    tr.complete()
    assert client.get_task(tr.task_id)["state"] == "completed"


def test_auto_pause_in_update_and_cancel_while_paused(client):
    tr = ProgressTracker(task_type="x", title="auto", auto_pause=True).start()
    client.pause_task(tr.task_id)
    errors = []

    def worker():
        try:
            tr.update(progress=20)  # blocks while paused
        except Cancelled as e:
            errors.append(e)

    th = threading.Thread(target=worker)
    th.start()
    wait_state(client, tr.task_id, "paused")
    client.cancel_task(tr.task_id)
    th.join(10)
    assert not th.is_alive() and len(errors) == 1
    assert client.get_task(tr.task_id)["state"] == "cancelled"


def test_complete_while_paused(client):
    tr = ProgressTracker(task_type="x", title="p").start()
    client.pause_task(tr.task_id)
    tr.update()
    tr._patch({"state": "paused"}, check=False)
    assert tr.state == "paused"
    tr.complete()
    assert client.get_task(tr.task_id)["state"] == "completed"


def test_heartbeat_keeps_an_idle_task_alive(client):
    tr = ProgressTracker(task_type="x", title="thinking", heartbeat_timeout_s=1).start()
    time.sleep(2.5)
    assert client.get_task(tr.task_id)["state"] == "running"
    tr.close()  # stop beating without ending: the daemon marks it lost
    t = wait_state(client, tr.task_id, "failed", timeout=5)
    assert t["error"] == "lost: no heartbeat"
    with pytest.raises(tasklight.Conflict):
        tr.update(progress=1)
    assert tr.finished


@pytest.mark.time_limit(30)
def test_lost_heartbeat_when_the_reporter_dies(daemon, unix_client):
    code = ("import os, sys, time, tasklight\n"
            "tr = tasklight.ProgressTracker(task_type='x', title='doomed', heartbeat_timeout_s=1).start()\n"
            "tr.update(progress=5)\n"
            "print(tr.task_id, flush=True)\n"
            "time.sleep(3)\n"
            "assert tasklight.get_client().get_task(tr.task_id)['state'] == 'running'\n"
            "print('alive', flush=True)\n"
            "time.sleep(60)\n")
    p = daemon.python(code, popen=True)
    try:
        tid = int(p.stdout.readline())
        assert p.stdout.readline().strip() == "alive", p.stderr.read()
        p.kill()
        p.wait(5)
        t = wait_state(unix_client, tid, "failed", timeout=5)
        assert t["error"] == "lost: no heartbeat" and t["progress"] == 5
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_exit_without_ending_fails_the_task(daemon, unix_client):
    cp = daemon.python("import tasklight\n"
                       "tr = tasklight.task_manager.create_task('x', 'forgotten')\n"
                       "print(tr.task_id)\n")
    t = unix_client.get_task(int(cp.stdout))
    assert t["state"] == "failed"
    assert t["error"] == "the reporting process exited before the task ended"


def test_attach_to_an_existing_task(client):
    t = client.create_task("made elsewhere", kind="ext")
    tr = task_manager.tracker(t["id"])
    tr.update(progress=60, message="attached")
    tr.complete(result=[1, 2])
    t = client.get_task(t["id"])
    assert t["state"] == "completed" and t["message"] == "attached" and t["result"] == [1, 2]


def test_key_owner_priority_pass_through(client):
    tr = ProgressTracker(task_type="x", title="k", key="job-7", owner="runner-1").start()
    again = ProgressTracker(task_type="x", title="k", key="job-7").start()
    assert again.task_id == tr.task_id
    tr.complete()
    assert again.finished is False and again.task["state"] == "running"
    assert client.get_task(tr.task_id)["state"] == "completed"


def test_log_multiline_and_streams(client):
    with ProgressTracker(task_type="x", title="logs") as tr:
        assert tr.log("one\ntwo") == 2
        tr.log(["three"], stream="stderr")
        tr.log("api_key=abcdef0123456789abcdef secret", stream="info")
    lines = client.get_logs(tr.task_id, tail=0)["lines"]
    assert [(ln["stream"], ln["text"]) for ln in lines[:3]] == [
        ("stdout", "one"), ("stdout", "two"), ("stderr", "three")]
    assert lines[3]["stream"] == "info"


def test_tracker_inside_a_command_task(daemon, unix_client):
    """A command task's own Python code reports through a tracker attached to
    TASKLIGHT_TASK_ID; its process, not the tracker, decides its state."""
    import os
    import sys
    code = ("import os, tasklight\n"
            "with tasklight.ProgressTracker(task_id=os.environ['TASKLIGHT_TASK_ID']) as t:\n"
            "    t.update(progress=30, message='a third')\n"
            "    t.log('from python')\n"
            "    t.add_substep('s', 'Step')\n")
    env = {"PYTHONPATH": daemon.env()["PYTHONPATH"], "PATH": os.environ["PATH"]}
    t = unix_client.add_command([sys.executable, "-c", code], env=env)
    done = wait_state(unix_client, t["id"], ("completed", "failed"))
    assert done["state"] == "completed", unix_client.get_logs(t["id"], tail=0)
    assert done["message"] == "a third" and done["substeps"][0]["id"] == "s"
    assert "from python" in [ln["text"] for ln in unix_client.get_logs(t["id"], tail=0)["lines"]]
