"""Visibility: tracked tasks over HTTP, progress read from output, ETA, logs and redaction."""

import glob
import json
import os
import time

import pytest

from conftest import wait_for


def create_tracked(daemon, **body):
    body.setdefault("title", "pull image")
    r = daemon.unix("POST", "/api/tasks", body)
    assert r.status == 201, r
    t = r.json()
    assert t["state"] == "running" and t["source"] == "tracked", t
    return t


def patch(daemon, tid, body, status=200):
    r = daemon.unix("PATCH", f"/api/tasks/{tid}", body)
    assert r.status == status, r
    return r.json()


def test_tracked_lifecycle_over_http(daemon):
    t = create_tracked(daemon, kind="docker_pull", total=24, unit="layers",
                       metadata={"image": "winarena:latest"})
    tid = t["id"]
    got = patch(daemon, tid, {"current": 11, "message": "layer 11",
                              "metadata": {"downloaded_mb": 3842}})
    assert got["current"] == 11 and got["total"] == 24 and got["unit"] == "layers"
    assert abs(got["progress"] - 100 * 11 / 24) < 1e-6, got
    assert got["metadata"] == {"image": "winarena:latest", "downloaded_mb": 3842}
    # a null removes a metadata key
    got = patch(daemon, tid, {"metadata": {"downloaded_mb": None}})
    assert got["metadata"] == {"image": "winarena:latest"}

    r = daemon.unix("POST", f"/api/tasks/{tid}/substeps", {"name": "Download base", "id": "l1"})
    assert r.status == 201, r
    assert r.json()["state"] == "running" and r.json()["started_at"]
    r = daemon.unix("PATCH", f"/api/tasks/{tid}/substeps/l1", {"state": "completed"})
    assert r.status == 200 and r.json()["finished_at"] and r.json()["progress"] == 100
    r = daemon.unix("POST", f"/api/tasks/{tid}/substeps", {"name": "Extract"})
    assert r.status == 201 and r.json()["id"] == "2", r
    r = daemon.unix("POST", f"/api/tasks/{tid}/substeps", {"name": "again", "id": "l1"})
    assert r.status == 409, r

    r = daemon.unix("POST", f"/api/tasks/{tid}/logs", {"lines": ["a", "b"], "stream": "stderr"})
    assert r.status == 200 and r.json() == {"appended": 2}, r

    done = patch(daemon, tid, {"state": "completed", "result": {"layers": 24}})
    assert done["state"] == "completed" and done["result"] == {"layers": 24}
    assert done["progress"] == 100 and done["finished_at"]
    t = daemon.task(tid)
    assert [s["state"] for s in t["substeps"]] == ["completed", "running"]
    assert [(l["stream"], l["text"]) for l in daemon.logs(tid)] == [("stderr", "a"), ("stderr", "b")]
    # an ended task takes no more reports
    patch(daemon, tid, {"progress": 5}, status=409)


def test_progress_values_are_validated(daemon):
    tid = create_tracked(daemon, total=10)["id"]
    for body in ({"progress": -1}, {"progress": 100.5}, {"current": 11},
                 {"current": -3}, {"total": 1e300}):
        r = daemon.unix("PATCH", f"/api/tasks/{tid}", body)
        assert r.status == 422, (body, r)
        assert r.json()["error"]["code"] == "invalid"
    for raw in ('{"progress": NaN}', '{"progress": "45"}', '{"metadata": [1]}'):
        r = daemon.unix("PATCH", f"/api/tasks/{tid}", raw)
        assert r.status == 400, (raw, r)
    r = daemon.unix("PATCH", f"/api/tasks/{tid}", {"state": "queued"})
    assert r.status == 422, r
    # null progress is "unknown", not an error
    assert patch(daemon, tid, {"progress": None})["progress"] is None


def test_cancel_and_pause_requests_reach_the_reporter(daemon):
    tid = create_tracked(daemon)["id"]
    r = daemon.unix("POST", f"/api/tasks/{tid}/pause")
    assert r.status == 200 and r.json()["pause_requested"] is True, r
    got = patch(daemon, tid, {"state": "paused"})
    assert got["state"] == "paused" and got["pause_requested"] is True
    r = daemon.unix("POST", f"/api/tasks/{tid}/resume")
    assert r.status == 200 and r.json()["pause_requested"] is False, r
    assert patch(daemon, tid, {})["pause_requested"] is False  # the reporter sees it
    assert patch(daemon, tid, {"state": "running"})["state"] == "running"
    r = daemon.unix("POST", f"/api/tasks/{tid}/cancel")
    assert r.status == 200 and r.json()["cancel_requested"] is True
    got = patch(daemon, tid, {"progress": 50})
    assert got["cancel_requested"] is True and got["state"] == "running"
    assert patch(daemon, tid, {"state": "cancelled"})["state"] == "cancelled"


def test_cancel_twice_ends_a_silent_reporter(daemon):
    tid = create_tracked(daemon)["id"]
    assert daemon.unix("POST", f"/api/tasks/{tid}/cancel").status == 200
    r = daemon.unix("POST", f"/api/tasks/{tid}/cancel")
    assert r.status == 200 and r.json()["state"] == "cancelled", r


def test_a_silent_tracked_task_is_lost(daemon):
    tid = create_tracked(daemon, heartbeat_timeout_s=0.5)["id"]
    patch(daemon, tid, {})  # a heartbeat
    t = daemon.wait_final(tid, timeout=5)
    assert t["state"] == "failed" and t["error"] == "lost: no heartbeat", t


def test_tracked_task_survives_a_daemon_restart(daemon):
    tid = create_tracked(daemon, heartbeat_timeout_s=30)["id"]
    patch(daemon, tid, {"progress": 40})
    daemon.restart()
    t = daemon.task(tid)
    assert t["state"] == "running", t
    assert patch(daemon, tid, {"state": "completed"})["state"] == "completed"


def test_creating_with_an_existing_key_returns_the_task(daemon):
    a = daemon.unix("POST", "/api/tasks", {"title": "x", "key": "job-7"})
    b = daemon.unix("POST", "/api/tasks", {"title": "x", "key": "job-7"})
    assert (a.status, b.status) == (201, 200)
    assert a.json()["id"] == b.json()["id"]


def test_progress_is_read_from_a_tqdm_bar_without_integration(daemon):
    script = (
        "import sys, time\n"
        "for i in range(0, 101, 5):\n"
        "    sys.stdout.write('\\r%3d%%|' % i + '#' * (i // 10) + '| %d/100 [00:01<00:02, 9.80it/s]' % i)\n"
        "    sys.stdout.flush(); time.sleep(0.1)\n"
        "print()\n"
    )
    tid = daemon.add("/usr/bin/python3", "-c", script)["id"]
    seen = []

    def midway():
        t = daemon.task(tid)
        if t["progress"] is not None:
            seen.append(t)
        return t["progress"] is not None and 20 <= t["progress"] <= 80

    wait_for(midway, timeout=10, msg="no progress read from the bar")
    t = seen[-1]
    assert t["unit"] == "it" and t["total"] == 100, t
    assert t["eta_s"] is not None and t["eta_s"] > 0, t
    t = daemon.wait_final(tid)
    assert t["state"] == "completed" and t["progress"] == 100, t
    # the log keeps the final bar, not every redraw
    texts = [l["text"] for l in daemon.logs(tid) if l["stream"] == "stdout"]
    assert len(texts) == 1 and texts[0].startswith("100%"), texts


def test_progress_parsing_can_be_turned_off_or_replaced(daemon):
    r = daemon.unix("POST", "/api/tasks", {"command": {
        "argv": ["sh", "-c", "echo 'Progress: 50%'; sleep 0.5"], "progress_parse": False}})
    assert r.status == 201
    off = r.json()["id"]
    r = daemon.unix("POST", "/api/tasks", {"command": {
        "argv": ["sh", "-c", "echo 'done 7 of 10 chunks'; sleep 0.5"],
        "progress_regex": "done (?<current>\\d+) of (?<total>\\d+)"}})
    assert r.status == 201
    custom = r.json()["id"]
    daemon.set_parallel(2)
    wait_for(lambda: daemon.task(custom)["progress"] is not None, timeout=5)
    assert abs(daemon.task(custom)["progress"] - 70) < 1e-6
    daemon.wait_final(off)
    assert daemon.task(off)["progress"] is None
    r = daemon.unix("POST", "/api/tasks", {"command": {"argv": ["true"], "progress_regex": "(unclosed"}})
    assert r.status == 422 and "progress_regex" in r.json()["error"]["message"], r


def test_secrets_never_reach_the_disk(daemon):
    secrets = ["hunter2xyz", "AKIAIOSFODNN7EXAMPLE", "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
               "s3cr3tpass"]
    script = ("echo password=hunter2xyz; echo key AKIAIOSFODNN7EXAMPLE; "
              "echo token ghp_abcdefghijklmnopqrstuvwxyz0123456789; "
              "echo https://bob:s3cr3tpass@example.com/x; echo ordinary line")
    tid = daemon.add("sh", "-c", script)["id"]
    daemon.wait_final(tid)
    t = create_tracked(daemon)
    r = daemon.unix("POST", f"/api/tasks/{t['id']}/logs", {"lines": ["Authorization: Bearer hunter2xyz"]})
    assert r.status == 200
    texts = [l["text"] for l in daemon.logs(tid)]
    assert "ordinary line" in texts
    assert any("[REDACTED]" in x for x in texts), texts
    for path in glob.glob(os.path.join(daemon.data_dir, "logs", "*")):
        data = open(path, "rb").read()
        for s in secrets:
            assert s.encode() not in data, (path, s)


def test_log_ranges_and_caps(daemon):
    tid = daemon.add("sh", "-c", "for i in $(seq 1 300); do echo line $i; done")["id"]
    daemon.wait_final(tid)
    r = daemon.unix("GET", f"/api/tasks/{tid}/logs")
    body = r.json()
    assert len(body["lines"]) == 100 and body["lines"][-1]["stream"] == "info"
    assert body["truncated"] is False
    r = daemon.unix("GET", f"/api/tasks/{tid}/logs?from=1&limit=3")
    assert [l["text"] for l in r.json()["lines"]] == ["line 1", "line 2", "line 3"], r.json()
    assert r.json()["total_lines"] == 302  # started, 300 lines, completed
    r = daemon.unix("GET", f"/api/tasks/{tid}/logs?limit=0")
    assert r.status == 400


def test_eta_uses_the_history_of_the_kind(daemon):
    daemon.set_parallel(1)
    for _ in range(2):
        tid = daemon.add("sleep", "0.6", kind="nightly")["id"]
        daemon.wait_final(tid)
    tid = daemon.add("sleep", "0.6", kind="nightly")["id"]
    wait_for(lambda: daemon.task(tid)["state"] == "running", timeout=5)
    t = daemon.task(tid)
    # no progress at all, yet an estimate from the kind's recent runs
    assert t["estimated_total_s"] is not None, t
    assert 0.3 < t["estimated_total_s"] < 1.5, t


def test_progress_events_are_coalesced(daemon):
    tid = create_tracked(daemon)["id"]
    import http.client
    import socket

    conn = http.client.HTTPConnection("localhost", timeout=10)
    conn.sock = socket.socket(socket.AF_UNIX)
    conn.sock.connect(daemon.socket_path)
    conn.request("GET", f"/api/tasks/{tid}/stream")
    resp = conn.getresponse()
    for i in range(200):
        patch(daemon, tid, {"progress": i / 2})
    time.sleep(0.3)  # the coalesced tick goes out on its timer
    patch(daemon, tid, {"state": "completed"})
    body = resp.read().decode()
    events = [l[len("event: "):] for l in body.splitlines() if l.startswith("event: ")]
    n = events.count("task.progress")
    assert events[0] == "task.snapshot" and events[-1] == "task.completed", events
    assert 1 <= n < 100, n  # 200 updates, far fewer events
    frames = [f for f in body.split("\n\n") if "event: task.progress" in f]
    last_tick = json.loads(frames[-1].split("data: ", 1)[1])
    assert last_tick["progress"] == 99.5  # the latest value always arrives
    final = json.loads(body.strip().split("\n\n")[-1].split("data: ", 1)[1])
    assert final["state"] == "completed" and final["progress"] == 100
