#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets to tests/fuzz/corpus/<target>/.

The seeds are committed; run this again only to change them. Each seed is
one small file named after what it exercises. See the targets' headers for
the input formats.
"""

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOKEN = "fuzz-token-0123456789abcdef0123456789abcdef"  # fuzz_server.h FS_TOKEN


def framed(line, body="", headers=(), tcp=False):
    mode = 2 if tcp else 0
    head = "\n".join([line, *headers])
    return bytes([mode]) + (head + "\n\n" + body).encode()


def raw(data, tcp=False):
    return bytes([1 | (2 if tcp else 0)]) + data


AUTH = f"Authorization: Bearer {TOKEN}"

HTTP = {
    # every route, with a typical body
    "list": framed("GET /api/tasks?state=running&kind=fuzz&group=default&q=fuzz&limit=5&cursor=3"),
    "list_tcp": framed("GET /api/tasks?limit=2", headers=[AUTH], tcp=True),
    "create_command": framed("POST /api/tasks", '{"command":{"argv":["make","-j4"],"cwd":"/tmp",'
                             '"env":{"PATH":"/usr/bin"},"progress_parse":false,'
                             '"progress_regex":"(?<percent>\\\\d+)%"},"title":"build","kind":"build",'
                             '"description":"d","priority":"high","group":"g-1","timeout_s":600,'
                             '"max_retries":2,"key":"build-1"}'),
    "create_tracked": framed("POST /api/tasks", '{"title":"pull","kind":"docker_pull","key":"pull-42",'
                             '"owner":"runner-3","metadata":{"image":"x"},"total":24,"current":3,'
                             '"unit":"layers","message":"m","progress":null,"heartbeat_timeout_s":60}'),
    "create_tcp": framed("POST /api/tasks", '{"title":"t"}', headers=[AUTH], tcp=True),
    "get": framed("GET /api/tasks/1"),
    "patch_report": framed("PATCH /api/tasks/1", '{"progress":42.5,"current":4,"total":10,"unit":"files",'
                           '"message":"half","metadata":{"a":1,"b":null}}'),
    "patch_complete": framed("PATCH /api/tasks/1", '{"state":"completed","result":{"n":[1,2,{"x":null}]}}'),
    "patch_fail": framed("PATCH /api/tasks/1", '{"state":"failed","error":"boom"}'),
    "patch_pause": framed("PATCH /api/tasks/1", '{"state":"paused"}'),
    "patch_labels": framed("PATCH /api/tasks/3", '{"title":"t","description":"d","priority":-10,'
                           '"group":"other"}'),
    "delete": framed("DELETE /api/tasks/2"),
    "cancel": framed("POST /api/tasks/1/cancel"),
    "pause": framed("POST /api/tasks/1/pause"),
    "resume": framed("POST /api/tasks/1/resume"),
    "retry": framed("POST /api/tasks/3/retry"),
    "logs_get": framed("GET /api/tasks/1/logs?tail=10&from=0&limit=5"),
    "logs_post": framed("POST /api/tasks/1/logs", '{"lines":["a","password=hunter2 x"],"stream":"stderr"}'),
    "log_post_one": framed("POST /api/tasks/1/logs", '{"line":"one","stream":"info"}'),
    "substep_add": framed("POST /api/tasks/1/substeps", '{"name":"Download","id":"layer-1",'
                          '"state":"running","progress":0}'),
    "substep_patch": framed("PATCH /api/tasks/1/substeps/s1", '{"state":"failed","error":"e",'
                            '"progress":100,"name":"n"}'),
    "stream": framed("GET /api/tasks/2/stream?logs=5"),
    "events": framed("GET /api/events?kind=fuzz&group=default&task=1,2&type=task.log,-task.progress"),
    "events_resume": framed("GET /api/events", headers=["Last-Event-ID: 00000000-1"]),
    "groups": framed("GET /api/groups"),
    "group_put": framed("PUT /api/groups/g-1", '{"parallel":2}'),
    "clean": framed("POST /api/clean", '{"older_than_s":3600}'),
    "stats": framed("GET /api/stats?recent=50"),
    "metrics": framed("GET /metrics"),
    "healthz": framed("GET /healthz"),
    "dashboard": framed("GET /", tcp=True, headers=[AUTH]),
    "asset": framed("GET /app.js"),
    # auth: token in the URL, the cookie, origin checks
    "token_url": framed(f"GET /?token={TOKEN}", tcp=True),
    "cookie_get": framed("GET /api/tasks", headers=[f"Cookie: a=b; tl_token={TOKEN}"], tcp=True),
    "cookie_post": framed("POST /api/tasks/1/cancel",
                          headers=[f"Cookie: tl_token={TOKEN}", "Origin: http://localhost"], tcp=True),
    "cookie_cross": framed("POST /api/tasks/1/cancel",
                           headers=[f"Cookie: tl_token={TOKEN}", "Origin: http://evil.example"], tcp=True),
    "no_token": framed("GET /api/tasks", tcp=True),
    # hostile shapes to start from
    "deep": framed("POST /api/tasks", '{"metadata":' + '{"a":' * 40 + "1" + "}" * 40 + "}"),
    "bad_utf8": bytes([0]) + b'POST /api/tasks\n\n{"title":"\xff\xc0\xaf"}',
    "nan": framed("PATCH /api/tasks/1", '{"progress":NaN}'),
    "big_numbers": framed("POST /api/tasks", '{"command":{"argv":["x"]},"priority":1e18,'
                          '"timeout_s":-1,"max_retries":1000000000}'),
    "traversal": framed("GET /api/tasks/..%2f..%2fetc%2fpasswd"),
    "nul_path": framed("PUT /api/groups/a%00b", '{"parallel":1}'),
    "crlf_path": framed("GET /api/tasks/1%0d%0aX:%20y"),
    "huge_id": framed("GET /api/tasks/99999999999999999999"),
    # raw requests for the parser
    "raw_chunked": raw(b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"2\r\n{}\r\n0\r\n\r\n"),
    "raw_bad_chunk": raw(b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"zz\r\n{}\r\n0\r\n\r\n"),
    "raw_two_lengths": raw(b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                           b"Content-Length: 5\r\n\r\n{}"),
    "raw_keepalive": raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                         b"GET /api/tasks/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    "raw_http10": raw(b"GET /healthz HTTP/1.0\r\n\r\n"),
    "raw_garbage_method": raw(b"G@T /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    "raw_fold": raw(b"GET /api/tasks HTTP/1.1\r\nHost: x\r\nX-A: b\r\n folded\r\nConnection: close\r\n\r\n"),
    "raw_tcp_auth": raw(f"GET /api/stats HTTP/1.1\r\nHost: x\r\n{AUTH}\r\nConnection: close\r\n\r\n".encode(),
                        tcp=True),
}

# [events][flags] LAST-EVENT-ID "\n" QUERY; '@' is the server's epoch.
SSE = {
    "fresh": b"\x00\x00\n",
    "resume_zero": b"\x05\x00@-0\n",
    "resume_recent": b"\x10\x00@-20\n",
    "resume_future": b"\x01\x00@-999999999\n",
    "resume_query": b"\x03\x01@-1\nkind=fuzz",
    "other_epoch": b"\x00\x00deadbeef-5\n",
    "no_dash": b"\x00\x00@\n",
    "huge_seq": b"\x00\x00@-99999999999999999999\n",
    "sign": b"\x00\x00@--1\n",
    "filters": b"\x20\x00@-3\nkind=fuzz,x&group=default&task=1,2&type=task.log,-task.progress",
    "bad_task_filter": b"\x00\x00\ntask=1,x",
    "many_tasks": b"\x00\x00\ntask=" + b",".join(str(i).encode() for i in range(1, 300)),
    "wrap": b"\x7f\x00@-1\ntype=task.log",
}


def progress_seeds():
    out = {}
    d = os.path.join(REPO, "tests", "fixtures", "progress")
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
            lines = [ln.rstrip("\n").split("\t", 1)[1] for ln in f
                     if not ln.startswith("#") and "\t" in ln]
        for i, text in enumerate(lines[:6]):
            out[f"{name[:-4]}_{i}"] = text.encode()
    return out


def redact_seeds():
    # [shape][cap][seed x4][prefix length][prefix + suffix]
    texts = [b"export DB_PASSWORD=s3cret && run", b"curl -H 'Authorization: Bearer abc.def'",
             b"postgres://bob:pw@db/app ok", b"token=abc&x=1", b"plain text, nothing secret",
             b"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----"]
    out = {}
    for i, t in enumerate(texts):
        out[f"text_{i}"] = bytes([i * 7 % 40, i % 10, 1, 2, 3, 4, min(len(t) // 2, 255)]) + t
    return out


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{target}: {len(seeds)} seeds", file=sys.stderr)


if __name__ == "__main__":
    write("fuzz_http", HTTP)
    write("fuzz_sse", SSE)
    write("fuzz_progress", progress_seeds())
    write("fuzz_redact", redact_seeds())
