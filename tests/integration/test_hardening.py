"""Hostile input against a live daemon: one daemon for the whole module.

The matrix (HOSTILE) is a table of requests, each with the statuses it may
get. Malformed ones go over raw sockets. After every case the daemon is
alive, answers /healthz, and holds exactly the tasks it held before (a
rejected request creates nothing). At the end of the module the tasks made
before the matrix are intact and the daemon's log has at most one line per
rejected request.

Statuses: the daemon answers with JSON {"error": {"code", "message"}}
(docs/API.md); the HTTP parser under it (libevent's evhttp) answers some
malformed requests itself, with an HTML page, before the daemon sees them:
those cases are marked `parser`, and for them only the status (or a closed
connection) is checked.
"""

import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest
import requests

import conftest
from conftest import TL_BIN, Daemon

CLOSED = "closed"  # the server closed the connection without an answer

# Requests sent on purpose to be refused; the log may have a line for each.
REJECTIONS = {"n": 0}


# ---- the daemon of this module ----------------------------------------------


@pytest.fixture(scope="module")
def hd(tmp_path_factory):
    """A daemon with tasks made before the matrix: a finished command task
    with output, a running tracked task with progress, metadata, a substep
    and log lines, and a running command task with one queued behind it."""
    if not os.access(TL_BIN, os.X_OK):
        pytest.fail(f"{TL_BIN} is not built (set TL_BIN or run make)")
    d = Daemon(str(tmp_path_factory.mktemp("hardening")))
    try:
        d.start()
        done = d.add("sh", "-c", "echo intact-output", title="finished before")
        d.wait_final(done["id"])
        tracked = d.track(title="tracked before", kind="hardening", key="tracked-before",
                          total=10, metadata={"k": "v"}, heartbeat_timeout_s=0)["id"]
        assert d.unix("PATCH", f"/api/tasks/{tracked}", {"current": 4, "message": "4 of 10"}).status == 200
        assert d.unix("POST", f"/api/tasks/{tracked}/substeps", {"name": "step one", "id": "s1"}).status == 201
        assert d.unix("POST", f"/api/tasks/{tracked}/logs", {"lines": ["kept 1", "kept 2"]}).status == 200
        d.set_parallel(1, "hold")
        running = d.add("sleep", "600", group="hold", title="running before")
        d.wait_state(running["id"], "running")
        queued = d.add("true", group="hold", title="queued before", key="queued-before")
        d.ids = {"done": done["id"], "tracked": tracked, "running": running["id"],
                 "queued": queued["id"]}
        d.before = {name: d.task(tid) for name, tid in d.ids.items()}
        d.before_logs = {name: d.logs(tid, tail=0) for name, tid in d.ids.items()}
        d.log_start = len(log_lines(d))
        yield d
    finally:
        d.dispose()


def log_lines(d):
    """Every line of the daemon's log (Daemon.read_log keeps only the end)."""
    with open(d.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace").splitlines()


def task_ids(d):
    listing = d.tasks("?limit=1000")
    return {t["id"] for t in listing["tasks"]}


def stable(task):
    """A task without the fields that move with the clock."""
    return {k: v for k, v in task.items() if k not in ("elapsed_s", "eta_s", "estimated_total_s")}


# ---- raw HTTP ---------------------------------------------------------------


class Raw:
    """An answer read off a raw socket; status None when the server closed
    the connection without answering (closed True) or said nothing before
    the time limit (closed False)."""

    def __init__(self, data, closed, elapsed):
        self.data = data
        self.closed = closed
        self.elapsed = elapsed
        self.status = None
        self.headers = {}
        self.body = b""
        head, sep, body = data.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/\d\.\d (\d{3})", head)
        if m and sep:
            self.status = int(m.group(1))
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.decode("latin-1").partition(":")
                self.headers[k.strip().lower()] = v.strip()
            self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return (f"<Raw status={self.status} closed={self.closed} after {self.elapsed:.2f} s: "
                f"{self.data[:400]!r}>")


def connect(d, door="tcp", timeout=10):
    if door == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(d.socket_path)
        return s
    host, port = d.url[len("http://"):].split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def exchange(d, data, door="tcp", timeout=10.0):
    """Writes data (in a thread, so a server that answers before reading it
    all is still heard) and reads until the answer is whole, the server
    closes, or timeout."""
    REJECTIONS["n"] += 1
    s = connect(d, door, timeout)
    t0 = time.monotonic()

    def send():
        try:
            s.sendall(data)
        except OSError:
            pass

    th = threading.Thread(target=send, daemon=True)
    th.start()
    buf = b""
    closed = False
    try:
        while time.monotonic() - t0 < timeout:
            s.settimeout(max(0.05, timeout - (time.monotonic() - t0)))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
            if sep and m and len(body) >= int(m.group(1)):
                break
    finally:
        s.close()
        th.join(2)
    return Raw(buf, closed, time.monotonic() - t0)


def request(method, path, body=None, headers=(), token=None, close=True, version="HTTP/1.1"):
    """A well-formed request (unless its parts are not)."""
    lines = [f"{method} {path} {version}".encode() if isinstance(path, str)
             else method.encode() + b" " + path + b" " + version.encode(),
             b"Host: 127.0.0.1"]
    if token:
        lines.append(f"Authorization: Bearer {token}".encode())
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        lines.append(b"Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}".encode())
    lines += [h.encode() if isinstance(h, str) else h for h in headers]
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def assert_json_error(r, code=None):
    ctype = r.headers.get("content-type", "")
    assert ctype.startswith("application/json"), f"error answer is not JSON ({ctype!r}): {r!r}"
    try:
        body = r.json()
    except ValueError:
        raise AssertionError(f"error body does not parse as JSON: {r!r}") from None
    err = body.get("error") if isinstance(body, dict) else None
    assert isinstance(err, dict), f"no error object: {body!r}"
    assert isinstance(err.get("code"), str) and err["code"], f"no error code: {body!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"no error message: {body!r}"
    if code:
        assert err["code"] == code, f"error code {err['code']!r}, expected {code!r}: {body!r}"
    return err


# ---- the matrix -------------------------------------------------------------
#
# Each case: id, then a dict:
#   send: bytes, or a function (daemon, ids) -> bytes; {T} {D} {R} {Q} in a
#         str/bytes are the ids of the tracked, done, running, queued tasks
#   want: the statuses it may get (CLOSED: the connection may be closed
#         without an answer)
#   code: the error code the daemon must give, when it answers
#   parser: the HTTP parser may answer (its page is not JSON)
#   door: "tcp" (default, with the token unless token=False) or "unix"
#   within: the answer must come within so many seconds

MIB = 1024 * 1024


def body_case(method, path, body, want, code=None, **kw):
    return dict(method=method, path=path, body=body, want=want, code=code, **kw)


def raw_case(data, want, **kw):
    return dict(raw=data, want=want, **kw)


def deep(n, opener='{"a":', closer="}"):
    return opener * n + "1" + closer * n


HOSTILE = [
    # -- oversized bodies
    ("body-over-1mib", body_case(
        "POST", "/api/tasks",
        json.dumps({"command": {"argv": ["true"]}, "description": "y" * (MIB + 10)}), (413,), "too_large")),
    ("body-3mib-of-spaces", body_case("POST", "/api/tasks", b" " * (3 * MIB), (413,), "too_large")),
    ("body-over-1mib-log-lines", body_case(
        "POST", "/api/tasks/{T}/logs", json.dumps({"lines": ["z" * 1000] * 1100}), (413,), "too_large")),
    ("declared-length-9mib-refused-unread", raw_case(
        lambda d: request("POST", "/api/tasks", token=d.token, close=False,
                          headers=[f"Content-Length: {9 * MIB}", "Content-Type: application/json"]),
        (413,), parser=True, within=3)),
    ("declared-length-beyond-uint64", raw_case(
        lambda d: request("POST", "/api/tasks", token=d.token, close=False,
                          headers=["Content-Length: 99999999999999999999999"]),
        (400, 413, CLOSED), parser=True, within=3)),
    ("declared-length-negative", raw_case(
        lambda d: request("POST", "/api/tasks", token=d.token, close=False, headers=["Content-Length: -5"]),
        (400, CLOSED), parser=True, within=3)),
    ("two-different-content-lengths", raw_case(
        lambda d: request("POST", "/api/tasks", token=d.token, close=False,
                          headers=["Content-Length: 2", "Content-Length: 5"]) + b"{}",
        (400, CLOSED), parser=True, within=3)),
    # -- deep JSON
    ("json-object-100-deep", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"]},"metadata":' + deep(100) + "}", (400,), "bad_request")),
    ("json-array-100-deep", body_case("POST", "/api/tasks", "[" * 100 + "]" * 100, (400,), "bad_request")),
    ("json-200000-deep", body_case("POST", "/api/tasks", "[" * 200000 + "]" * 200000, (400, 413))),
    ("json-100-deep-in-patch", body_case(
        "PATCH", "/api/tasks/{T}", '{"metadata":{"x":' + deep(100, "[", "]") + "}}", (400,), "bad_request")),
    ("json-100-deep-in-result", body_case(
        "PATCH", "/api/tasks/{T}", '{"state":"completed","result":' + deep(100) + "}", (400,), "bad_request")),
    # -- broken JSON
    ("json-truncated", body_case("POST", "/api/tasks", '{"command": {"argv": ["true"]', (400,), "bad_request")),
    ("json-not-json", body_case("POST", "/api/tasks", "not json at all", (400,), "bad_request")),
    ("json-trailing-garbage", body_case("POST", "/api/tasks", '{"title":"a"} {"title":"b"}', (400,), "bad_request")),
    ("json-empty-body", body_case("POST", "/api/tasks", "", (400,), "bad_request")),
    ("json-top-level-array", body_case("POST", "/api/tasks", '[{"title":"a"}]', (400,), "bad_request")),
    ("json-duplicate-keys", body_case("POST", "/api/tasks", '{"title":"a","title":"b"}', (400,), "bad_request")),
    ("json-nul-after-document", body_case("POST", "/api/tasks", b'{"title":"a"}\x00', (400,), "bad_request")),
    ("json-escaped-nul-in-string", body_case("POST", "/api/tasks", '{"title":"a\\u0000b"}', (400,), "bad_request")),
    ("json-single-quotes", body_case("PATCH", "/api/tasks/{T}", "{'progress': 5}", (400,), "bad_request")),
    # -- invalid UTF-8 in a JSON string
    ("utf8-ff-byte", body_case("POST", "/api/tasks", b'{"title":"\xff\xfe bad"}', (400,), "bad_request")),
    ("utf8-overlong-slash", body_case("POST", "/api/tasks", b'{"title":"\xc0\xaf"}', (400,), "bad_request")),
    ("utf8-encoded-surrogate", body_case("POST", "/api/tasks", b'{"title":"\xed\xa0\x80"}', (400,), "bad_request")),
    ("utf8-truncated-sequence-in-argv", body_case(
        "POST", "/api/tasks", b'{"command":{"argv":["echo","\xc3\x28"]}}', (400,), "bad_request")),
    ("utf8-lone-surrogate-escape", body_case("POST", "/api/tasks", '{"title":"\\ud800"}', (400,), "bad_request")),
    ("utf8-bad-log-line", body_case("POST", "/api/tasks/{T}/logs", b'{"line":"\xe2\x82"}', (400,), "bad_request")),
    # -- NaN and Infinity
    ("nan-progress", body_case("PATCH", "/api/tasks/{T}", '{"progress":NaN}', (400,), "bad_request")),
    ("infinity-timeout", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"]},"timeout_s":Infinity}', (400,), "bad_request")),
    ("minus-infinity-priority", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"]},"priority":-Infinity}', (400,), "bad_request")),
    ("real-overflow-1e400", body_case("PATCH", "/api/tasks/{T}", '{"progress":1e400}', (400,), "bad_request")),
    # -- negative and huge numbers
    ("priority-1e18-real", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"]},"priority":1e18}', (400, 422))),
    ("priority-10e18-integer", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"]},"priority":1000000000000000000}', (422,), "invalid")),
    ("priority-beyond-int64", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"]},"priority":99999999999999999999999}', (400,),
        "bad_request")),
    ("timeout-negative", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"]},"timeout_s":-1}', (422,), "invalid")),
    ("max-retries-10e9", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"]},"max_retries":1000000000}', (422,), "invalid")),
    ("max-retries-negative", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"]},"max_retries":-1}', (422,), "invalid")),
    ("progress-above-100", body_case("PATCH", "/api/tasks/{T}", '{"progress":100.5}', (422,), "invalid")),
    ("current-negative", body_case("PATCH", "/api/tasks/{T}", '{"current":-3}', (422,), "invalid")),
    ("current-above-total-on-create", body_case("POST", "/api/tasks", '{"current":5,"total":2}', (422,), "invalid")),
    ("heartbeat-negative", body_case("POST", "/api/tasks", '{"heartbeat_timeout_s":-1}', (422,), "invalid")),
    ("parallel-1e18", body_case("PUT", "/api/groups/hold", '{"parallel":1e18}', (422,), "invalid")),
    ("parallel-negative", body_case("PUT", "/api/groups/hold", '{"parallel":-1}', (422,), "invalid")),
    ("clean-negative-age", body_case("POST", "/api/clean", '{"older_than_s":-5}', (422,), "invalid")),
    # -- wrong types
    ("type-title-number", body_case("POST", "/api/tasks", '{"title":5}', (400,), "bad_request")),
    ("type-command-string", body_case("POST", "/api/tasks", '{"command":"rm -rf /"}', (400,), "bad_request")),
    ("type-argv-string", body_case("POST", "/api/tasks", '{"command":{"argv":"true"}}', (400, 422))),
    ("type-argv-number-item", body_case("POST", "/api/tasks", '{"command":{"argv":["true",5]}}', (400, 422))),
    ("type-env-value-number", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"],"env":{"A":1}}}', (400,), "bad_request")),
    ("type-metadata-array", body_case("PATCH", "/api/tasks/{T}", '{"metadata":[1,2]}', (400,), "bad_request")),
    ("type-progress-string", body_case("PATCH", "/api/tasks/{T}", '{"progress":"50"}', (400,), "bad_request")),
    ("type-state-number", body_case("PATCH", "/api/tasks/{T}", '{"state":3}', (400, 422))),
    ("type-error-object", body_case("PATCH", "/api/tasks/{T}", '{"state":"failed","error":{"x":1}}', (400,),
                                    "bad_request")),
    ("type-log-lines-numbers", body_case("POST", "/api/tasks/{T}/logs", '{"lines":[1,2]}', (400,), "bad_request")),
    ("type-priority-array", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"]},"priority":[1]}', (400,), "bad_request")),
    ("type-parallel-string", body_case("PUT", "/api/groups/hold", '{"parallel":"2"}', (400, 422))),
    ("value-state-queued", body_case("PATCH", "/api/tasks/{T}", '{"state":"queued"}', (422,), "invalid")),
    ("value-argv-empty", body_case("POST", "/api/tasks", '{"command":{"argv":[]}}', (422,), "invalid")),
    ("value-cwd-relative", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"],"cwd":"../../etc"}}', (422,), "invalid")),
    ("value-env-name-with-equals", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"],"env":{"LD_PRELOAD=x":"y"}}}', (422,), "invalid")),
    ("value-group-traversal", body_case(
        "POST", "/api/tasks", '{"command":{"argv":["true"]},"group":"../../x"}', (422,), "invalid")),
    ("value-title-over-limit", body_case(
        "POST", "/api/tasks", json.dumps({"title": "t" * 5000}), (413,), "too_large")),
    ("value-argv-over-1024", body_case(
        "POST", "/api/tasks", json.dumps({"command": {"argv": ["true"] + ["a"] * 1024}}), (413,), "too_large")),
    ("value-substep-id-with-slash", body_case(
        "POST", "/api/tasks/{T}/substeps", '{"name":"n","id":"../x"}', (422,), "invalid")),
    # -- ids beyond int64 and not numbers
    ("id-beyond-int64", body_case("GET", "/api/tasks/99999999999999999999", None, (404,), "not_found")),
    ("id-int64-max", body_case("GET", "/api/tasks/9223372036854775807", None, (404,), "not_found")),
    ("id-int64-max-plus-one-cancel", body_case(
        "POST", "/api/tasks/9223372036854775808/cancel", None, (404,), "not_found")),
    ("id-negative", body_case("GET", "/api/tasks/-1", None, (404,), "not_found")),
    ("id-zero", body_case("DELETE", "/api/tasks/0", None, (404,), "not_found")),
    ("id-hex", body_case("GET", "/api/tasks/0x10", None, (404,), "not_found")),
    ("id-exponent", body_case("PATCH", "/api/tasks/1e3", '{"progress":1}', (404,), "not_found")),
    ("id-word", body_case("GET", "/api/tasks/abc/logs", None, (404,), "not_found")),
    ("id-space-encoded", body_case("GET", "/api/tasks/%20{T}", None, (404,), "not_found")),
    ("cursor-beyond-int64", body_case("GET", "/api/tasks?cursor=99999999999999999999", None, (400,),
                                      "bad_request")),
    # -- path traversal in path parameters
    ("traversal-task-id", body_case("GET", "/api/tasks/..%2f..%2fetc%2fpasswd", None, (404, 422))),
    ("traversal-task-logs", body_case("GET", "/api/tasks/..%2f..%2f..%2fetc%2fpasswd/logs", None, (404, 422))),
    ("traversal-group-put", body_case("PUT", "/api/groups/..%2fx", '{"parallel":1}', (404, 422))),
    ("traversal-group-dotdot", body_case("PUT", "/api/groups/%2e%2e", '{"parallel":1}', (404, 422))),
    ("traversal-substep", body_case(
        "PATCH", "/api/tasks/{T}/substeps/..%2f..%2fs1", '{"state":"completed"}', (404, 422))),
    ("traversal-dashboard-file", body_case("GET", "/..%2f..%2f..%2fetc%2fpasswd", None, (404,), "not_found")),
    ("traversal-dashboard-dots", body_case("GET", "/%2e%2e/%2e%2e/etc/passwd", None, (404,), "not_found")),
    ("traversal-logs-file-name", body_case("GET", "/api/tasks/{T}/logs/..%2f..%2ftasklight.db", None, (404,),
                                           "not_found")),
    # -- NUL in a path parameter: not a shorter name
    ("nul-in-task-id", body_case("GET", "/api/tasks/{T}%00junk", None, (400, 404))),
    ("nul-in-group-name", body_case("PUT", "/api/groups/nulgroup%00suffix", '{"parallel":3}', (400, 404, 422))),
    ("nul-in-dashboard-file", body_case("GET", "/app.js%00.html", None, (400, 404))),
    # -- CR and LF in the URL
    ("crlf-encoded-in-path", body_case("GET", "/api/tasks/{T}%0d%0aX-Injected:%201", None, (400,), "bad_request")),
    ("crlf-encoded-in-group", body_case("PUT", "/api/groups/a%0d%0ab", '{"parallel":1}', (400, 422))),
    ("cr-raw-in-request-line", raw_case(b"GET /healthz\rX-Injected: 1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                        (400, CLOSED), parser=True)),
    # -- methods
    ("method-put-on-tasks", body_case("PUT", "/api/tasks", "{}", (405,), "method_not_allowed")),
    ("method-delete-on-stats", body_case("DELETE", "/api/stats", None, (405,), "method_not_allowed")),
    ("method-get-on-action", body_case("GET", "/api/tasks/{T}/cancel", None, (405,), "method_not_allowed")),
    ("method-post-on-metrics", body_case("POST", "/metrics", "{}", (405,), "method_not_allowed")),
    ("method-delete-on-healthz", body_case("DELETE", "/healthz", None, (405,), "method_not_allowed")),
    ("method-patch-on-groups-list", body_case("PATCH", "/api/groups", "{}", (405,), "method_not_allowed")),
    ("method-trace", raw_case(lambda d: request("TRACE", "/api/tasks", token=d.token), (405, 501), parser=True)),
    ("method-unknown-token", raw_case(lambda d: request("FROB", "/api/tasks", token=d.token), (405, 501),
                                      parser=True)),
    # The HTTP parser takes any word as a method and answers an unknown one
    # 501 (RFC 9110 section 9.1), without telling a malformed token apart.
    ("method-garbage-token", raw_case(b"G@T /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                      (400, 405, 501, CLOSED), parser=True)),
    ("method-control-bytes", raw_case(b"\x01\x02\x7f /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                      (400, 405, 501, CLOSED), parser=True)),
    # -- headers
    ("header-100kb", raw_case(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\nConnection: close\r\n\r\n",
        (400, 413, 431, CLOSED), parser=True)),
    ("header-flood-2000-short", raw_case(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
        + b"Connection: close\r\n\r\n",
        (400, 413, 431, CLOSED), parser=True)),
    ("header-flood-2000-long", raw_case(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-Header-%04d: %s\r\n" % (i, b"v" * 30)
                                                          for i in range(2000))
        + b"Connection: close\r\n\r\n",
        (400, 413, 431, CLOSED), parser=True)),
    ("header-without-colon", raw_case(b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\nConnection: close\r\n\r\n",
                                      (400, CLOSED), parser=True)),
    ("header-huge-bearer", body_case("GET", "/api/tasks", None, (401,), "unauthorized", token=False,
                                     headers=["Authorization: Bearer " + "x" * 20000])),
    ("header-huge-cookie", body_case("GET", "/api/tasks", None, (401,), "unauthorized", token=False,
                                     headers=["Cookie: tl_token=" + "y" * 30000])),
    ("header-cookie-cross-origin-post", body_case(
        "POST", "/api/tasks", '{"title":"csrf"}', (401, 403), token=False,
        headers=["Cookie: tl_token={TOKEN}", "Origin: http://evil.example"])),
    ("header-uri-200kb", raw_case(b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                  (400, 413, 414, CLOSED), parser=True)),
    ("header-http2-request-line", raw_case(b"GET /healthz HTTP/2.0\r\nHost: x\r\nConnection: close\r\n\r\n",
                                           (400, 505, CLOSED), parser=True)),
    ("path-too-many-segments", body_case("GET", "/api/tasks/1/a/b/c/d/e/f/g/h/i", None, (400, 404))),
    # -- malformed chunked bodies
    ("chunked-size-not-hex", raw_case(
        lambda d: request("POST", "/api/tasks", token=d.token, close=False,
                          headers=["Transfer-Encoding: chunked"]) + b"zz\r\n{}\r\n0\r\n\r\n",
        (400, 413, CLOSED), parser=True, within=3)),
    ("chunked-size-huge", raw_case(
        lambda d: request("POST", "/api/tasks", token=d.token, close=False,
                          headers=["Transfer-Encoding: chunked"]) + b"FFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n",
        (400, 413, CLOSED), parser=True, within=3)),
    ("chunked-size-negative", raw_case(
        lambda d: request("POST", "/api/tasks", token=d.token, close=False,
                          headers=["Transfer-Encoding: chunked"]) + b"-2\r\n{}\r\n0\r\n\r\n",
        (400, 413, CLOSED), parser=True, within=3)),
    ("chunked-and-content-length", raw_case(
        lambda d: request("POST", "/api/tasks", token=d.token, close=False,
                          headers=["Transfer-Encoding: chunked", "Content-Length: 3"]) + b"2\r\n{}\r\n0\r\n\r\n",
        (400, CLOSED), parser=True, within=3)),
    ("chunked-over-1mib-in-chunks", raw_case(
        lambda d: request("POST", "/api/tasks", token=d.token,
                          headers=["Transfer-Encoding: chunked", "Content-Type: application/json"])
        + b"".join(b"10000\r\n" + b" " * 0x10000 + b"\r\n" for _ in range(20)) + b"0\r\n\r\n",
        (413,), code="too_large")),
    ("chunked-over-8mib-in-chunks", raw_case(
        lambda d: request("POST", "/api/tasks", token=d.token, close=False, headers=["Transfer-Encoding: chunked"])
        + b"".join(b"100000\r\n" + b" " * 0x100000 + b"\r\n" for _ in range(9)) + b"0\r\n\r\n",
        (413, CLOSED), parser=True)),
    ("transfer-encoding-gzip", raw_case(
        lambda d: request("POST", "/api/tasks", token=d.token, headers=["Transfer-Encoding: gzip"]) + b"{}",
        (400, 411, 501, CLOSED), parser=True)),
    # -- query strings
    ("query-limit-huge", body_case("GET", "/api/tasks?limit=99999999999999999999", None, (400,), "bad_request")),
    ("query-limit-zero", body_case("GET", "/api/tasks?limit=0", None, (400,), "bad_request")),
    ("query-state-with-nul", body_case("GET", "/api/tasks?state=%00running", None, (400,), "bad_request")),
    ("query-tail-negative", body_case("GET", "/api/tasks/{T}/logs?tail=-1", None, (400,), "bad_request")),
    ("query-events-task-list-bad", body_case("GET", "/api/events?task=1,x", None, (400,), "bad_request")),
    ("query-stream-logs-word", body_case("GET", "/api/tasks/{T}/stream?logs=all", None, (400,), "bad_request")),
    ("query-stats-recent-huge", body_case("GET", "/api/stats?recent=99999999999", None, (400,), "bad_request")),
]


def fill(template, d):
    ids = d.ids
    subs = {"{T}": ids["tracked"], "{D}": ids["done"], "{R}": ids["running"], "{Q}": ids["queued"],
            "{TOKEN}": d.token}
    if isinstance(template, bytes):
        for k, v in subs.items():
            template = template.replace(k.encode(), str(v).encode())
        return template
    for k, v in subs.items():
        template = template.replace(k, str(v))
    return template


def build(case, d):
    if "raw" in case:
        data = case["raw"]
        return data(d) if callable(data) else data
    headers = [fill(h, d) for h in case.get("headers", ())]
    token = d.token if case.get("token", True) and case.get("door", "tcp") == "tcp" else None
    return request(case["method"], fill(case["path"], d), case["body"], headers=headers, token=token)


def test_matrix_has_enough_cases():
    assert len(HOSTILE) >= 40, len(HOSTILE)
    assert len({name for name, _ in HOSTILE}) == len(HOSTILE), "case names repeat"


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in HOSTILE])
def test_hostile_request(hd, case):
    before_ids = task_ids(hd)
    before_groups = {g["name"] for g in hd.unix("GET", "/api/groups").json()["groups"]}
    r = exchange(hd, build(case, hd), door=case.get("door", "tcp"), timeout=case.get("within", 20))
    want = case["want"]

    # the answer
    if r.status is None:
        assert r.closed, f"no answer and the connection still open: {r!r}"
        assert CLOSED in want, f"connection closed without an answer; expected {want}: {r!r}"
    else:
        assert r.status in want, f"status {r.status}, expected one of {want}: {r!r}"
        daemon_answered = r.headers.get("content-type", "").startswith("application/json")
        if not case.get("parser") or daemon_answered:
            assert_json_error(r, case.get("code"))
    if "within" in case:
        assert r.elapsed < case["within"], f"answered after {r.elapsed:.1f} s: {r!r}"

    # the daemon is alive and nothing was made by the refused request
    assert hd.proc.poll() is None, f"the daemon died (exit {hd.proc.returncode})"
    h = hd.unix("GET", "/healthz", timeout=5)
    assert h.status == 200 and h.json()["ok"] is True, h
    after_ids = task_ids(hd)
    assert after_ids == before_ids, f"tasks appeared: {sorted(after_ids - before_ids)}, " \
                                    f"vanished: {sorted(before_ids - after_ids)}"
    after_groups = {g["name"] for g in hd.unix("GET", "/api/groups").json()["groups"]}
    assert after_groups == before_groups, f"groups appeared: {sorted(after_groups - before_groups)}"


# ---- text with CR and LF is text ---------------------------------------------


def test_crlf_inside_json_strings_is_stored_as_text(hd):
    title = "line one\r\nX-Injected: 1\r\n\r\nline two"
    r = hd.api("POST", "/api/tasks", json={"title": title, "description": "a\rb\nc",
                                           "metadata": {"k\r\n": "v\r\n"}, "heartbeat_timeout_s": 0})
    assert r.status_code == 201, r.text
    assert "x-injected" not in {k.lower() for k in r.headers}, r.headers
    tid = r.json()["id"]
    t = hd.task(tid)
    assert t["title"] == title and t["description"] == "a\rb\nc", t
    assert t["metadata"] == {"k\r\n": "v\r\n"}, t["metadata"]
    r = hd.api("POST", f"/api/tasks/{tid}/logs", json={"line": "first\r\nsecond\rthird"})
    assert r.status_code == 200 and r.json() == {"appended": 1}, r.text
    lines = hd.logs(tid, tail=0)
    assert len(lines) == 1, f"one appended line became {len(lines)} records: {lines}"
    text = lines[0]["text"]
    assert "\n" not in text and "\r" not in text, f"a log record holds a line break: {text!r}"
    assert text.startswith("first") and text.endswith("third"), text
    r = hd.api("PATCH", f"/api/tasks/{tid}", json={"state": "completed"})
    assert r.status_code == 200, r.text


# ---- HEAD and error messages ---------------------------------------------------


def test_head_answer_has_no_body(hd):
    """A HEAD answer ends at its header block: else a keep-alive client reads
    the body as the start of the next answer."""
    s = connect(hd, "unix")
    try:
        s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
    finally:
        s.close()
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), data[:300]
    assert rest.startswith(b"HTTP/1.1 200"), \
        f"the answer to HEAD carries a body; what follows its headers: {rest[:120]!r}"


def test_error_messages_name_the_whole_path(hd):
    r = hd.api("GET", "/api/no-such-thing/deeper")
    assert r.status_code == 404, r.text
    assert "/api/no-such-thing/deeper" in r.json()["error"]["message"], r.text
    r = hd.api("PUT", "/api/tasks")
    assert r.status_code == 405, r.text
    assert "/api/tasks" in r.json()["error"]["message"], r.text


# ---- slow and idle connections ----------------------------------------------


def timed_get(hd, path="/healthz", door="tcp"):
    t0 = time.monotonic()
    if door == "tcp":
        r = hd.api("GET", path, timeout=5)
        status = r.status_code
    else:
        status = hd.unix("GET", path, timeout=5).status
    return status, time.monotonic() - t0


@pytest.mark.time_limit(60)
def test_other_clients_are_served_while_50_slow_loris_connections_drip(hd):
    request_bytes = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 1000
    conns = [connect(hd) for _ in range(50)]
    REJECTIONS["n"] += 50
    stop = threading.Event()

    def drip():
        i = 0
        while not stop.is_set() and i < len(request_bytes):
            for s in conns:
                try:
                    s.send(request_bytes[i:i + 1])
                except OSError:
                    pass  # cut off: fine
            i += 1
            stop.wait(1.0)

    th = threading.Thread(target=drip, daemon=True)
    th.start()
    try:
        slow = []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            for door, path in (("tcp", "/healthz"), ("unix", "/api/tasks?limit=5"), ("tcp", "/api/stats")):
                status, took = timed_get(hd, path, door)
                assert status == 200, (door, path, status)
                if took >= 1.0:
                    slow.append((door, path, round(took, 2)))
            time.sleep(0.2)
        r = hd.unix("POST", "/api/tasks", {"title": "made during slow loris", "heartbeat_timeout_s": 0})
        assert r.status == 201, r
        assert hd.unix("PATCH", f"/api/tasks/{r.json()['id']}", {"state": "completed"}).status == 200
        assert not slow, f"requests took 1 s or more while slow-loris connections were open: {slow}"
    finally:
        stop.set()
        th.join(3)
        for s in conns:
            s.close()
    assert hd.proc.poll() is None


def serve_help():
    cp = subprocess.run([TL_BIN, "serve", "--help"], capture_output=True, text=True, timeout=10)
    return cp.stdout + cp.stderr


@pytest.fixture
def quick_timeout_daemon(tmp_path, monkeypatch):
    """A daemon of its own with `tl serve --http-timeout 2`."""
    if "--http-timeout" not in serve_help():
        pytest.xfail("tl serve has no --http-timeout yet, and the only limit, evhttp's 60 s idle "
                     "timeout (HTTP_TIMEOUT_S in src/lib/http.c), restarts with every byte read: "
                     "a client sending a byte a second is never cut off")
    real_popen = subprocess.Popen

    def popen(argv, *a, **kw):
        if argv[:2] == [TL_BIN, "serve"]:
            argv = argv + ["--http-timeout", "2"]
        return real_popen(argv, *a, **kw)

    monkeypatch.setattr(conftest.subprocess, "Popen", popen)
    d = Daemon(str(tmp_path))
    try:
        d.start()
        monkeypatch.undo()
        yield d
    finally:
        d.dispose()


def drip(s, data, seconds=10):
    """Sends data a byte a second for at most `seconds` seconds; returns
    (what cut it off: b"" for a close, an answer, or the error; None if
    nothing did, seconds taken)."""
    t0 = time.monotonic()
    try:
        for b in data[:seconds]:
            try:
                s.send(bytes([b]))
                s.settimeout(1.0)
                return s.recv(4096), time.monotonic() - t0  # b"" (closed) or an answer (408)
            except socket.timeout:
                continue
            except OSError as e:
                return e, time.monotonic() - t0
    finally:
        s.close()
    return None, time.monotonic() - t0


SLOW_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 60


@pytest.mark.time_limit(60)
def test_slow_loris_connection_is_cut_off(quick_timeout_daemon):
    """A client that sends its headers a byte a second is cut off by the
    daemon's HTTP timeout (tl serve --http-timeout SECONDS)."""
    d = quick_timeout_daemon
    idle = connect(d)  # a connection that sends nothing goes after the timeout
    idle.settimeout(6)
    t0 = time.monotonic()
    try:
        gone = idle.recv(4096)
    except (socket.timeout, OSError) as e:
        gone = e
    finally:
        idle.close()
    assert gone == b"" or isinstance(gone, ConnectionResetError) or gone.startswith(b"HTTP/1.1 408"), \
        f"an idle connection, after {time.monotonic() - t0:.1f} s: {gone!r}"
    assert time.monotonic() - t0 < 2 + 3

    cut, took = drip(connect(d), SLOW_REQUEST)
    assert cut is not None, \
        f"with --http-timeout 2, a client sending its headers a byte a second was still " \
        f"connected after {took:.0f} s"
    assert took < 2 + 3, f"cut off only after {took:.1f} s with --http-timeout 2"
    status, _ = timed_get(d)
    assert status == 200


@pytest.mark.time_limit(60)
def test_slow_loris_after_a_first_request_is_cut_off(quick_timeout_daemon):
    """The same drip on a kept-alive connection, after one quick request
    answered on it, is cut off as well."""
    d = quick_timeout_daemon
    s = connect(d)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    first = s.recv(65536)
    assert first.startswith(b"HTTP/1.1 200") and b"Connection: close" not in first, first[:200]
    cut, took = drip(s, SLOW_REQUEST)
    assert cut is not None, \
        f"with --http-timeout 2, a kept-alive connection whose second request comes a byte a " \
        f"second was still connected after {took:.0f} s (a connection's first request is held to " \
        f"the deadline: test_slow_loris_connection_is_cut_off)"
    assert took < 2 + 3, f"cut off only after {took:.1f} s with --http-timeout 2"


@pytest.mark.time_limit(60)
def test_500_idle_connections_do_not_block_a_request(hd):
    conns = []
    try:
        for i in range(500):
            conns.append(connect(hd, "tcp" if i % 5 else "unix"))
        REJECTIONS["n"] += 500
        time.sleep(0.5)  # let the daemon accept them all
        for door, path in (("tcp", "/healthz"), ("unix", "/healthz"), ("tcp", "/api/tasks?limit=10"),
                           ("unix", "/api/stats")):
            status, took = timed_get(hd, path, door)
            assert status == 200, (door, path, status)
            assert took < 1.0, f"{door} GET {path} took {took:.2f} s with 500 idle connections open"
        # some of them now send a request: they are all still served
        for s in conns[:20]:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for s in conns[:20]:
            s.settimeout(5)
            assert s.recv(65536).startswith(b"HTTP/1.1 200"), "an idle connection was not served"
    finally:
        for s in conns:
            s.close()
    assert hd.proc.poll() is None


# ---- afterwards ------------------------------------------------------------


def test_the_daemon_and_its_tasks_are_intact_after_the_matrix(hd):
    """Runs last in this module: healthz, the tasks made before the matrix
    unchanged, and a quiet log. (That a refused request made no task is
    checked case by case.)"""
    assert hd.proc.poll() is None, f"the daemon died (exit {hd.proc.returncode})"
    r = hd.api("GET", "/healthz")
    assert r.status_code == 200 and r.json()["ok"] is True, r.text

    for name, tid in hd.ids.items():
        old, new = stable(hd.before[name]), stable(hd.task(tid))
        changed = {k: (old.get(k), new.get(k)) for k in set(old) | set(new) if old.get(k) != new.get(k)}
        assert not changed, f"task {name} ({tid}) changed: {changed}"
        assert hd.logs(tid, tail=0) == hd.before_logs[name], f"the log of task {name} ({tid}) changed"

    lines = log_lines(hd)[hd.log_start:]
    sanitizer = [ln for ln in lines if "Sanitizer" in ln or "runtime error:" in ln]
    assert not sanitizer, "sanitizer report in the daemon log:\n" + "\n".join(lines[-200:])
    assert len(lines) <= REJECTIONS["n"], \
        f"{len(lines)} log lines for {REJECTIONS['n']} refused requests; the first: {lines[:10]}"
