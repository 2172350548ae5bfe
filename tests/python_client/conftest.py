"""Fixtures for the Python client tests: a real `tl serve` per test, on a
throwaway data dir, loopback only; clients over the unix socket and over TCP
with the token.

Run: /usr/bin/python3 -m pytest tests/python_client   (TL_BIN, default build/tl)
"""

import shutil
import signal
import tempfile

import pytest

from .tl_pyclient_util import Daemon  # noqa: E402  (puts clients/python on sys.path)

import tasklight  # noqa: E402
import tasklight.manager  # noqa: E402

DEFAULT_TIME_LIMIT = 60


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "time_limit(seconds): hard limit for one test (default 60 s)")


class TimeLimitExceeded(BaseException):
    pass


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
    if rep.failed and hasattr(item, "funcargs"):
        d = item.funcargs.get("daemon")
        if isinstance(d, Daemon):
            rep.sections.append(("daemon log", d.read_log()))


@pytest.fixture
def daemon():
    base = tempfile.mkdtemp(prefix="tl-pyclient-")
    d = Daemon(base)
    try:
        d.start()
        yield d
    finally:
        d.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["unix", "tcp"])
def transport(request):
    return request.param


@pytest.fixture
def client(daemon, transport):
    """A Client of the test daemon, over the unix socket or TCP + token; also
    the process-wide default client (what the seed APIs use)."""
    c = daemon.unix_client() if transport == "unix" else daemon.tcp_client()
    tasklight.set_default_client(c)
    with tasklight.manager._seed1_lock:
        tasklight.manager._seed1_trackers.clear()
    try:
        yield c
    finally:
        tasklight.set_default_client(None)
        c.close()


@pytest.fixture
def unix_client(daemon):
    c = daemon.unix_client()
    tasklight.set_default_client(c)
    try:
        yield c
    finally:
        tasklight.set_default_client(None)
        c.close()


