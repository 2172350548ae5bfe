"""The HTTP API: auth, limits, malformed input, error shapes, conflicts."""

import json
import os
import re
import socket
import stat
import subprocess
import threading
import time

import requests

from conftest import TL_BIN, parse_ts


def assert_error(r, statuses, code=None):
    if isinstance(statuses, int):
        statuses = (statuses,)
    assert r.status_code in statuses, f"expected {statuses}, got {r.status_code}: {r.text[:300]!r}"
    try:
        body = r.json()
    except ValueError:
        raise AssertionError(f"error body is not JSON: {r.text[:300]!r}") from None
    assert isinstance(body.get("error"), dict), body
    assert isinstance(body["error"].get("code"), str) and body["error"]["code"], body
    assert isinstance(body["error"].get("message"), str) and body["error"]["message"], body
    if code:
        assert body["error"]["code"] == code, body
    return body


class RawResponse:
    def __init__(self, raw):
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_code = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        self.content = body
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.text)


def raw_post(daemon, path, body, timeout=10):
    """POST over TCP writing and reading at once, so a server that answers
    before it has read the whole body is still heard."""
    host, port = daemon.url[len("http://"):].split(":")
    s = socket.create_connection((host, int(port)), timeout=timeout)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {daemon.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")

    def send():
        try:
            s.sendall(head.encode() + body)
        except OSError:
            pass

    th = threading.Thread(target=send, daemon=True)
    th.start()
    chunks = []
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
            data = b"".join(chunks)
            m = re.search(rb"\r\ncontent-length:\s*(\d+)", data, re.I)
            if m and b"\r\n\r\n" in data:
                if len(data.partition(b"\r\n\r\n")[2]) >= int(m.group(1)):
                    break
    except ConnectionResetError:
        if not chunks:
            raise AssertionError("the server reset the connection without an answer") from None
    finally:
        s.close()
        th.join(2)
    assert chunks, "no answer"
    return RawResponse(b"".join(chunks))


def test_tcp_needs_the_token(daemon):
    r = requests.get(daemon.url + "/api/tasks", timeout=10)
    assert_error(r, 401, "unauthorized")
    r = requests.get(daemon.url + "/api/tasks", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert_error(r, 401, "unauthorized")
    r = requests.post(daemon.url + "/api/tasks", json={"command": {"argv": ["true"]}}, timeout=10)
    assert_error(r, 401, "unauthorized")
    assert daemon.tasks()["tasks"] == [], "a request without a token created a task"

    r = daemon.api("GET", "/api/tasks")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tasks"] == [] and "counts" in body and "next_cursor" in body, body
    r = daemon.api("GET", "/healthz")
    assert r.status_code == 200 and r.json()["ok"] is True, r.text


def test_unix_socket_needs_no_token(daemon):
    r = daemon.unix("GET", "/api/tasks")
    assert r.status == 200, r
    r = daemon.unix("GET", "/healthz")
    assert r.status == 200 and r.json()["ok"] is True, r


def test_token_in_url_sets_a_strict_httponly_cookie(daemon):
    r = requests.get(daemon.url + "/?token=wrong", allow_redirects=False, timeout=10)
    assert r.status_code == 401, r.status_code
    assert "set-cookie" not in {k.lower() for k in r.headers}, r.headers

    r = requests.get(daemon.url + f"/?token={daemon.token}", allow_redirects=False, timeout=10)
    assert r.status_code in (301, 302, 303, 307, 308), (r.status_code, r.text[:200])
    assert r.headers.get("Location", "").split("?")[0] in ("/", daemon.url + "/"), r.headers
    cookie = r.headers.get("Set-Cookie", "")
    assert cookie, r.headers
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attrs, cookie
    assert "samesite=strict" in attrs, cookie
    assert daemon.token not in r.headers.get("Location", ""), r.headers

    name, _, value = cookie.split(";")[0].partition("=")
    r2 = requests.get(daemon.url + "/api/tasks", cookies={name.strip(): value.strip()}, timeout=10)
    assert r2.status_code == 200, r2.text


def test_create_answers_201_with_location(daemon):
    r = daemon.api("POST", "/api/tasks", json={"command": {"argv": ["true"]}, "title": "t1",
                                                "kind": "k1", "priority": "high"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert r.headers["Location"] == f"/api/tasks/{t['id']}", r.headers
    assert t["title"] == "t1" and t["kind"] == "k1" and t["priority"] == 10, t
    assert t["group"] == "default" and t["source"] == "command", t
    for field in ("id", "key", "kind", "title", "description", "state", "priority", "group",
                  "source", "progress", "message", "metadata", "substeps", "error", "result",
                  "exit_code", "attempt", "max_retries", "timeout_s", "command", "cancel_requested",
                  "created_at", "started_at", "finished_at", "updated_at", "elapsed_s", "eta_s"):
        assert field in t, f"field {field} missing from {sorted(t)}"


def test_bad_input_is_rejected_and_harms_nothing(daemon):
    good = daemon.api("POST", "/api/tasks", json={"command": {"argv": ["echo", "intact"]},
                                                   "title": "keep me"}).json()
    daemon.wait_final(good["id"])
    good = daemon.task(good["id"])

    def post(data, **kw):
        headers = {"Content-Type": "application/json"}
        return daemon.api("POST", "/api/tasks", data=data, headers=headers, **kw)

    assert_error(post(b'{"command": {"argv": ["true"]'), 400, "bad_request")
    assert_error(post(b"not json at all"), 400, "bad_request")
    assert_error(post(b""), (400, 422))
    assert_error(post(b"[1, 2]"), (400, 422))
    assert_error(post(json.dumps({"command": {"argv": "true"}})), (400, 422))
    assert_error(post(json.dumps({"command": {"argv": []}})), 422, "invalid")
    assert_error(post(json.dumps({"command": {"argv": ["true", 5]}})), (400, 422))
    assert_error(post(json.dumps({"command": {"cwd": "/"}})), (400, 422))  # no argv
    assert_error(post(json.dumps({"command": {"argv": ["true"]}, "priority": [1]})), (400, 422))
    assert_error(post(json.dumps({"command": {"argv": ["true"]}, "priority": "urgent"})), (400, 422))
    assert_error(post(json.dumps({"command": {"argv": ["true"]}, "priority": 1.5})), (400, 422))
    assert_error(post(json.dumps({"command": {"argv": ["true"]}, "timeout_s": -1})), 422, "invalid")
    assert_error(post(json.dumps({"command": {"argv": ["true"]}, "max_retries": -1})), (400, 422))
    assert_error(post(json.dumps({"command": {"argv": ["true"], "env": {"A": 1}}})), (400, 422))

    # invalid UTF-8
    assert_error(post(b'{"command": {"argv": ["true"]}, "title": "\xff\xfe bad"}'), 400)
    assert_error(post(b'{"command": {"argv": ["echo", "\xc3\x28"]}}'), 400)

    # nesting: 100 levels, and far more than any parser stack would like
    deep = '{"a":' * 100 + "1" + "}" * 100
    assert_error(post('{"command": {"argv": ["true"]}, "metadata": ' + deep + "}"), (400, 413))
    assert_error(post("[" * 100 + "]" * 100), (400, 413))
    assert_error(post("[" * 200000 + "]" * 200000), (400, 413))

    # field limits
    assert_error(post(json.dumps({"command": {"argv": ["true"]}, "title": "x" * 5000})), 413, "too_large")
    assert_error(post(json.dumps({"command": {"argv": ["true"] + ["a"] * 1024}})), 413, "too_large")

    # over 1 MiB
    big = json.dumps({"command": {"argv": ["true"]}, "description": "y" * (1024 * 1024 + 10)}).encode()
    r = raw_post(daemon, "/api/tasks", big)
    assert_error(r, 413, "too_large")
    r = raw_post(daemon, "/api/tasks", b" " * (3 * 1024 * 1024))
    assert_error(r, 413, "too_large")

    # the daemon is fine and nothing was stored by any of that
    r = daemon.api("GET", "/healthz")
    assert r.status_code == 200 and r.json()["ok"] is True
    listing = daemon.tasks()
    assert [t["id"] for t in listing["tasks"]] == [good["id"]], listing
    assert daemon.task(good["id"]) == good
    assert [ln["text"] for ln in daemon.logs(good["id"]) if ln["stream"] == "stdout"] == ["intact"]
    assert daemon.proc.poll() is None


def test_bad_query_parameters(daemon):
    assert_error(daemon.api("GET", "/api/tasks?state=bogus"), 400, "bad_request")
    assert_error(daemon.api("GET", "/api/tasks?limit=abc"), 400, "bad_request")
    assert_error(daemon.api("GET", "/api/tasks/abc"), (400, 404))
    assert_error(daemon.api("GET", "/api/tasks/1/logs?tail=-x"), (400, 404))


def test_unknown_things_are_404(daemon):
    body = assert_error(daemon.api("GET", "/api/tasks/999999"), 404, "not_found")
    assert "999999" in body["error"]["message"], body
    assert_error(daemon.api("POST", "/api/tasks/999999/cancel"), 404, "not_found")
    assert_error(daemon.api("GET", "/api/tasks/999999/logs"), 404, "not_found")
    assert_error(daemon.api("DELETE", "/api/tasks/999999"), 404, "not_found")
    assert_error(daemon.api("GET", "/api/no-such-path"), 404, "not_found")
    assert_error(daemon.api("PUT", "/api/tasks"), 405, "method_not_allowed")


def test_state_conflicts_are_409(daemon):
    daemon.set_parallel(1)
    running = daemon.add("sleep", "60")
    daemon.wait_state(running["id"], "running")
    queued = daemon.add("true")
    done = daemon.add("true", group="other")
    daemon.wait_final(done["id"])

    assert_error(daemon.api("POST", f"/api/tasks/{queued['id']}/pause"), 409, "conflict")
    assert_error(daemon.api("POST", f"/api/tasks/{queued['id']}/resume"), 409, "conflict")
    assert_error(daemon.api("POST", f"/api/tasks/{running['id']}/resume"), 409, "conflict")
    assert_error(daemon.api("POST", f"/api/tasks/{running['id']}/retry"), 409, "conflict")
    assert_error(daemon.api("DELETE", f"/api/tasks/{running['id']}"), 409, "conflict")
    assert_error(daemon.api("POST", f"/api/tasks/{done['id']}/cancel"), 409, "conflict")
    assert_error(daemon.api("POST", f"/api/tasks/{done['id']}/pause"), 409, "conflict")
    assert daemon.task(queued["id"])["state"] == "queued"
    assert daemon.task(running["id"])["state"] == "running"

    r = daemon.api("POST", f"/api/tasks/{running['id']}/pause")
    assert r.status_code == 200 and r.json()["state"] == "paused", r.text
    assert_error(daemon.api("POST", f"/api/tasks/{running['id']}/pause"), 409, "conflict")
    assert_error(daemon.api("DELETE", f"/api/tasks/{running['id']}"), 409, "conflict")
    r = daemon.api("POST", f"/api/tasks/{running['id']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text

    r = daemon.api("DELETE", f"/api/tasks/{done['id']}")
    assert r.status_code == 200 and r.json() == {"deleted": done["id"]}, r.text
    assert_error(daemon.api("GET", f"/api/tasks/{done['id']}"), 404, "not_found")


def test_idempotency_key(daemon):
    body = {"command": {"argv": ["sleep", "30"]}, "key": "build-1234"}
    r1 = daemon.api("POST", "/api/tasks", json=body)
    assert r1.status_code == 201, r1.text
    r2 = daemon.api("POST", "/api/tasks", json=body)
    assert r2.status_code == 200, r2.text
    assert r2.json()["id"] == r1.json()["id"]
    assert r2.json()["key"] == "build-1234"
    # same key, different body: still the existing task
    r3 = daemon.api("POST", "/api/tasks", json={"command": {"argv": ["true"]}, "key": "build-1234"})
    assert r3.status_code == 200 and r3.json()["id"] == r1.json()["id"], r3.text
    assert len(daemon.tasks()["tasks"]) == 1

    daemon.restart()
    r4 = daemon.api("POST", "/api/tasks", json=body)
    assert r4.status_code == 200 and r4.json()["id"] == r1.json()["id"], r4.text
    r5 = daemon.api("POST", "/api/tasks", json={"command": {"argv": ["true"]}, "key": "other"})
    assert r5.status_code == 201 and r5.json()["id"] != r1.json()["id"]


def test_patch_queued_and_running(daemon):
    daemon.set_parallel(1)
    running = daemon.add("sleep", "60")
    daemon.wait_state(running["id"], "running")
    a = daemon.add("sleep", "0.05", priority="low", title="a")
    b = daemon.add("sleep", "0.05", priority="low", title="b")
    c = daemon.add("sleep", "60", title="c")

    r = daemon.api("PATCH", f"/api/tasks/{b['id']}", json={"priority": "high"})
    assert r.status_code == 200 and r.json()["priority"] == 10, r.text
    r = daemon.api("PATCH", f"/api/tasks/{a['id']}", json={"priority": 3, "title": "a2"})
    assert r.status_code == 200 and r.json()["priority"] == 3 and r.json()["title"] == "a2", r.text
    assert_error(daemon.api("PATCH", f"/api/tasks/{a['id']}", json={"priority": {"x": 1}}), (400, 422))
    assert daemon.task(a["id"])["priority"] == 3

    # a new group: c leaves the busy default group and starts at once
    daemon.set_parallel(1, "elsewhere")
    r = daemon.api("PATCH", f"/api/tasks/{c['id']}", json={"group": "elsewhere"})
    assert r.status_code == 200 and r.json()["group"] == "elsewhere", r.text
    daemon.wait_state(c["id"], "running", timeout=5)
    assert daemon.task(running["id"])["state"] == "running"

    assert_error(daemon.api("PATCH", f"/api/tasks/{running['id']}", json={"priority": 5}), 409, "conflict")
    assert_error(daemon.api("PATCH", f"/api/tasks/{running['id']}", json={"group": "x"}), 409, "conflict")
    r = daemon.api("PATCH", f"/api/tasks/{running['id']}", json={"title": "renamed"})
    assert r.status_code == 200 and r.json()["title"] == "renamed", r.text
    t = daemon.task(running["id"])
    assert t["priority"] == 0 and t["group"] == "default" and t["title"] == "renamed", t

    daemon.api("POST", f"/api/tasks/{running['id']}/cancel")
    ta = daemon.wait_final(a["id"], 10)
    tb = daemon.wait_final(b["id"], 10)
    assert parse_ts(tb["started_at"]) < parse_ts(ta["started_at"]), "the re-prioritised task did not go first"
    daemon.api("POST", f"/api/tasks/{c['id']}/cancel")


def test_clean_removes_finished_tasks(daemon):
    daemon.set_parallel(1)
    ok = daemon.add("sh", "-c", "echo done")
    bad = daemon.add("sh", "-c", "exit 1")
    daemon.wait_final(ok["id"])
    daemon.wait_final(bad["id"])
    running = daemon.add("sleep", "60")
    daemon.wait_state(running["id"], "running")
    queued = daemon.add("true")
    cancelled = daemon.add("true")
    daemon.api("POST", f"/api/tasks/{cancelled['id']}/cancel")

    r = daemon.api("POST", "/api/clean", json={"older_than_s": 3600})
    assert r.status_code == 200 and r.json() == {"removed": 0}, r.text
    assert len(daemon.tasks()["tasks"]) == 5

    daemon.tl("clean")
    left = sorted(t["id"] for t in daemon.tasks()["tasks"])
    assert left == sorted([running["id"], queued["id"]]), left
    for gone in (ok, bad, cancelled):
        assert_error(daemon.api("GET", f"/api/tasks/{gone['id']}"), 404)
        assert_error(daemon.api("GET", f"/api/tasks/{gone['id']}/logs"), 404)
    counts = daemon.tasks()["counts"]
    assert counts["completed"] == 0 and counts["failed"] == 0 and counts["cancelled"] == 0, counts
    assert counts["running"] == 1 and counts["queued"] == 1, counts
    logs_dir = os.path.join(daemon.data_dir, "logs")
    if os.path.isdir(logs_dir):
        assert not any(f.split(".")[0] == str(ok["id"]) for f in os.listdir(logs_dir)), os.listdir(logs_dir)


def test_files_are_private(daemon):
    st = os.stat(daemon.socket_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    st = os.stat(os.path.join(daemon.data_dir, "token"))
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    st = os.stat(daemon.data_dir)
    assert stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
    assert len(daemon.token) >= 16, "token too short to be a secret"
    assert daemon.url.startswith("http://127.0.0.1:"), daemon.url


def test_a_second_daemon_on_the_same_dir_is_refused(daemon):
    cp = subprocess.run([TL_BIN, "serve", "--data-dir", daemon.data_dir, "--listen", "127.0.0.1:0"],
                        capture_output=True, text=True, timeout=10, env=daemon.env(),
                        stdin=subprocess.DEVNULL)
    assert cp.returncode != 0, cp
    assert cp.stderr.strip(), "no message on stderr"
    time.sleep(0.1)
    assert daemon.proc.poll() is None
    assert daemon.unix("GET", "/healthz").status == 200, "the first daemon's socket is gone"
    assert daemon.api("GET", "/healthz").status_code == 200


def test_list_pagination_and_filters(daemon):
    ids = [daemon.add("true", kind="k-even" if i % 2 == 0 else "k-odd", title=f"task-{i}")["id"]
           for i in range(25)]
    for t in ids:
        daemon.wait_final(t)
    seen = []
    cursor = None
    while True:
        q = "?limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = daemon.tasks(q)
        assert len(page["tasks"]) <= 10
        seen += [t["id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(ids, reverse=True), seen
    assert {t["kind"] for t in daemon.tasks("?kind=k-odd&limit=100")["tasks"]} == {"k-odd"}
    assert len(daemon.tasks("?kind=k-odd&limit=100")["tasks"]) == 12
    assert [t["title"] for t in daemon.tasks("?q=task-17")["tasks"]] == ["task-17"]
    assert daemon.tasks("?state=completed")["counts"]["completed"] == 25


def read_sse(daemon, path, timeout=5.0):
    """Reads an SSE response over the unix socket until the server closes it;
    fails if it is still open after `timeout` s. Returns [(event, data)]."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(daemon.socket_path)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n".encode())
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                c = s.recv(65536)
            except socket.timeout:
                raise AssertionError(f"{path}: stream still open after {timeout} s; got {buf[-2000:]!r}") from None
            if not c:
                break
            buf += c
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0], head
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size.split(b";")[0], 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    events = []
    for block in body.decode().replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def test_task_stream_closes_after_the_final_event(daemon):
    done = daemon.add("sh", "-c", "echo one")
    daemon.wait_final(done["id"])
    events = read_sse(daemon, f"/api/tasks/{done['id']}/stream", timeout=5)
    assert events and events[0][0] == "task.snapshot", [e[0] for e in events]
    assert events[0][1]["state"] == "completed"

    running = daemon.add("sh", "-c", "sleep 1; echo two")
    daemon.wait_state(running["id"], "running")
    events = read_sse(daemon, f"/api/tasks/{running['id']}/stream", timeout=5)
    names = [e[0] for e in events]
    assert names[0] == "task.snapshot", names
    assert names[-1] == "task.completed", names
    assert events[-1][1]["state"] == "completed"
