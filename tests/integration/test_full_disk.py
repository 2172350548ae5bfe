"""A full disk: the daemon refuses what it cannot store, with a clear JSON
error, stays up, keeps serving reads, loses nothing it acknowledged, and
recovers when space comes back.

The data directory is a 3 MiB tmpfs (root only: the test is skipped, with
the reason, where mounting is not permitted), filled with a file while the
daemon runs.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import FINAL_STATES, TL_BIN, Daemon, wait_for

FULL_ERRORS = {507: "storage_full", 503: "store_error"}


def refused(r):
    """The error code when r is a store refusal (507/503 with a JSON error),
    else None."""
    if r.status not in FULL_ERRORS:
        return None
    try:
        err = r.json()["error"]
    except (ValueError, KeyError, TypeError):
        raise AssertionError(f"a {r.status} without a JSON error body: {r!r}") from None
    assert err.get("code") == FULL_ERRORS[r.status] and err.get("message"), r
    return err["code"]


def mount_tmpfs(path, size="3m"):
    cp = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path],
                        capture_output=True, text=True)
    return cp.returncode == 0, cp.stderr.strip()


def umount(path):
    for args in (["umount", path], ["umount", "-l", path]):
        if subprocess.run(args, capture_output=True).returncode == 0:
            return


@pytest.fixture
def disk_daemon():
    if not os.access(TL_BIN, os.X_OK):
        pytest.fail(f"{TL_BIN} is not built (set TL_BIN or run make)")
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs as the data directory needs root")
    base = tempfile.mkdtemp(prefix="tl-disk-")
    d = Daemon(base)
    os.makedirs(d.data_dir, mode=0o700)
    ok, why = mount_tmpfs(d.data_dir)
    if not ok:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"mounting a tmpfs is not permitted here: {why}")
    try:
        d.start()
        yield d
    finally:
        try:
            d.dispose()
        finally:
            umount(d.data_dir)
            shutil.rmtree(base, ignore_errors=True)


def fill(path):
    """Writes path until the file system is full; returns its size."""
    n = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for block in (65536, 4096, 512, 1):
            while True:
                try:
                    n += os.write(fd, b"\0" * block)
                except OSError:
                    break
    finally:
        os.close(fd)
    return n


def stable(task):
    return {k: v for k, v in task.items() if k not in ("elapsed_s", "eta_s", "estimated_total_s")}


@pytest.mark.time_limit(90)
def test_full_disk_refuses_cleanly_and_recovers(disk_daemon):
    d = disk_daemon
    problems = []

    # Before: a running tracked task with a log, a completed one, a tracked
    # task a reporter will try to complete while the disk is full, and a
    # command that will end while it is full.
    def tracked(title, **kw):
        return d.track(title=title, heartbeat_timeout_s=0, **kw)["id"]

    running = tracked("running before", key="running-before", total=10)
    assert d.unix("POST", f"/api/tasks/{running}/logs", {"line": "logged before"}).status == 200
    done = tracked("done before")
    assert d.unix("PATCH", f"/api/tasks/{done}", {"state": "completed", "result": {"v": 1}}).status == 200
    to_complete = tracked("completed while full")
    ends_while_full = d.add("sleep", "2.5", title="ends while full")["id"]
    d.wait_state(ends_while_full, "running")
    before = {tid: stable(d.task(tid)) for tid in (running, done)}

    filler = os.path.join(d.data_dir, "filler")
    fill(filler)
    st = os.statvfs(d.data_dir)
    assert st.f_bavail == 0, f"the tmpfs still has {st.f_bavail} free blocks"

    # Creates until the store refuses: every answer is a success or a 507/503 JSON error.
    acked, refused_keys = {}, []
    for i in range(60):
        key = f"while-full-{i}"
        r = d.unix("POST", "/api/tasks", {"title": key, "key": key, "description": "d" * 40000,
                                          "heartbeat_timeout_s": 0})
        if r.status in (200, 201):
            acked[key] = r.json()["id"]
        elif refused(r):
            refused_keys.append(key)
            if len(refused_keys) >= 3:
                break
        else:
            raise AssertionError(f"create while full: {r!r}")
    assert refused_keys, f"60 creates of 40 KB on a full 3 MiB disk were all accepted: {sorted(acked)}"

    # A state change while full is refused the same way.
    r = d.unix("PATCH", f"/api/tasks/{to_complete}", {"state": "completed", "result": {"while": "full"}})
    change_refused = refused(r)
    if not change_refused:
        problems.append(f"completing a task on a full disk was not refused: {r!r}")
    else:
        t = d.task(to_complete)
        if t["state"] != "running":
            problems.append(f"a completion refused with {r.status} shows anyway: the task reads "
                            f"{t['state']!r} right after ('nothing was changed', docs/API.md)")
    r = d.unix("POST", f"/api/tasks/{running}/logs", {"line": "logged while full"})
    log_refused = r.status != 200
    if log_refused:
        refused(r)

    # The daemon is up and reads work.
    assert d.proc.poll() is None, f"the daemon died on a full disk (exit {d.proc.returncode})"
    h = d.unix("GET", "/healthz")
    assert h.status == 200 and h.json()["ok"] is True, h
    assert d.unix("GET", "/api/tasks?limit=1000").status == 200
    assert d.unix("GET", "/api/stats").status == 200
    assert [ln["text"] for ln in d.logs(running, tail=0)][:1] == ["logged before"]
    for tid, old in before.items():
        assert stable(d.task(tid)) == old, f"task {tid} changed while the disk was full"
    for key, tid in acked.items():
        assert d.task(tid)["key"] == key

    # The command ends while the disk is still full.
    d.wait_final(ends_while_full, timeout=10)
    assert os.path.exists(filler) and os.statvfs(d.data_dir).f_bavail == 0

    # Space comes back: writes work again.
    os.unlink(filler)

    def create_works():
        r = d.unix("POST", "/api/tasks", {"title": "after", "key": "after", "heartbeat_timeout_s": 0})
        return r if r.status in (200, 201) else None

    after = wait_for(create_works, 10, 0.2, msg="a create to succeed once space is back").json()["id"]
    r = d.unix("PATCH", f"/api/tasks/{running}", {"current": 7, "message": "after the disk was full"})
    assert r.status == 200, r
    assert d.unix("POST", f"/api/tasks/{running}/logs", {"line": "logged after"}).status == 200
    if change_refused:
        # the reporter tries again, as a refusal tells it to
        r = d.unix("PATCH", f"/api/tasks/{to_complete}", {"state": "completed", "result": {"retried": True}})
        if r.status != 200:
            problems.append(f"completing again after a refused completion: {r!r}")
    time.sleep(1.5)  # the daemon's retry of a failed commit runs each second

    # What the store holds, after a crash.
    d.stop(signal.SIGKILL)
    d.start()
    listing = d.tasks("?limit=1000")
    tasks = {t["id"]: t for t in listing["tasks"]}
    keys = {t["key"]: t["id"] for t in listing["tasks"] if t["key"]}
    for key, tid in acked.items():
        if keys.get(key) != tid:
            problems.append(f"task {tid} ({key}), acknowledged while the disk was full, is gone")
    for key in refused_keys:
        if key in keys:
            problems.append(f"the create of {key} was refused, yet task {keys[key]} has that key")
    if "after" not in keys or keys["after"] != after:
        problems.append(f"the create after recovery (task {after}) is gone")
    t = tasks.get(ends_while_full)
    if not t or t["state"] != "completed" or t["exit_code"] != 0:
        problems.append(f"the command that ended while the disk was full is {t and t['state']!r} "
                        f"(exit {t and t['exit_code']!r}, error {t and t['error']!r}) after recovery")
    t = tasks.get(to_complete)
    if change_refused:
        want = {"retried": True}
        if not t or t["state"] != "completed" or t["result"] != want:
            problems.append(f"the task whose completion was refused and then retried is "
                            f"{t and t['state']!r} with result {t and t['result']!r}, expected completed "
                            f"with {want}")
    for tid, old in before.items():
        new = stable(tasks.get(tid) or {})
        if tid == running:
            new = {k: v for k, v in new.items() if k not in ("current", "progress", "message", "updated_at")}
            old = {k: v for k, v in old.items() if k not in ("current", "progress", "message", "updated_at")}
        if new != old:
            problems.append(f"task {tid} changed: {old} -> {new}")
    texts = [ln["text"] for ln in d.logs(running, tail=0)]
    if "logged before" not in texts or "logged after" not in texts:
        problems.append(f"acknowledged log lines lost: {texts}")
    if log_refused and "logged while full" in texts:
        problems.append("a log line refused while the disk was full is in the log")
    for t in tasks.values():
        if (t["state"] in FINAL_STATES) != bool(t["finished_at"]):
            problems.append(f"task {t['id']} is {t['state']} with finished_at {t['finished_at']!r}")
    counts = {s: 0 for s in ("queued", "running", "paused", "completed", "failed", "cancelled")}
    for t in tasks.values():
        counts[t["state"]] += 1
    if listing["counts"] != counts:
        problems.append(f"counts {listing['counts']} differ from the listing {counts}")

    log = d.read_log()
    if "Sanitizer" in log or "runtime error:" in log:
        problems.append("sanitizer report in the daemon log:\n" + log[-5000:])
    assert not problems, "\n".join(problems)
