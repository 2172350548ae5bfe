"""The in-task reporters (tl progress, step, note, meta, result, log-line),
tracked tasks from the shell (tl track, tl done), the --json shapes of
docs/cli-json.md, tl stats, exit codes, and tl demo.
"""

import json
import os
import shlex
import time

import pytest

from conftest import TL_BIN, wait_for

TL = shlex.quote(TL_BIN)


def in_task(daemon, script, **opts):
    """A command task running `sh -c script` (tl is $TL); waits until it
    runs and returns its id."""
    env = {"TL": TL_BIN, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    tid = daemon.add("sh", "-c", script, env=env, **opts)["id"]
    daemon.wait_state(tid, ("running",) + ("completed", "failed"))
    return tid


def reporter(daemon, tid, *args, check=True, stdin=None):
    """Runs a reporter as a task would: TASKLIGHT_TASK_ID in the env."""
    return daemon.tl(*args, check=check, input=stdin,
                     env=daemon.env(TASKLIGHT_TASK_ID=str(tid)))


def tracked(daemon, **body):
    r = daemon.unix("POST", "/api/tasks", body)
    assert r.status == 201, r
    return r.json()["id"]


# ---- reporters inside a command task -----------------------------------------


def test_reporters_inside_a_command_task(daemon):
    tid = in_task(daemon, (
        '"$TL" progress 45 half way there && '
        '"$TL" step Build && "$TL" step "a/b" --progress 10 && '
        '"$TL" meta image=winarena:latest layers=24 ok=true tags=\'["x","y"]\' && '
        '"$TL" log-line hello from the task && '
        'printf "one\\ntwo\\n" | "$TL" log-line --stream stderr && '
        '"$TL" result \'{"rows": 42}\' && sleep 30'), title="reporting")
    # the task ran its reporters with TASKLIGHT_TASK_ID and TASKLIGHT_SOCKET
    t = wait_for(lambda: (lambda t: t if t["result"] is not None else None)(daemon.task(tid)),
                 10, msg="the result")
    assert t["state"] == "running", t
    assert t["progress"] == 45 and t["message"] == "half way there", t
    assert [(s["id"], s["name"], s["state"]) for s in t["substeps"]] == \
        [("Build", "Build", "running"), ("a-b", "a/b", "running")], t["substeps"]
    assert t["substeps"][1]["progress"] == 10
    assert t["metadata"] == {"image": "winarena:latest", "layers": 24, "ok": True,
                             "tags": ["x", "y"]}, t["metadata"]
    assert t["result"] == {"rows": 42}
    lines = [(l["stream"], l["text"]) for l in daemon.logs(tid)]
    assert ("stdout", "hello from the task") in lines, lines
    assert ("stderr", "one") in lines and ("stderr", "two") in lines, lines
    daemon.unix("POST", f"/api/tasks/{tid}/cancel")


def test_progress_forms(daemon):
    tid = tracked(daemon, title="forms")
    reporter(daemon, tid, "progress", "--current", "50", "--total", "154", "--unit", "tasks")
    t = daemon.task(tid)
    assert (t["current"], t["total"], t["unit"]) == (50, 154, "tasks"), t
    assert abs(t["progress"] - 50 / 154 * 100) < 0.01, t
    reporter(daemon, tid, "progress", "77/154", "counting", "on")
    t = daemon.task(tid)
    assert (t["current"], t["total"]) == (77, 154) and t["message"] == "counting on", t
    reporter(daemon, tid, "progress", "99.5%")
    assert daemon.task(tid)["progress"] == 99.5
    # --task wins over the environment
    other = tracked(daemon, title="other")
    reporter(daemon, tid, "progress", "--task", str(other), "12")
    assert daemon.task(other)["progress"] == 12
    assert daemon.task(tid)["progress"] == 99.5
    # bad values are usage errors, and change nothing
    for args in (["abc"], ["101"], ["-5"], ["5/4"], ["--current", "x"], []):
        cp = reporter(daemon, tid, "progress", *args, check=False)
        assert cp.returncode == 2, (args, cp)
        assert cp.stderr.startswith("tl: error: "), cp.stderr
    assert daemon.task(tid)["progress"] == 99.5


def test_step_adds_then_updates(daemon):
    tid = tracked(daemon, title="steps")
    reporter(daemon, tid, "step", "Download", "layer", "1")
    reporter(daemon, tid, "step", "Download layer 1", "--progress", "40")
    reporter(daemon, tid, "step", "Download layer 1", "--state", "completed")
    reporter(daemon, tid, "step", "Unpack", "--id", "unpack", "--state", "queued")
    reporter(daemon, tid, "step", "Unpack it", "--id", "unpack", "--state", "failed",
             "--error", "disk full")
    steps = daemon.task(tid)["substeps"]
    assert [(s["id"], s["name"], s["state"]) for s in steps] == [
        ("Download layer 1", "Download layer 1", "completed"),
        ("unpack", "Unpack it", "failed")], steps
    assert steps[0]["progress"] == 100 and steps[1]["error"] == "disk full"
    cp = reporter(daemon, tid, "step", "x", "--state", "bogus", check=False)
    assert cp.returncode == 2


def test_note_meta_result(daemon):
    tid = tracked(daemon, title="notes")
    reporter(daemon, tid, "note", "all", "good")
    assert daemon.task(tid)["message"] == "all good"
    reporter(daemon, tid, "meta", "a=1", "b=text", "c=", "d=null", "e={\"k\": [1]}")
    assert daemon.task(tid)["metadata"] == {"a": 1, "b": "text", "c": "", "e": {"k": [1]}}
    reporter(daemon, tid, "meta", "a=null")
    assert "a" not in daemon.task(tid)["metadata"]
    cp = reporter(daemon, tid, "meta", "novalue", check=False)
    assert cp.returncode == 2 and "KEY=VALUE" in cp.stderr, cp
    reporter(daemon, tid, "result", "3.5")
    assert daemon.task(tid)["result"] == 3.5
    reporter(daemon, tid, "result", "-", stdin='{"from": "stdin"}')
    assert daemon.task(tid)["result"] == {"from": "stdin"}
    cp = reporter(daemon, tid, "result", "{broken", check=False)
    assert cp.returncode == 2 and "not JSON" in cp.stderr, cp


def test_log_line_from_stdin(daemon):
    tid = tracked(daemon, title="logs")
    text = "".join(f"line {i}\n" for i in range(2500)) + "no newline at the end"
    reporter(daemon, tid, "log-line", stdin=text)
    got = [l["text"] for l in daemon.logs(tid)]
    assert got == [f"line {i}" for i in range(2500)] + ["no newline at the end"], got[-3:]
    # invalid UTF-8 is replaced, CRLF taken as LF
    tid2 = tracked(daemon, title="bytes")
    cp = daemon.tl("log-line", "--task", tid2, input=None, check=False)  # stdin /dev/null
    assert cp.returncode == 0 and daemon.logs(tid2) == []
    import subprocess
    subprocess.run([TL_BIN, "log-line", "--task", str(tid2), "--tee"], input=b"ok\r\nbad\xff\n",
                   env=daemon.env(), check=True, capture_output=True)
    assert [l["text"] for l in daemon.logs(tid2)] == ["ok", "bad\ufffd"]


def test_reporter_errors(daemon, tmp_path):
    # no task known
    cp = daemon.tl("progress", "45", check=False)
    assert cp.returncode == 2
    assert cp.stderr.strip() == "tl: error: no task: set TASKLIGHT_TASK_ID or pass --task", cp.stderr
    cp = daemon.tl("note", "x", check=False, env=daemon.env(TASKLIGHT_TASK_ID="abc"))
    assert cp.returncode == 2 and "TASKLIGHT_TASK_ID" in cp.stderr
    # no such task
    cp = reporter(daemon, 999999, "progress", "45", check=False)
    assert cp.returncode == 4 and "999999" in cp.stderr, cp
    # a task that ended
    tid = tracked(daemon, title="ended")
    daemon.tl("done", tid)
    cp = reporter(daemon, tid, "progress", "45", check=False)
    assert cp.returncode == 1 and cp.stderr.startswith("tl: error: "), cp
    # no daemon
    env = daemon.env(TASKLIGHT_TASK_ID="1", TASKLIGHT_DATA_DIR=str(tmp_path / "none"))
    cp = daemon.tl("progress", "45", check=False, env=env)
    assert cp.returncode == 3 and "no daemon" in cp.stderr, cp


def test_reporters_are_one_quick_request(daemon):
    tid = tracked(daemon, title="quick")
    t0 = time.monotonic()
    for i in range(20):
        reporter(daemon, tid, "progress", str(i))
    per_call = (time.monotonic() - t0) / 20
    assert per_call < 0.5, f"tl progress takes {per_call:.3f} s"
    assert reporter(daemon, tid, "progress", "1").stdout == ""


# ---- tracked tasks from the shell --------------------------------------------


def test_track_and_done(daemon):
    cp = daemon.tl("track", "--title", "Nightly backup", "--kind", "backup",
                   "--heartbeat", "5m", "--total", "24", "--unit", "layers")
    assert cp.stdout.strip().isdigit(), cp.stdout
    tid = int(cp.stdout)
    t = daemon.task(tid)
    assert (t["source"], t["state"], t["title"], t["kind"]) == \
        ("tracked", "running", "Nightly backup", "backup"), t
    assert t["heartbeat_timeout_s"] == 300 and t["total"] == 24 and t["unit"] == "layers", t
    daemon.tl("progress", "--task", tid, "12/24")
    assert daemon.task(tid)["progress"] == 50
    assert daemon.tl("done", tid, "--result", '{"bytes": 1}').stdout == ""
    t = daemon.task(tid)
    assert t["state"] == "completed" and t["result"] == {"bytes": 1}, t

    tid = int(daemon.tl("track", "-t", "will fail").stdout)
    daemon.tl("done", tid, "--failed", "disk full")
    t = daemon.task(tid)
    assert t["state"] == "failed" and t["error"] == "disk full", t
    assert daemon.tl("wait", tid, check=False).returncode == 1

    tid = int(daemon.tl("track").stdout)
    t = daemon.tl_json("done", tid, "--cancelled", "--json")
    assert t["state"] == "cancelled"
    assert daemon.tl("done", check=False).returncode == 2


def test_track_starts_a_daemon(daemon, tmp_path):
    env = daemon.env(TASKLIGHT_DATA_DIR=str(tmp_path / "fresh"))
    try:
        cp = daemon.tl("track", "--title", "first", env=env)
        assert cp.stdout.strip() == "1", cp
    finally:
        daemon.tl("done", "1", env=env, check=False)
        daemon.kill_leftovers()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                continue
            if b"serve" in cmd and str(tmp_path).encode() in b" ".join(cmd):
                os.kill(int(pid), 9)


# ---- --json shapes (docs/cli-json.md) ----------------------------------------

INT = ("int",)
NUM = ("num",)
STR = ("str",)


def check_shape(value, shape, path="$"):
    """shape: a dict of field -> shape (extra fields allowed), a list of one
    shape, a tuple of allowed kinds, or a literal type."""
    if isinstance(shape, dict):
        assert isinstance(value, dict), f"{path}: {value!r} is not an object"
        for k, s in shape.items():
            assert k in value, f"{path}: no field {k!r} in {sorted(value)}"
            check_shape(value[k], s, f"{path}.{k}")
    elif isinstance(shape, list):
        assert isinstance(value, list), f"{path}: {value!r} is not an array"
        for i, v in enumerate(value):
            check_shape(v, shape[0], f"{path}[{i}]")
    else:
        kinds = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool),
                 "num": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                 "str": lambda v: isinstance(v, str),
                 "null": lambda v: v is None,
                 "bool": lambda v: isinstance(v, bool),
                 "obj": lambda v: isinstance(v, dict),
                 "any": lambda v: True}
        assert any(kinds[k](value) for k in shape), f"{path}: {value!r} is not {shape}"


STATES = ("queued", "running", "paused", "completed", "failed", "cancelled")
COUNTS = {s: INT for s in STATES}
SUBSTEP = {"id": STR, "name": STR, "state": STR, "progress": ("num", "null"),
           "error": ("str", "null"), "started_at": ("str", "null"),
           "finished_at": ("str", "null")}
TASK = {
    "id": INT, "state": STR, "title": STR, "kind": STR, "group": STR, "source": STR,
    "progress": ("num", "null"), "current": ("num", "null"), "total": ("num", "null"),
    "unit": ("str", "null"), "message": ("str", "null"), "metadata": ("obj",),
    "substeps": [SUBSTEP], "error": ("str", "null"), "result": ("any",),
    "exit_code": ("int", "null"), "command": ("obj", "null"),
    "created_at": STR, "started_at": ("str", "null"), "finished_at": ("str", "null"),
    "updated_at": STR, "elapsed_s": ("num", "null"), "eta_s": ("num", "null"),
    "estimated_total_s": ("num", "null"), "priority": INT, "attempt": INT,
    "max_retries": INT,
}
GROUP = {"name": STR, "parallel": INT, "running": INT, "queued": INT}
KIND = {"kind": STR, "finished": INT, "completed": INT, "failed": INT, "cancelled": INT,
        "success_rate": ("num", "null"), "median_duration_s": ("num", "null")}
SHAPES = {
    "ls": {"tasks": [TASK], "counts": COUNTS, "next_cursor": ("int", "null")},
    "wait": {"tasks": [TASK]},
    "stats": {"counts": COUNTS, "total": INT, "groups": [GROUP], "kinds": [KIND],
              "scanned": INT},
    "groups": {"groups": [GROUP]},
    "parallel": {"name": STR, "parallel": INT},
    "clean": {"removed": INT},
}


def test_json_outputs_have_the_documented_shapes(daemon):
    added = daemon.tl_json("add", "--json", "--kind", "k", "--", "sh", "-c", "echo 1/2 files")
    check_shape(added, TASK)
    tracked_task = daemon.tl_json("track", "--json", "--title", "t")
    check_shape(tracked_task, TASK)
    assert tracked_task["source"] == "tracked" and tracked_task["command"] is None
    daemon.tl("step", "--task", tracked_task["id"], "s1")
    check_shape(daemon.tl_json("show", "--json", tracked_task["id"]), TASK)

    out = daemon.tl_json("wait", "--json", added["id"])
    check_shape(out, SHAPES["wait"])
    assert [t["id"] for t in out["tasks"]] == [added["id"]]
    assert out["tasks"][0]["state"] == "completed"

    ended = daemon.tl_json("done", "--json", tracked_task["id"])
    check_shape(ended, TASK)
    for args in (("ls", "--json"), ("ls", "--json", "--all"), ("ls", "--json", "-s", "completed")):
        check_shape(daemon.tl_json(*args), SHAPES["ls"])
    stats = daemon.tl_json("stats", "--json")
    check_shape(stats, SHAPES["stats"])
    check_shape(daemon.tl_json("parallel", "--json"), SHAPES["groups"])
    check_shape(daemon.tl_json("parallel", "3", "-g", "g1", "--json"), SHAPES["parallel"])
    check_shape(daemon.tl_json("clean", "--json"), SHAPES["clean"])
    # --json output is JSON alone, with no colour even on request of a tty
    cp = daemon.tl("ls", "--json", env=daemon.env(NO_COLOR=""))
    json.loads(cp.stdout)
    assert "\x1b" not in cp.stdout


def test_wait_json_on_failure_still_prints_the_tasks(daemon):
    ok = daemon.add("true")["id"]
    bad = daemon.add("sh", "-c", "exit 4")["id"]
    cp = daemon.tl("wait", "--json", ok, bad, check=False)
    assert cp.returncode == 1
    out = json.loads(cp.stdout)
    assert [(t["id"], t["state"]) for t in out["tasks"]] == [(ok, "completed"), (bad, "failed")]


# ---- exit codes --------------------------------------------------------------


def test_exit_codes(daemon, tmp_path):
    assert daemon.tl("show", 999999, check=False).returncode == 4
    assert daemon.tl("wait", 999999, check=False).returncode == 4
    assert daemon.tl("cancel", 999999, check=False).returncode == 4
    assert daemon.tl("ls", "--bogus", check=False).returncode == 2
    assert daemon.tl("frobnicate", check=False).returncode == 2
    tid = daemon.add("true")["id"]
    daemon.wait_final(tid)
    assert daemon.tl("pause", tid, check=False).returncode == 1
    env = daemon.env(TASKLIGHT_DATA_DIR=str(tmp_path / "none"))
    for args in (("ls",), ("show", "1"), ("stats",), ("wait", "1")):
        cp = daemon.tl(*args, env=env, check=False)
        assert cp.returncode == 3, (args, cp)


# ---- stats ---------------------------------------------------------------------


def test_stats_per_kind(daemon):
    daemon.set_parallel(0, "s")
    ids = [daemon.add("sh", "-c", f"sleep {d}", kind="k1", group="s")["id"]
           for d in ("0.1", "0.3", "0.5")]
    ids.append(daemon.add("sh", "-c", "exit 1", kind="k1", group="s")["id"])
    slow = daemon.add("sleep", "30", kind="k1", group="s")["id"]
    ids.append(daemon.add("true", kind="k2", group="s")["id"])
    daemon.wait_state(slow, "running")
    daemon.unix("POST", f"/api/tasks/{slow}/cancel")
    for t in ids + [slow]:
        daemon.wait_final(t)
    stats = daemon.tl_json("stats", "--json")
    kinds = {k["kind"]: k for k in stats["kinds"]}
    k1 = kinds["k1"]
    assert (k1["finished"], k1["completed"], k1["failed"], k1["cancelled"]) == (5, 3, 1, 1), k1
    assert abs(k1["success_rate"] - 0.75) < 1e-9, k1
    durations = sorted(daemon.task(t)["elapsed_s"] for t in ids[:3])
    assert abs(k1["median_duration_s"] - durations[1]) < 1e-6, (k1, durations)
    assert kinds["k2"]["success_rate"] == 1
    assert stats["kinds"][0]["kind"] == "k1"  # the most finished first
    assert stats["scanned"] == 6 and stats["total"] == 6
    text = daemon.tl("stats").stdout
    assert "k1" in text and "75%" in text, text


# ---- demo ----------------------------------------------------------------------


@pytest.mark.time_limit(90)
def test_demo_shows_every_scenario(daemon):
    cp = daemon.tl("demo")
    assert "tl watch" in cp.stdout and "http://127.0.0.1:" in cp.stdout, cp.stdout
    tasks = {t["title"]: t for t in daemon.tasks("?limit=100")["tasks"]}
    assert len(tasks) >= 10, sorted(tasks)
    sources = {t["source"] for t in tasks.values()}
    assert sources == {"command", "tracked"}, sources
    queue = [t for t in tasks.values() if t["group"] == "demo-queue"]
    assert len(queue) >= 3 and any(t["state"] == "queued" for t in queue), queue

    def seen():
        ts = {t["title"]: t for t in daemon.tasks("?limit=100")["tasks"]}
        return (any(t["state"] == "failed" for t in ts.values())
                and any(t["substeps"] for t in ts.values())
                and any(t["source"] == "tracked" and (t["progress"] or 0) > 0
                        for t in ts.values())
                and any(t["source"] == "command" and t["state"] == "running"
                        and (t["progress"] or 0) > 0 for t in ts.values()))

    wait_for(seen, 20, interval=0.2, msg="a failure, substeps, tracked and parsed progress")
    for t in daemon.tasks("?limit=100")["tasks"]:
        daemon.unix("POST", f"/api/tasks/{t['id']}/cancel")
