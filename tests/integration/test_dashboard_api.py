"""What the dashboard stands on, black-box: the page and its files, the
token and cookie, event streams (ids, resuming with Last-Event-ID, reset,
filters), /api/stats and /metrics in the Prometheus text format."""

import re
import select
import socket
import time

import pytest
import requests

from conftest import wait_for


# ---- an SSE client on a raw socket ---------------------------------------------


class SSE:
    """GET an event stream over TCP with the token; read events as they come."""

    def __init__(self, daemon, path, last_event_id=None):
        host, port = daemon.url[len("http://"):].split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        # HTTP/1.0: the stream comes without chunked encoding.
        req = (f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n"
               f"Authorization: Bearer {daemon.token}\r\n{extra}\r\n")
        self.sock.sendall(req.encode())
        self.buf = b""
        self.status = None
        self.headers = {}
        self.eof = False

    def _fill(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return False
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        if self.status is None and b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            self.status = int(lines[0].split()[1])
            for line in lines[1:]:
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()
        return True

    def next(self, timeout=5.0):
        """The next event as (id, name, data text); None at the end."""
        deadline = time.monotonic() + timeout
        while True:
            if self.status is not None:
                while b"\n\n" in self.buf:
                    block, self.buf = self.buf.split(b"\n\n", 1)
                    ev_id, name, data = None, "message", []
                    for line in block.decode().split("\n"):
                        if line.startswith("id:"):
                            ev_id = line[3:].strip()
                        elif line.startswith("event:"):
                            name = line[6:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].lstrip(" "))
                    if data:
                        return ev_id, name, "\n".join(data)
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no event within {timeout} s (status {self.status}, buffered {self.buf[:200]!r})")
            self._fill(left)

    def events(self, n, timeout=5.0):
        out = []
        for _ in range(n):
            ev = self.next(timeout)
            assert ev is not None, f"stream ended after {out}"
            out.append(ev)
        return out

    def close(self):
        self.sock.close()


def seq(ev_id):
    epoch, _, n = ev_id.rpartition("-")
    assert re.fullmatch(r"[0-9a-f]{8}", epoch), ev_id
    return int(n)


def tracked(daemon, **body):
    r = daemon.api("POST", "/api/tasks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


# ---- the page ----------------------------------------------------------------------


def test_dashboard_files_are_served_from_the_binary(daemon):
    page = daemon.unix("GET", "/")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "default-src 'none'" in csp
    assert page.headers.get("X-Content-Type-Options") == "nosniff"
    html = page.body.decode()
    assert '<script src="/app.js"' in html and 'href="/app.css"' in html
    js = daemon.unix("GET", "/app.js")
    assert js.status == 200 and js.headers["Content-Type"].startswith("text/javascript")
    css = daemon.unix("GET", "/app.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    # Nothing is loaded from elsewhere (the SVG namespace is a name, not a fetch).
    for text in (html, js.body.decode(), css.body.decode()):
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, urls
        assert "<script>" not in text
    # Task text is only ever set as text in the script.
    assert "innerHTML" not in js.body.decode() and "insertAdjacentHTML" not in js.body.decode()
    assert daemon.unix("GET", "/nope.js").status == 404


def test_token_cookie_and_origin(daemon):
    assert requests.get(daemon.url + "/", timeout=5).status_code == 401
    assert requests.get(daemon.url + "/app.js", timeout=5).status_code == 401
    r = requests.get(f"{daemon.url}/?token={daemon.token}", allow_redirects=False, timeout=5)
    assert r.status_code == 303 and r.headers["Location"] == "/"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = {"tl_token": daemon.token}
    assert requests.get(daemon.url + "/", cookies=jar, timeout=5).status_code == 200
    assert requests.get(daemon.url + "/api/stats", cookies=jar, timeout=5).status_code == 200
    body = {"command": {"argv": ["true"]}}
    # A state change carried by the cookie alone must come from the page's origin.
    assert requests.post(daemon.url + "/api/tasks", json=body, cookies=jar, timeout=5).status_code == 403
    evil = requests.post(daemon.url + "/api/tasks", json=body, cookies=jar,
                         headers={"Origin": "http://evil.example"}, timeout=5)
    assert evil.status_code == 403
    host = daemon.url[len("http://"):]
    ok = requests.post(daemon.url + "/api/tasks", json=body, cookies=jar,
                       headers={"Origin": daemon.url, "Host": host}, timeout=5)
    assert ok.status_code == 201, ok.text


# ---- event streams -----------------------------------------------------------------


def test_every_event_has_an_id_and_a_resume_gets_what_was_missed(daemon):
    s = SSE(daemon, "/api/events")
    hello = s.next()
    assert s.status == 200 and s.headers["content-type"] == "text/event-stream"
    assert hello[1] == "hello"
    epoch = hello[0].rsplit("-", 1)[0]
    base = seq(hello[0])
    t = tracked(daemon, title="ids", kind="k")
    for p in (10, 20, 30):
        daemon.api("PATCH", f"/api/tasks/{t['id']}", json={"progress": p})
        time.sleep(0.12)  # progress events are coalesced per 100 ms
    got = s.events(4)
    ids = [seq(e[0]) for e in got]
    assert ids == list(range(base + 1, base + 5)), got
    assert all(e[0].startswith(epoch + "-") for e in got)
    assert [e[1] for e in got] == ["task.created"] + ["task.progress"] * 3
    s.close()

    # Away: two more events; a resume from the second one replays the rest.
    daemon.api("PATCH", f"/api/tasks/{t['id']}", json={"message": "while away"})
    daemon.api("PATCH", f"/api/tasks/{t['id']}", json={"state": "completed"})
    wait_for(lambda: daemon.task(t["id"])["state"] == "completed")
    r = SSE(daemon, "/api/events", last_event_id=got[1][0])
    hello = r.next()
    assert hello[1] == "hello" and '"resumed":true' in hello[2], hello
    assert hello[0] is None, "a resume's hello must not move the client's id"
    replay = []
    while True:
        ev = r.next()
        replay.append(ev)
        if ev[1] == "task.completed":
            break
    nums = [seq(e[0]) for e in replay]
    assert nums == list(range(base + 3, base + 3 + len(nums))), replay
    assert '"while away"' in "".join(e[2] for e in replay)
    r.close()

    # The polyfill's way: ?last_event_id=.
    q = SSE(daemon, f"/api/events?last_event_id={got[2][0]}")
    assert q.next()[1] == "hello"
    assert seq(q.next()[0]) == base + 4
    q.close()


def test_a_resume_after_a_restart_gets_reset(daemon):
    s = SSE(daemon, "/api/events")
    hello = s.next()
    s.close()
    daemon.restart()
    r = SSE(daemon, "/api/events", last_event_id=hello[0])
    ev = r.next()
    assert ev[1] == "reset", ev
    assert "unknown_epoch" in ev[2]
    assert ev[0].rsplit("-", 1)[0] != hello[0].rsplit("-", 1)[0], "a new run has a new epoch"
    r.close()
    junk = SSE(daemon, "/api/events", last_event_id="not-an-id")
    assert junk.next()[1] == "reset"
    junk.close()


def test_event_filters(daemon):
    by_kind = SSE(daemon, "/api/events?kind=pull&type=-task.progress")
    by_group = SSE(daemon, "/api/events?group=gpu&type=-task.log")
    by_type = SSE(daemon, "/api/events?type=task.completed,task.failed")
    for s in (by_kind, by_group, by_type):
        assert s.next()[1] == "hello"
    a = tracked(daemon, title="a", kind="pull")
    b = daemon.add("sh", "-c", "exit 3", group="gpu", kind="build")
    daemon.api("PATCH", f"/api/tasks/{a['id']}", json={"progress": 50})
    daemon.api("PATCH", f"/api/tasks/{a['id']}", json={"state": "completed"})
    daemon.wait_final(b["id"])
    task_stream = SSE(daemon, f"/api/events?task={a['id']}")
    assert task_stream.next()[1] == "hello"

    kinds = by_kind.events(2)
    assert [e[1] for e in kinds] == ["task.created", "task.completed"], kinds
    assert all(f'"id":{a["id"]},' in e[2] for e in kinds)
    groups = by_group.events(3)
    assert all(f'"id":{b["id"]},' in e[2] for e in groups), groups
    assert [e[1] for e in groups] == ["task.created", "task.started", "task.failed"], groups
    types = by_type.events(2)
    assert sorted(e[1] for e in types) == ["task.completed", "task.failed"]
    for s in (by_kind, by_group, by_type, task_stream):
        s.close()
    bad = SSE(daemon, "/api/events?task=abc")
    assert bad.next() is None and bad.status == 400
    bad.close()


def test_task_stream_snapshot_logs_then_events(daemon):
    t = tracked(daemon, title="stream me", kind="k")
    daemon.api("POST", f"/api/tasks/{t['id']}/logs", json={"lines": ["one", "two", "three"]})
    s = SSE(daemon, f"/api/tasks/{t['id']}/stream?logs=2")
    first = s.events(3)
    assert first[0][1] == "task.snapshot" and first[0][0] is None
    assert [e[1] for e in first[1:]] == ["task.log", "task.log"]
    assert '"two"' in first[1][2] and '"three"' in first[2][2]
    daemon.api("POST", f"/api/tasks/{t['id']}/logs", json={"line": "four"})
    ev = s.next()
    assert ev[1] == "task.log" and '"four"' in ev[2] and ev[0]
    daemon.api("PATCH", f"/api/tasks/{t['id']}", json={"state": "completed"})
    while True:
        ev = s.next()
        assert ev is not None, "closed before the final event"
        if ev[1] == "task.completed":
            break
    assert s.next() is None, "the stream closes after the final event"
    s.close()


# ---- stats and metrics ---------------------------------------------------------------


def test_stats_for_the_dashboard(daemon):
    for i in range(6):
        t = tracked(daemon, title=f"t{i}", kind="pull" if i % 2 else "train")
        daemon.api("PATCH", f"/api/tasks/{t['id']}",
                   json={"state": "failed", "error": "x"} if i == 5 else {"state": "completed"})
    s = SSE(daemon, "/api/events")
    s.next()
    st = daemon.api("GET", "/api/stats").json()
    assert st["counts"]["completed"] == 5 and st["counts"]["failed"] == 1
    assert re.fullmatch(r"[0-9a-f]{8}", st["server"]["epoch"])
    assert st["server"]["sse_clients"] == 1
    assert st["server"]["event_seq"] >= 12
    assert st["totals"]["events_total"] >= 12
    assert "recent" not in st
    st = daemon.api("GET", "/api/stats?recent=100").json()
    rec = st["recent"]
    assert rec["tasks"] == 6 and rec["finished"] == 6
    kinds = {k["kind"]: k for k in rec["kinds"]}
    assert kinds["pull"]["failed"] == 1 and kinds["pull"]["completed"] == 2
    assert kinds["train"]["completed"] == 3 and kinds["train"]["failure_rate"] == 0
    assert kinds["train"]["duration_s"]["p50"] is not None
    buckets = rec["timeline"]["buckets"]
    assert rec["timeline"]["bucket_s"] == 60 and len(buckets) >= 12
    assert sum(b["completed"] for b in buckets) == 5 and sum(b["failed"] for b in buckets) == 1
    assert daemon.api("GET", "/api/stats?recent=0").status_code == 400
    s.close()


SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})?'
    r' (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_metrics(text):
    """Checks the text format 0.0.4 strictly; returns {family: {"type", "samples":
    [(name, labels, value)]}}."""
    fams, current = {}, None
    assert text.endswith("\n")
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in fams, f"family {name} twice"
            fams[name] = {"type": None, "samples": []}
            current = name
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name == current and fams[name]["type"] is None, line
            assert typ in ("counter", "gauge", "histogram"), line
            fams[name]["type"] = typ
            continue
        m = SAMPLE.match(line)
        assert m, f"bad sample line: {line!r}"
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        fam = fams[current]
        if fam["type"] == "histogram":
            assert name in (current + "_bucket", current + "_sum", current + "_count"), line
        else:
            assert name == current, line
        fam["samples"].append((name, dict(LABEL.findall(labels)), float(value)))
    for name, fam in fams.items():
        if fam["type"] != "histogram":
            continue
        series = {}
        for sname, labels, v in fam["samples"]:
            key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            series.setdefault(key, {"buckets": [], "sum": None, "count": None})
            if sname.endswith("_bucket"):
                series[key]["buckets"].append((labels["le"], v))
            elif sname.endswith("_sum"):
                series[key]["sum"] = v
            else:
                series[key]["count"] = v
        for key, s in series.items():
            les = [b[0] for b in s["buckets"]]
            assert les[-1] == "+Inf", (name, key, les)
            bounds = [float(x) for x in les[:-1]]
            assert bounds == sorted(bounds), (name, les)
            counts = [b[1] for b in s["buckets"]]
            assert counts == sorted(counts), f"{name}{key}: buckets not cumulative {counts}"
            assert counts[-1] == s["count"], (name, key, counts, s["count"])
            assert s["sum"] is not None and s["sum"] >= 0
    return fams


def value(fams, family, name=None, **labels):
    for sname, l, v in fams[family]["samples"]:
        if sname == (name or family) and all(l.get(k) == x for k, x in labels.items()):
            return v
    return None


def test_metrics_in_prometheus_text_format(daemon):
    weird = 'we"ird\\kind\nnew'
    for i in range(3):
        t = tracked(daemon, title=f"m{i}", kind="pull")
        daemon.api("PATCH", f"/api/tasks/{t['id']}", json={"state": "completed"})
    w = tracked(daemon, title="weird", kind=weird)
    assert daemon.api("GET", "/api/tasks/999999").status_code == 404
    s = SSE(daemon, "/api/events")
    s.next()

    r = daemon.api("GET", "/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    fams = parse_metrics(r.text)
    assert value(fams, "tasklight_tasks", state="completed") == 3
    assert value(fams, "tasklight_tasks", state="running") == 1
    assert value(fams, "tasklight_active_tasks", kind=weird.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"), state="running") == 1
    assert value(fams, "tasklight_events_total", type="task.created") >= 4
    assert value(fams, "tasklight_events_total", type="task.completed") >= 3
    assert fams["tasklight_events_total"]["type"] == "counter"
    assert value(fams, "tasklight_sse_clients") == 1
    assert value(fams, "tasklight_http_requests_total", route="/api/tasks", method="POST", code="201") == 4
    assert value(fams, "tasklight_http_requests_total", route="/api/tasks/{id}", method="PATCH", code="200") == 3
    assert value(fams, "tasklight_http_requests_total", route="/api/tasks/{id}", method="GET", code="404") == 1
    assert value(fams, "tasklight_http_requests_total", route="/api/events", method="GET", code="200") == 1
    assert value(fams, "tasklight_http_request_duration_seconds", "tasklight_http_request_duration_seconds_count", route="/api/tasks") == 4
    assert fams["tasklight_store_commit_duration_seconds"]["type"] == "histogram"
    assert fams["tasklight_task_duration_seconds"]["type"] == "histogram"
    assert fams["tasklight_task_queue_wait_seconds"]["type"] == "histogram"
    s.close()
    daemon.api("PATCH", f"/api/tasks/{w['id']}", json={"state": "completed"})
    # Counted: the request for /metrics itself shows up in the next scrape.
    fams = parse_metrics(daemon.api("GET", "/metrics").text)
    assert value(fams, "tasklight_http_requests_total", route="/metrics", method="GET", code="200") == 1
    wait_for(lambda: daemon.api("GET", "/api/stats").json()["server"]["sse_clients"] == 0,
             msg="the closed stream to be forgotten")
    # Over the unix socket too, no token needed.
    assert daemon.unix("GET", "/metrics").status == 200
