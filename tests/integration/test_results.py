"""Exit codes, spawn errors, retries with backoff, captured output."""

import os
import time

from conftest import wait_for


def test_exit_zero_completes(daemon):
    tid = daemon.add_cli("--", "sh", "-c", "exit 0")
    t = daemon.wait_final(tid)
    assert t["state"] == "completed", t
    assert t["exit_code"] == 0, t
    assert t["error"] is None, t
    assert t["attempt"] == 1, t


def test_nonzero_exit_fails_with_the_code(daemon):
    tid = daemon.add_cli("--", "sh", "-c", "exit 7")
    t = daemon.wait_final(tid)
    assert t["state"] == "failed", t
    assert t["exit_code"] == 7, t


def test_killed_by_a_signal_fails(daemon):
    tid = daemon.add_cli("--", "sh", "-c", "kill -9 $$")
    t = daemon.wait_final(tid)
    assert t["state"] == "failed", t
    assert t["exit_code"] != 0, t


def test_command_not_found(daemon):
    for prog in ("/nonexistent/prog", "tasklight-no-such-program-xyz"):
        tid = daemon.add_cli("--", prog, "arg")
        t = daemon.wait_final(tid)
        assert t["state"] == "failed", t
        err = t["error"] or ""
        assert "No such file" in err or "not found" in err, f"{prog}: error {err!r}"


def test_permission_denied(daemon):
    path = os.path.join(daemon.base, "not-executable.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho hi\n")
    os.chmod(path, 0o644)
    tid = daemon.add_cli("--", path)
    t = daemon.wait_final(tid)
    assert t["state"] == "failed", t
    assert "permission denied" in (t["error"] or "").lower(), t


def test_cwd_is_the_one_given(daemon):
    sub = os.path.join(daemon.base, "work dir")
    os.mkdir(sub)
    t = daemon.add("sh", "-c", "pwd", cwd=sub)
    daemon.wait_final(t["id"])
    assert [ln["text"] for ln in daemon.logs(t["id"]) if ln["stream"] == "stdout"] == [sub]

    # tl add uses the caller's directory
    cp = daemon.tl("add", "--print-id", "--", "sh", "-c", "pwd")
    tid = int(cp.stdout)
    daemon.wait_final(tid)
    assert daemon.task(tid)["command"]["cwd"] == daemon.base
    assert [ln["text"] for ln in daemon.logs(tid) if ln["stream"] == "stdout"] == [daemon.base]


def test_task_environment(daemon):
    tid = daemon.add_cli("--", "sh", "-c", 'echo "id=$TASKLIGHT_TASK_ID"; echo "sock=$TASKLIGHT_SOCKET"')
    daemon.wait_final(tid)
    out = [ln["text"] for ln in daemon.logs(tid) if ln["stream"] == "stdout"]
    assert f"id={tid}" in out, out
    assert f"sock={daemon.socket_path}" in out, out


def test_retries_with_growing_backoff(daemon):
    t0 = time.monotonic()
    tid = daemon.add_cli("--retries", "2", "--", "sh", "-c", "echo run; exit 1")
    first_seen = {}

    def poll():
        t = daemon.task(tid)
        if t["attempt"] and t["attempt"] not in first_seen:
            first_seen[t["attempt"]] = time.monotonic()
        return t if t["state"] in ("completed", "failed", "cancelled") and t["attempt"] >= 3 else None

    t = wait_for(poll, 15, msg="three attempts")
    total = time.monotonic() - t0
    assert t["state"] == "failed", t
    assert t["attempt"] == 3, t
    assert t["max_retries"] == 2, t
    assert t["exit_code"] == 1, t
    assert total >= 3.0, f"3 attempts with 1 s base backoff took only {total:.2f} s"
    assert sorted(first_seen) == [1, 2, 3], first_seen
    gap1 = first_seen[2] - first_seen[1]
    gap2 = first_seen[3] - first_seen[2]
    assert gap1 >= 0.9, f"first retry after {gap1:.2f} s, base is 1 s"
    assert gap2 >= 1.8 and gap2 > gap1 * 1.4, f"backoff did not grow: {gap1:.2f} s then {gap2:.2f} s"
    runs = [ln for ln in daemon.logs(tid) if ln["stream"] == "stdout" and ln["text"] == "run"]
    assert len(runs) == 3, daemon.logs(tid)


def test_retry_until_success(daemon):
    marker = os.path.join(daemon.base, "marker")
    tid = daemon.add_cli("--retries", "3", "--", "sh", "-c", f"test -e '{marker}' || {{ touch '{marker}'; exit 1; }}")
    t = daemon.wait_final(tid, timeout=10)
    assert t["state"] == "completed", t
    assert t["attempt"] == 2, t
    assert t["exit_code"] == 0, t


def test_manual_retry(daemon):
    tid = daemon.add_cli("--", "sh", "-c", "echo run; exit 4")
    assert daemon.wait_final(tid)["state"] == "failed"
    daemon.tl("retry", tid)
    t = daemon.wait_final(tid)
    assert t["state"] == "failed" and t["exit_code"] == 4, t
    runs = [ln for ln in daemon.logs(tid) if ln["stream"] == "stdout" and ln["text"] == "run"]
    assert len(runs) == 2, daemon.logs(tid)
    # retry of a task that is not failed/cancelled is a conflict
    ok = daemon.add_cli("--", "true")
    daemon.wait_final(ok)
    assert daemon.tl("retry", ok, check=False).returncode != 0


def test_stdout_and_stderr_are_captured_with_their_stream(daemon):
    script = "echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf 'no newline'"
    tid = daemon.add_cli("--", "sh", "-c", script)
    daemon.wait_final(tid)
    lines = daemon.logs(tid)
    out = [ln["text"] for ln in lines if ln["stream"] == "stdout"]
    err = [ln["text"] for ln in lines if ln["stream"] == "stderr"]
    assert out == ["out1", "out2", "no newline"], lines
    assert err == ["err1", "err2"], lines
    assert all(ln["ts"].endswith("Z") for ln in lines), lines

    cp = daemon.tl("log", tid)
    text = cp.stdout + cp.stderr
    for s in ("out1", "out2", "err1", "err2", "no newline"):
        assert s in text, f"{s!r} missing from tl log:\n{text}"


def test_many_lines_and_tail(daemon):
    tid = daemon.add_cli("--", "seq", "1", "20000")
    daemon.wait_final(tid, timeout=20)
    lines = [ln["text"] for ln in daemon.logs(tid, tail=0) if ln["stream"] == "stdout"]
    assert lines == [str(i) for i in range(1, 20001)], (len(lines), lines[:3], lines[-3:])
    tail = daemon.logs(tid, tail=10)
    assert len(tail) == 10, tail
    last = [ln["text"] for ln in tail if ln["stream"] == "stdout"][-5:]
    assert last == ["19996", "19997", "19998", "19999", "20000"], tail
    assert len(daemon.logs(tid, tail=100)) == 100


def test_secrets_are_redacted_from_logs(daemon):
    tid = daemon.add_cli("--", "sh", "-c", "echo password=hunter2xyz; echo visible-line")
    daemon.wait_final(tid)
    texts = [ln["text"] for ln in daemon.logs(tid)]
    assert "visible-line" in texts, texts
    assert not any("hunter2xyz" in t for t in texts), texts
