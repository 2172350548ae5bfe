"""Black-box fixtures: the real `tl serve` on a throwaway data dir, loopback only.

Every test gets its own daemon (the `daemon` fixture) and a hard time limit
(SIGALRM, 60 s unless marked `@pytest.mark.time_limit(N)`). On failure the
daemon's own output is attached to the report.
"""

import http.client
import json as jsonlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime

import pytest
import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TL_BIN = os.path.abspath(os.environ.get("TL_BIN") or os.path.join(REPO, "build", "tl"))
DEFAULT_TIME_LIMIT = 60

FINAL_STATES = ("completed", "failed", "cancelled")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "time_limit(seconds): hard limit for one test (default 60 s)")


# ---- time limit --------------------------------------------------------------


class TimeLimitExceeded(BaseException):
    """Raised by SIGALRM; a BaseException so no `except Exception` swallows it."""


@pytest.fixture(autouse=True)
def _time_limit(request):
    marker = request.node.get_closest_marker("time_limit")
    limit = int(marker.args[0]) if marker else DEFAULT_TIME_LIMIT

    def on_alarm(signum, frame):
        raise TimeLimitExceeded(f"test exceeded its time limit of {limit} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    d = item.funcargs.get("daemon") if hasattr(item, "funcargs") else None
    if isinstance(d, Daemon):
        rep.sections.append(("daemon log", d.read_log()))


# ---- helpers -----------------------------------------------------------------


def wait_for(pred, timeout=10.0, interval=0.02, msg=None):
    """Polls pred() every `interval` s until it returns something truthy and
    returns that; fails after `timeout` s showing the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {msg or pred!r}; last value: {last!r}")
        time.sleep(interval)


def parse_ts(s):
    """RFC 3339 UTC ("2026-11-21T23:59:01.123Z") to seconds since the epoch."""
    assert isinstance(s, str) and s.endswith("Z"), f"not an RFC 3339 UTC time: {s!r}"
    return datetime.fromisoformat(s[:-1] + "+00:00").timestamp()


def proc_stat(pid):
    """(state, ppid, pgid) of pid from /proc/PID/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def proc_environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    env = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            env[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    return env


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def pids_in_group(pgid):
    """Every process (zombies included) whose process group is pgid."""
    out = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st and st[2] == pgid:
            out.append(pid)
    return out


# ---- the daemon --------------------------------------------------------------


class Response:
    def __init__(self, status, headers, body):
        self.status = self.status_code = status
        self.headers = headers
        self.body = body

    def json(self):
        return jsonlib.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Daemon:
    wait_for = staticmethod(wait_for)

    def __init__(self, base):
        self.base = base
        self.data_dir = os.path.join(base, "data")
        self.log_path = os.path.join(base, "daemon.log")
        self.socket_path = os.path.join(self.data_dir, "tasklight.sock")
        self.proc = None
        self.url = None
        self.token = None
        self.starts = 0
        self.extra_args = []  # more `tl serve` options, for the next start

    # -- lifecycle --

    def start(self, timeout=10.0):
        listen_file = os.path.join(self.data_dir, "listen")
        if os.path.exists(listen_file):
            os.unlink(listen_file)  # stale after a killed daemon
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"==== start {self.starts}: {TL_BIN} serve ====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [TL_BIN, "serve", "--data-dir", self.data_dir, "--listen", "127.0.0.1:0",
             *self.extra_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.base, env=self.env(), start_new_session=True)
        log.close()

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"tl serve exited with {self.proc.returncode} before serving:\n{self.read_log()}")
            try:
                with open(listen_file) as f:
                    text = f.read().strip()
            except FileNotFoundError:
                return None
            return text if re.fullmatch(r"[0-9.]+:[0-9]+", text) else None

        try:
            addr = wait_for(listening, timeout, msg=f"{listen_file} to appear")
        except AssertionError as e:
            raise AssertionError(f"{e}\ndaemon log:\n{self.read_log()}") from None
        self.url = f"http://{addr}"
        with open(os.path.join(self.data_dir, "token")) as f:
            self.token = f.read().strip()
        return self

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Sends sig and waits for the daemon to exit (SIGKILL after timeout)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def dispose(self):
        """Stops the daemon and kills whatever its tasks left behind."""
        try:
            self.stop(signal.SIGTERM)
        finally:
            self.kill_leftovers()

    def restart(self, kill=signal.SIGTERM):
        self.stop(kill)
        return self.start()

    def env(self, **extra):
        env = dict(os.environ)
        env["TASKLIGHT_DATA_DIR"] = self.data_dir
        env["NO_COLOR"] = "1"
        for k in ("TASKLIGHT_TASK_ID", "TASKLIGHT_SOCKET", "TASKLIGHT_URL"):
            env.pop(k, None)
        env.update(extra)
        return env

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-20000:]
        except FileNotFoundError:
            return "(no daemon log)"

    # -- clients --

    def tl(self, *args, check=True, timeout=30, input=None, env=None):
        """Runs the CLI against this daemon; returns the CompletedProcess."""
        cp = subprocess.run(
            [TL_BIN, *[str(a) for a in args]], capture_output=True, text=True,
            timeout=timeout, env=env or self.env(), cwd=self.base,
            input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise AssertionError(
                f"tl {' '.join(map(str, args))} exited {cp.returncode}\n"
                f"stdout: {cp.stdout}\nstderr: {cp.stderr}")
        return cp

    def tl_json(self, *args, **kw):
        cp = self.tl(*args, **kw)
        try:
            return jsonlib.loads(cp.stdout)
        except ValueError as e:
            raise AssertionError(f"tl {' '.join(map(str, args))}: output is not JSON ({e}):\n{cp.stdout}")

    def api(self, method, path, json=None, **kw):
        """HTTP over TCP with the Bearer token (requests.Response)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        headers.update(kw.pop("headers", {}) or {})
        kw.setdefault("timeout", 10)
        return requests.request(method, self.url + path, json=json, headers=headers, **kw)

    def unix(self, method, path, body=None, headers=None, timeout=10):
        """HTTP over the unix socket, no token. body: dict/list (JSON), str or bytes."""
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = jsonlib.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        conn = UnixHTTPConnection(self.socket_path, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, dict(r.getheaders()), r.read())
        finally:
            conn.close()

    # -- task helpers --

    def add(self, *argv, **opts):
        """Creates a command task over the unix socket; returns the task."""
        body = {"command": {"argv": list(argv)}}
        for k in ("cwd", "env"):
            if k in opts:
                body["command"][k] = opts.pop(k)
        body.update(opts)
        r = self.unix("POST", "/api/tasks", body)
        assert r.status == 201, f"create {argv}: {r!r}"
        return r.json()

    def track(self, **body):
        """Creates a tracked task over the unix socket; returns the task."""
        r = self.unix("POST", "/api/tasks", body)
        assert r.status == 201, f"create tracked {body}: {r!r}"
        return r.json()

    def add_cli(self, *args):
        """`tl add --print-id ARGS`; returns the id."""
        cp = self.tl("add", "--print-id", *args)
        out = cp.stdout.strip()
        assert re.fullmatch(r"[0-9]+", out), f"tl add --print-id printed {cp.stdout!r}"
        return int(out)

    def task(self, tid):
        r = self.unix("GET", f"/api/tasks/{tid}")
        assert r.status == 200, f"GET task {tid}: {r!r}"
        return r.json()

    def tasks(self, query=""):
        r = self.unix("GET", "/api/tasks" + query)
        assert r.status == 200, f"GET /api/tasks{query}: {r!r}"
        return r.json()

    def logs(self, tid, tail=0):
        r = self.unix("GET", f"/api/tasks/{tid}/logs?tail={tail}")
        assert r.status == 200, f"GET logs {tid}: {r!r}"
        return r.json()["lines"]

    def set_parallel(self, n, group="default"):
        r = self.unix("PUT", f"/api/groups/{group}", {"parallel": n})
        assert r.status == 200, f"PUT group {group}: {r!r}"

    def wait_state(self, tid, states, timeout=10.0):
        if isinstance(states, str):
            states = (states,)
        last = {}

        def check():
            last["t"] = self.task(tid)
            return last["t"] if last["t"]["state"] in states else None

        try:
            return wait_for(check, timeout, msg=f"task {tid} to be {'/'.join(states)}")
        except AssertionError:
            t = last.get("t", {})
            raise AssertionError(
                f"task {tid} did not reach {'/'.join(states)} in {timeout} s: state "
                f"{t.get('state')!r}, error {t.get('error')!r}, exit_code {t.get('exit_code')!r}") from None

    def wait_final(self, tid, timeout=10.0):
        return self.wait_state(tid, FINAL_STATES, timeout)

    # -- processes --

    def task_pids(self, tid):
        """Live processes (zombies have no environ) started for task tid by this daemon."""
        out = []
        for pid in all_pids():
            env = proc_environ(pid)
            if env.get("TASKLIGHT_TASK_ID") == str(tid) and self._ours(env):
                out.append(pid)
        return out

    def task_pgid(self, tid, timeout=5.0):
        pids = wait_for(lambda: self.task_pids(tid), timeout, msg=f"a process of task {tid}")
        for pid in pids:
            st = proc_stat(pid)
            if st:
                return st[2]
        raise AssertionError(f"processes of task {tid} vanished")

    def _ours(self, env):
        sock = env.get("TASKLIGHT_SOCKET", "")
        url = env.get("TASKLIGHT_URL", "")
        return self.data_dir in sock or self.data_dir in url or (not sock and not url)

    def kill_leftovers(self):
        """SIGKILLs the process groups of any task process this daemon left."""
        groups = set()
        for pid in all_pids():
            env = proc_environ(pid)
            if "TASKLIGHT_TASK_ID" in env and self._ours(env):
                st = proc_stat(pid)
                if st:
                    groups.add(st[2])
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for g in groups:
            if g > 1 and g != os.getpgrp():
                try:
                    os.killpg(g, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        # a daemon that `tl add` may have started on its own for this data dir
        for pid in all_pids():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if b"serve" in cmd and any(self.data_dir.encode() in c for c in cmd) \
                    and (self.proc is None or pid != self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def daemon():
    if not os.access(TL_BIN, os.X_OK):
        pytest.fail(f"{TL_BIN} is not built (set TL_BIN or run make)")
    base = tempfile.mkdtemp(prefix="tl-it-")
    d = Daemon(base)
    try:
        d.start()
        yield d
        d.stop(signal.SIGTERM)
        # A sanitizer build reports at exit (leaks) or at the fault: either
        # fails the test that ran the daemon.
        log = d.read_log()
        if "Sanitizer" in log or "runtime error:" in log:
            pytest.fail("sanitizer report in the daemon log:\n" + log[-20000:])
    finally:
        try:
            d.dispose()
        finally:
            shutil.rmtree(base, ignore_errors=True)
