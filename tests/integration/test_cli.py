"""The `tl` command against a real daemon: add, ls, show, log, wait, rm."""

import json
import re
import time


def test_add_show_ls_log_wait(daemon):
    tid = daemon.add_cli("--", "sh", "-c", "echo hello-out; echo hello-err >&2")

    cp = daemon.tl("wait", tid)
    assert cp.returncode == 0

    t = daemon.tl_json("show", tid, "--json")
    assert t["id"] == tid
    assert t["state"] == "completed", t
    assert t["exit_code"] == 0, t
    assert t["source"] == "command"
    assert t["command"]["argv"] == ["sh", "-c", "echo hello-out; echo hello-err >&2"]
    assert t["started_at"] and t["finished_at"] and t["created_at"]

    human = daemon.tl("show", tid).stdout
    assert str(tid) in human and "completed" in human, human

    listing = daemon.tl_json("ls", "--json")
    tasks = listing["tasks"] if isinstance(listing, dict) else listing
    assert [x["id"] for x in tasks] == [tid], listing
    assert re.search(rf"\b{tid}\b", daemon.tl("ls").stdout)

    log = daemon.tl("log", tid)
    both = log.stdout + log.stderr
    assert "hello-out" in both and "hello-err" in both, log


def test_add_prints_something_and_print_id_only_the_id(daemon):
    cp = daemon.tl("add", "--", "true")
    assert cp.stdout.strip(), "tl add printed nothing"
    cp = daemon.tl("add", "--print-id", "--", "true")
    assert re.fullmatch(r"[0-9]+\n?", cp.stdout), repr(cp.stdout)
    ids = [t["id"] for t in daemon.tasks()["tasks"]]
    assert int(cp.stdout) in ids and len(ids) == 2, ids


def test_add_wait_exits_with_the_commands_code(daemon):
    cp = daemon.tl("add", "--wait", "--", "sh", "-c", "exit 3", check=False)
    assert cp.returncode == 3, (cp.returncode, cp.stdout, cp.stderr)
    cp = daemon.tl("add", "--wait", "--", "true", check=False)
    assert cp.returncode == 0, (cp.returncode, cp.stdout, cp.stderr)


def test_wait_on_a_failed_task_is_nonzero(daemon):
    ok = daemon.add_cli("--", "true")
    bad = daemon.add_cli("--", "sh", "-c", "exit 5")
    assert daemon.tl("wait", ok, check=False).returncode == 0
    cp = daemon.tl("wait", bad, check=False)
    assert cp.returncode != 0, cp
    cp = daemon.tl("wait", ok, bad, check=False)
    assert cp.returncode != 0, cp


def test_wait_blocks_until_the_task_ends(daemon):
    tid = daemon.add_cli("--", "sleep", "1")
    t0 = time.monotonic()
    daemon.tl("wait", tid)
    assert time.monotonic() - t0 >= 0.5
    assert daemon.task(tid)["state"] == "completed"


def test_json_outputs_parse(daemon):
    tid = daemon.add_cli("--", "true")
    daemon.tl("wait", tid)
    for args in (("ls", "--json"), ("show", tid, "--json"), ("stats", "--json")):
        cp = daemon.tl(*args)
        json.loads(cp.stdout)


def test_unknown_id_is_an_error(daemon):
    for cmd in ("show", "log", "wait", "cancel", "pause", "resume", "retry", "rm"):
        cp = daemon.tl(cmd, 999999, check=False)
        assert cp.returncode != 0, f"tl {cmd} 999999 exited 0: {cp.stdout!r}"
        assert cp.stderr.strip(), f"tl {cmd} 999999 wrote nothing to stderr"
        assert "999999" in cp.stderr or "not" in cp.stderr.lower(), cp.stderr


def test_rm_removes_a_finished_task(daemon):
    tid = daemon.add_cli("--", "true")
    daemon.tl("wait", tid)
    daemon.tl("rm", tid)
    assert daemon.unix("GET", f"/api/tasks/{tid}").status == 404
    assert daemon.tl("show", tid, check=False).returncode != 0


def test_cli_options_reach_the_task(daemon):
    tid = daemon.add_cli("--title", "my title", "--priority", "high", "--group", "g1",
                         "--timeout", "30", "--retries", "2", "--", "true")
    t = daemon.task(tid)
    assert t["title"] == "my title"
    assert t["priority"] == 10
    assert t["group"] == "g1"
    assert t["timeout_s"] == 30
    assert t["max_retries"] == 2
