"""The cheap paths a busy daemon takes: short answers to reporters, no log
file for a task that prints nothing, replies that leave before the spawns."""

import os
import time

LOGS = "logs"


def log_file(daemon, tid):
    return os.path.join(daemon.data_dir, LOGS, f"{tid}.log")


def tracked(daemon, **fields):
    return daemon.track(title="reporter", **fields)["id"]


def test_prefer_minimal_patch_answers_the_four_fields(daemon):
    tid = tracked(daemon, total=10)
    r = daemon.unix("PATCH", f"/api/tasks/{tid}", {"current": 3, "message": "three"},
                    headers={"Prefer": "return=minimal"})
    assert r.status == 200, r
    assert r.json() == {"id": tid, "state": "running", "cancel_requested": False,
                        "pause_requested": False}
    assert r.headers.get("Preference-Applied") == "return=minimal"
    # the report itself was taken whole
    t = daemon.task(tid)
    assert t["current"] == 3 and t["message"] == "three"

    # a cancel request shows in the short answer, the reporter's cue to stop
    assert daemon.unix("POST", f"/api/tasks/{tid}/cancel").status == 200
    r = daemon.unix("PATCH", f"/api/tasks/{tid}", {}, headers={"Prefer": "return=minimal"})
    assert r.json()["cancel_requested"] is True


def test_without_the_preference_the_whole_task(daemon):
    tid = tracked(daemon)
    r = daemon.unix("PATCH", f"/api/tasks/{tid}", {"progress": 50})
    assert r.status == 200
    body = r.json()
    assert body["progress"] == 50 and "title" in body and "created_at" in body
    assert "Preference-Applied" not in r.headers
    # reads ignore the preference: a GET is for the whole task
    r = daemon.unix("GET", f"/api/tasks/{tid}", headers={"Prefer": "return=minimal"})
    assert "title" in r.json()


def test_prefer_minimal_create_and_errors(daemon):
    r = daemon.unix("POST", "/api/tasks", {"title": "short"},
                    headers={"Prefer": "return=minimal"})
    assert r.status == 201
    assert set(r.json()) == {"id", "state", "cancel_requested", "pause_requested"}
    # errors keep their shape
    r = daemon.unix("PATCH", "/api/tasks/999999", {"progress": 1},
                    headers={"Prefer": "return=minimal"})
    assert r.status == 404 and "error" in r.json()
    tid = tracked(daemon)
    r = daemon.unix("PATCH", f"/api/tasks/{tid}", {"progress": -5},
                    headers={"Prefer": "return=minimal"})
    assert r.status == 422 and "progress" in r.json()["error"]["message"]


def test_cli_reporters_and_add_still_work(daemon):
    tid = tracked(daemon, total=4)
    daemon.tl("progress", "--task", str(tid), "2/4")
    t = daemon.task(tid)
    assert t["current"] == 2 and t["total"] == 4
    out = daemon.tl("add", "--key", "once", "--", "true").stdout
    assert out.startswith("added task ")
    again = daemon.tl("add", "--key", "once", "--", "true").stdout
    assert "exists already (key once)" in again, again


def test_silent_successful_task_makes_no_log_file(daemon):
    t = daemon.add("true")
    assert daemon.wait_final(t["id"])["state"] == "completed"
    assert not os.path.exists(log_file(daemon, t["id"]))
    assert daemon.logs(t["id"]) == []


def test_output_brings_the_notes_with_it(daemon):
    t = daemon.add("sh", "-c", "echo hello")
    assert daemon.wait_final(t["id"])["state"] == "completed"
    lines = daemon.logs(t["id"])
    texts = [(ln["stream"], ln["text"]) for ln in lines]
    assert texts[0][1].startswith("started attempt 1 as pid"), texts
    assert ("stdout", "hello") in texts
    assert texts[-1][1] == "completed", texts
    assert os.path.exists(log_file(daemon, t["id"]))


def test_failure_writes_the_log_even_when_silent(daemon):
    t = daemon.add("false")
    assert daemon.wait_final(t["id"])["state"] == "failed"
    texts = [ln["text"] for ln in daemon.logs(t["id"])]
    assert texts[0].startswith("started attempt 1 as pid"), texts
    assert texts[-1].startswith("failed"), texts


def test_a_create_is_answered_before_its_task_starts(daemon):
    """The reply to a create leaves before the spawn; the task still starts
    at once and a burst of creates all run."""
    daemon.set_parallel(2)
    ids = [daemon.add("true")["id"] for _ in range(40)]
    deadline = time.monotonic() + 30
    for tid in ids:
        assert daemon.wait_final(tid, timeout=max(1, deadline - time.monotonic()))["state"] == "completed"
