"""Helpers of the Python client tests (a module of its own so that the test
files need not import `conftest`, which tests/integration has too)."""

import os
import re
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENT_DIR = os.path.join(REPO, "clients", "python")
if CLIENT_DIR not in sys.path:
    sys.path.insert(0, CLIENT_DIR)

import tasklight  # noqa: E402

TL_BIN = os.path.abspath(os.environ.get("TL_BIN") or os.path.join(REPO, "build", "tl"))
PYTHON = sys.executable
FINAL_STATES = ("completed", "failed", "cancelled")
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")


def wait_for(pred, timeout=10.0, interval=0.02, msg=None):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for "
                                 f"{msg or pred!r}; last value: {last!r}")
        time.sleep(interval)


class Daemon:
    def __init__(self, base):
        self.base = base
        self.data_dir = os.path.join(base, "data")
        self.socket_path = os.path.join(self.data_dir, "tasklight.sock")
        self.log_path = os.path.join(base, "daemon.log")
        self.proc = None
        self.url = None
        self.token = None

    def start(self, timeout=10.0):
        listen = os.path.join(self.data_dir, "listen")
        if os.path.exists(listen):
            os.unlink(listen)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [TL_BIN, "serve", "--data-dir", self.data_dir, "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.base, env=self.env(), start_new_session=True)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"tl serve exited with {self.proc.returncode}:\n"
                                     f"{self.read_log()}")
            try:
                with open(listen) as f:
                    text = f.read().strip()
            except FileNotFoundError:
                return None
            return text if re.fullmatch(r"[0-9.]+:[0-9]+", text) else None

        addr = wait_for(ready, timeout, msg=f"{listen} to appear")
        self.url = f"http://{addr}"
        with open(os.path.join(self.data_dir, "token")) as f:
            self.token = f.read().strip()
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def env(self, **extra):
        env = dict(os.environ)
        for k in ("TASKLIGHT_TASK_ID", "TASKLIGHT_SOCKET", "TASKLIGHT_URL",
                  "TASKLIGHT_TOKEN"):
            env.pop(k, None)
        env["TASKLIGHT_DATA_DIR"] = self.data_dir
        env["NO_COLOR"] = "1"
        pp = env.get("PYTHONPATH")
        env["PYTHONPATH"] = CLIENT_DIR + (os.pathsep + pp if pp else "")
        env.update(extra)
        return env

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-20000:]
        except FileNotFoundError:
            return "(no daemon log)"

    def tl(self, *args, check=True, timeout=30):
        cp = subprocess.run([TL_BIN, *map(str, args)], capture_output=True, text=True,
                            timeout=timeout, env=self.env(), cwd=self.base,
                            stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise AssertionError(f"tl {' '.join(map(str, args))} exited {cp.returncode}\n"
                                 f"stdout: {cp.stdout}\nstderr: {cp.stderr}")
        return cp

    def unix_client(self, **kw):
        return tasklight.Client(socket_path=self.socket_path, **kw)

    def tcp_client(self, **kw):
        return tasklight.Client(url=self.url, token=self.token, **kw)

    def python(self, code_or_path, *args, env=None, timeout=60, check=True, popen=False):
        """Runs Python (a file path or code) with this daemon in the environment."""
        argv = [PYTHON, code_or_path, *args] if code_or_path.endswith(".py") \
            else [PYTHON, "-c", code_or_path, *args]
        e = env or self.env()
        if popen:
            return subprocess.Popen(argv, env=e, cwd=self.base, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    stdin=subprocess.DEVNULL)
        cp = subprocess.run(argv, env=e, cwd=self.base, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise AssertionError(f"{argv[1:]} exited {cp.returncode}\nstdout: {cp.stdout}\n"
                                 f"stderr: {cp.stderr}")
        return cp


def wait_state(client, tid, states, timeout=10.0):
    if isinstance(states, str):
        states = (states,)
    return wait_for(lambda: (lambda t: t if t["state"] in states else None)(client.get_task(tid)),
                    timeout, msg=f"task {tid} to be {'/'.join(states)}")


class CountingClient(tasklight.Client):
    """Counts requests by (method, path prefix) and connections opened."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls = []
        self.connections = 0

    def request(self, method, path, body=None, **kw):
        self.calls.append((method, path, body))
        return super().request(method, path, body, **kw)

    def _new_conn(self, timeout):
        self.connections += 1
        return super()._new_conn(timeout)
