"""The HTTP client: the daemon's API over its unix socket or over TCP.

One ``Client`` is safe to share between threads: each request borrows a
kept-alive connection from a small pool (or opens one) and gives it back
when the answer has been read. Event streams use a connection of their own.

Where the daemon is, when nothing is given explicitly:

1. ``TASKLIGHT_SOCKET`` (a unix socket path; set inside tasks the daemon runs);
2. ``TASKLIGHT_URL`` (``http://127.0.0.1:8787``) with ``TASKLIGHT_TOKEN`` (or
   the ``token`` file of the data directory when it is readable);
3. the socket ``tasklight.sock`` in ``TASKLIGHT_DATA_DIR``, else in
   ``$XDG_DATA_HOME/tasklight``, else in ``~/.local/share/tasklight``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
from typing import Any, Dict, Iterable, Iterator, List, Optional, Union
from urllib.parse import quote, urlencode, urlsplit

from .errors import DaemonUnreachable, InvalidInput, TasklightError, error_for
from .sse import SSEEvent, parse_sse

__all__ = [
    "Client",
    "get_client",
    "set_default_client",
    "configure",
    "default_data_dir",
    "default_socket_path",
    "FINAL_STATES",
    "ACTIVE_STATES",
]

VERSION = "0.1.0"
USER_AGENT = f"tasklight-python/{VERSION}"

FINAL_STATES = ("completed", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running", "paused")

TaskId = Union[int, str]

# Errors that mean "the peer closed this connection": on a kept-alive
# connection they are what an idle connection closed by the daemon looks
# like, so the request is sent once more on a fresh connection.
_STALE = (http.client.RemoteDisconnected, http.client.BadStatusLine,
          BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def default_data_dir() -> str:
    """TASKLIGHT_DATA_DIR, else $XDG_DATA_HOME/tasklight, else
    ~/.local/share/tasklight (the same rule as ``tl``)."""
    d = os.environ.get("TASKLIGHT_DATA_DIR")
    if d:
        return d
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return os.path.join(xdg, "tasklight")
    return os.path.join(os.path.expanduser("~"), ".local", "share", "tasklight")


def default_socket_path() -> str:
    """TASKLIGHT_SOCKET, else DATA_DIR/tasklight.sock."""
    return os.environ.get("TASKLIGHT_SOCKET") or os.path.join(
        default_data_dir(), "tasklight.sock")


def _read_token(data_dir: str) -> Optional[str]:
    try:
        with open(os.path.join(data_dir, "token")) as f:
            return f.read().strip() or None
    except OSError:
        return None


class _UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX stream socket."""

    def __init__(self, path: str, timeout: Optional[float]):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self.unix_path)
        except BaseException:
            s.close()
            raise
        self.sock = s


# RFC 7240: the short answer to a change (id, state and the two requests).
_MINIMAL = {"Prefer": "return=minimal"}


def _task_path(task_id: TaskId, *rest: str) -> str:
    if isinstance(task_id, bool):
        raise TypeError("a task id is an integer")
    parts = ["/api/tasks", quote(str(task_id), safe="")]
    parts.extend(quote(str(r), safe="") for r in rest)
    return "/".join(parts)


def _drop_none(d: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


class Client:
    """A thread-safe client of one tasklight daemon.

    ``Client()`` finds the daemon as the module docstring says;
    ``Client(socket_path=...)``, ``Client(data_dir=...)`` or
    ``Client(url="http://127.0.0.1:8787", token=...)`` choose one.
    ``timeout`` is the socket timeout of ordinary requests, in seconds.
    """

    def __init__(self, socket_path: Optional[str] = None, *,
                 url: Optional[str] = None, token: Optional[str] = None,
                 data_dir: Optional[str] = None, timeout: float = 30.0,
                 max_idle: int = 8):
        self.timeout = timeout
        self.max_idle = max_idle
        self._idle: List[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.socket_path: Optional[str] = None
        self.url: Optional[str] = None
        self.token: Optional[str] = None
        self._host = "localhost"
        self._port: Optional[int] = None
        self._https = False
        self._prefix = ""

        if url is None and socket_path is None and data_dir is None:
            env_sock = os.environ.get("TASKLIGHT_SOCKET")
            env_url = os.environ.get("TASKLIGHT_URL")
            if env_sock:
                socket_path = env_sock
            elif env_url:
                url = env_url
        if url is not None:
            self._set_url(url)
            self.token = (token or os.environ.get("TASKLIGHT_TOKEN")
                          or _read_token(data_dir or default_data_dir()))
        else:
            if socket_path is None:
                socket_path = os.path.join(data_dir or default_data_dir(),
                                           "tasklight.sock")
            self.socket_path = os.path.expanduser(socket_path)
            self.token = token

    # ---- connections --------------------------------------------------------

    def _set_url(self, url: str) -> None:
        if "://" not in url:
            url = "http://" + url
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http URL: {url!r}")
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port
        self._prefix = u.path.rstrip("/")
        self.url = f"{u.scheme}://{u.netloc}{self._prefix}"

    @property
    def where(self) -> str:
        """The socket path or the URL this client talks to."""
        return self.socket_path or self.url or "?"

    def _new_conn(self, timeout: Optional[float]) -> http.client.HTTPConnection:
        if self.socket_path:
            return _UnixHTTPConnection(self.socket_path, timeout)
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=timeout)

    def _checkout(self) -> "tuple[http.client.HTTPConnection, bool]":
        with self._lock:
            if self._closed:
                raise TasklightError("the client is closed")
            if self._idle:
                return self._idle.pop(), True
        return self._new_conn(self.timeout), False

    def _checkin(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Closes the idle connections; the client can no longer be used."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _headers(self, extra: Optional[Dict[str, str]] = None,
                 json_body: bool = False) -> Dict[str, str]:
        h = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if json_body:
            h["Content-Type"] = "application/json"
        if self.token and not self.socket_path:
            h["Authorization"] = f"Bearer {self.token}"
        if extra:
            h.update(extra)
        return h

    def _unreachable(self, e: BaseException) -> DaemonUnreachable:
        what = f"unix socket {self.socket_path}" if self.socket_path else self.url
        if isinstance(e, FileNotFoundError):
            msg = f"no tasklight daemon: {what} does not exist (start one with `tl serve`)"
        elif isinstance(e, ConnectionRefusedError):
            msg = f"no tasklight daemon answers on {what} (start one with `tl serve`)"
        elif isinstance(e, socket.timeout):
            msg = f"the tasklight daemon on {what} did not answer in time"
        else:
            msg = f"cannot talk to the tasklight daemon on {what}: {e}"
        return DaemonUnreachable(msg, code="unreachable")

    # ---- requests -----------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *,
                query: Optional[Dict[str, Any]] = None,
                headers: Optional[Dict[str, str]] = None,
                timeout: Optional[float] = None) -> Any:
        """Sends one request; returns the parsed JSON answer (text when the
        answer is not JSON). Error answers raise the matching TasklightError.
        ``body`` is JSON-encoded unless it is bytes or str."""
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                path = path + "?" + urlencode(q)
        data: Optional[bytes] = None
        is_json = False
        if body is not None:
            if isinstance(body, bytes):
                data = body
            elif isinstance(body, str):
                data = body.encode()
            else:
                try:
                    data = json.dumps(body, allow_nan=False,
                                      separators=(",", ":")).encode()
                except ValueError as e:  # NaN / infinity
                    raise InvalidInput(f"cannot send {body!r}: {e}",
                                       code="bad_request") from None
                is_json = True
        hdrs = self._headers(headers, json_body=is_json or data is not None)
        full = self._prefix + path
        for attempt in (0, 1):
            conn, reused = self._checkout()
            try:
                if timeout is not None and conn.sock is not None:
                    conn.sock.settimeout(timeout)
                elif conn.sock is not None:
                    conn.sock.settimeout(self.timeout)
                if timeout is not None:
                    conn.timeout = timeout
                conn.request(method, full, body=data, headers=hdrs)
                resp = conn.getresponse()
                raw = resp.read()
            except _STALE as e:
                conn.close()
                if reused and attempt == 0:
                    continue
                raise self._unreachable(e) from None
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise self._unreachable(e) from None
            except BaseException:
                conn.close()
                raise
            if resp.will_close:
                conn.close()
            else:
                self._checkin(conn)
            return self._answer(resp.status, resp.getheader("Content-Type", ""), raw,
                                resp.getheader("Retry-After"))
        raise AssertionError("unreachable")

    @staticmethod
    def _answer(status: int, ctype: str, raw: bytes,
                retry_after: Optional[str] = None) -> Any:
        text = raw.decode("utf-8", "replace")
        parsed: Any = text
        if "json" in ctype or text[:1] in ("{", "["):
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = text
        if status >= 400:
            raise error_for(status, parsed, text.strip()[:500], retry_after)
        return parsed

    def stream(self, path: str, *, query: Optional[Dict[str, Any]] = None,
               headers: Optional[Dict[str, str]] = None,
               timeout: Optional[float] = 60.0) -> Iterator[SSEEvent]:
        """GETs an event stream on a connection of its own and yields its
        events until the daemon closes it. ``timeout`` bounds the wait for
        any byte (the daemon sends a comment every 15 s); None waits forever.
        Closing the generator closes the connection."""
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                path = path + "?" + urlencode(q)
        hdrs = self._headers(headers)
        hdrs["Accept"] = "text/event-stream"
        conn = self._new_conn(timeout)
        try:
            try:
                conn.request("GET", self._prefix + path, headers=hdrs)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                raise self._unreachable(e) from None
            if resp.status >= 400:
                self._answer(resp.status, resp.getheader("Content-Type", ""), resp.read())
            try:
                yield from parse_sse(iter(resp.readline, b""))
            except (OSError, http.client.HTTPException) as e:
                raise self._unreachable(e) from None
        finally:
            conn.close()

    # ---- endpoints ------------------------------------------------------------

    def health(self) -> Dict[str, Any]:
        """GET /healthz: ``{"ok": true, "version": ...}``."""
        return self.request("GET", "/healthz")

    def ping(self) -> bool:
        """True when a daemon answers."""
        try:
            return bool(self.health().get("ok"))
        except TasklightError:
            return False

    def list_tasks(self, *, state: Optional[str] = None, kind: Optional[str] = None,
                   group: Optional[str] = None, q: Optional[str] = None,
                   limit: Optional[int] = None,
                   cursor: Optional[int] = None) -> Dict[str, Any]:
        """GET /api/tasks: ``{"tasks": [...], "counts": {...}, "next_cursor": ...}``,
        newest first."""
        return self.request("GET", "/api/tasks", query=dict(
            state=state, kind=kind, group=group, q=q, limit=limit, cursor=cursor))

    def iter_tasks(self, *, page_size: int = 100, **filters: Any) -> Iterator[Dict[str, Any]]:
        """Every task matching the filters, newest first, page by page."""
        cursor = None
        while True:
            page = self.list_tasks(limit=page_size, cursor=cursor, **filters)
            yield from page.get("tasks", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def get_task(self, task_id: TaskId) -> Dict[str, Any]:
        """GET /api/tasks/ID."""
        return self.request("GET", _task_path(task_id))

    def create_task(self, title: Optional[str] = None, *, kind: Optional[str] = None,
                    **fields: Any) -> Dict[str, Any]:
        """POST /api/tasks without a command: a tracked task, running at once.
        Fields as docs/API.md says (description, key, owner, metadata, total,
        current, unit, progress, message, heartbeat_timeout_s, priority, ...);
        None values are left out."""
        body = _drop_none(dict(title=title, kind=kind, **fields))
        body.pop("command", None)
        return self.request("POST", "/api/tasks", body)

    def add_command(self, argv: Iterable[str], *, cwd: Optional[str] = None,
                    env: Optional[Dict[str, str]] = None, **fields: Any) -> Dict[str, Any]:
        """POST /api/tasks with a command: the daemon runs ``argv``. Fields:
        title, kind, description, priority, group, timeout_s, max_retries, key."""
        cmd: Dict[str, Any] = {"argv": list(argv)}
        if cwd is not None:
            cmd["cwd"] = cwd
        if env is not None:
            cmd["env"] = env
        body = _drop_none(fields)
        body["command"] = cmd
        return self.request("POST", "/api/tasks", body)

    def patch_task(self, task_id: TaskId, fields: Optional[Dict[str, Any]] = None,
                   *, minimal: bool = False, **kw: Any) -> Dict[str, Any]:
        """PATCH /api/tasks/ID: a report (progress, current, total, unit,
        message, metadata, state, result, error) or a label change. Values
        are sent as given: ``progress=None`` means "unknown". Answers the task,
        with ``cancel_requested`` and ``pause_requested``; with
        ``minimal=True`` (``Prefer: return=minimal``) only ``id``, ``state``,
        ``cancel_requested`` and ``pause_requested``, which is cheaper for a
        reporter that sends many updates."""
        body = dict(fields or {})
        body.update(kw)
        return self.request("PATCH", _task_path(task_id), body,
                            headers=_MINIMAL if minimal else None)

    report = patch_task

    def heartbeat(self, task_id: TaskId, *, minimal: bool = False) -> Dict[str, Any]:
        """An empty PATCH: keeps a tracked task from being marked lost."""
        return self.request("PATCH", _task_path(task_id), {},
                            headers=_MINIMAL if minimal else None)

    def delete_task(self, task_id: TaskId) -> Dict[str, Any]:
        """DELETE /api/tasks/ID (a task that is not running or paused)."""
        return self.request("DELETE", _task_path(task_id))

    def cancel_task(self, task_id: TaskId) -> Dict[str, Any]:
        """POST /api/tasks/ID/cancel. A command task ends at once; a tracked
        task gets ``cancel_requested`` (its reporter ends it)."""
        return self.request("POST", _task_path(task_id, "cancel"))

    def pause_task(self, task_id: TaskId) -> Dict[str, Any]:
        """POST /api/tasks/ID/pause."""
        return self.request("POST", _task_path(task_id, "pause"))

    def resume_task(self, task_id: TaskId) -> Dict[str, Any]:
        """POST /api/tasks/ID/resume."""
        return self.request("POST", _task_path(task_id, "resume"))

    def retry_task(self, task_id: TaskId) -> Dict[str, Any]:
        """POST /api/tasks/ID/retry."""
        return self.request("POST", _task_path(task_id, "retry"))

    def get_logs(self, task_id: TaskId, tail: int = 100, *, from_line: Optional[int] = None,
                 limit: Optional[int] = None) -> Dict[str, Any]:
        """GET /api/tasks/ID/logs: ``{"lines": [{ts, stream, text}], "truncated",
        "total_lines"}``; the last ``tail`` lines (0: all), or ``limit`` lines
        from line ``from_line``."""
        q: Dict[str, Any] = {"tail": tail}
        if from_line is not None:
            q = {"from": from_line, "limit": limit}
        elif limit is not None:
            q["limit"] = limit
        return self.request("GET", _task_path(task_id, "logs"), query=q)

    def append_logs(self, task_id: TaskId, lines: Union[str, Iterable[str]],
                    stream: str = "stdout") -> int:
        """POST /api/tasks/ID/logs; returns how many lines were appended."""
        if isinstance(lines, str):
            lines = [lines]
        body = {"lines": [str(x) for x in lines], "stream": stream}
        return int(self.request("POST", _task_path(task_id, "logs"), body)["appended"])

    def add_substep(self, task_id: TaskId, name: str, step_id: Optional[str] = None, *,
                    state: Optional[str] = None,
                    progress: Optional[float] = None) -> Dict[str, Any]:
        """POST /api/tasks/ID/substeps; answers the substep."""
        body = _drop_none(dict(name=name, id=step_id, state=state, progress=progress))
        return self.request("POST", _task_path(task_id, "substeps"), body)

    def update_substep(self, task_id: TaskId, step_id: str,
                       fields: Optional[Dict[str, Any]] = None, **kw: Any) -> Dict[str, Any]:
        """PATCH /api/tasks/ID/substeps/SID with any of name, state,
        progress, error; answers the substep."""
        body = dict(fields or {})
        body.update(kw)
        return self.request("PATCH", _task_path(task_id, "substeps", step_id), body)

    def list_groups(self) -> List[Dict[str, Any]]:
        """GET /api/groups."""
        return self.request("GET", "/api/groups")["groups"]

    def set_parallel(self, group: str, parallel: int) -> Dict[str, Any]:
        """PUT /api/groups/NAME ``{"parallel": N}`` (0 = unlimited)."""
        return self.request("PUT", "/api/groups/" + quote(group, safe=""),
                            {"parallel": parallel})

    def clean(self, older_than_s: float = 0) -> int:
        """POST /api/clean; returns how many finished tasks were removed."""
        return int(self.request("POST", "/api/clean",
                                {"older_than_s": older_than_s})["removed"])

    def list_tokens(self) -> List[Dict[str, Any]]:
        """GET /api/tokens (admins): name, role, created_at of each named token."""
        return self.request("GET", "/api/tokens")["tokens"]

    def create_token(self, name: str, role: str = "user") -> Dict[str, Any]:
        """POST /api/tokens (admins): ``{"name", "role", "token"}``; the
        secret is shown this once. Roles: read-only, user, admin."""
        return self.request("POST", "/api/tokens", {"name": name, "role": role})

    def delete_token(self, name: str) -> Any:
        """DELETE /api/tokens/NAME (admins): revokes it at once."""
        return self.request("DELETE", "/api/tokens/" + quote(name, safe=""))

    def stats(self) -> Dict[str, Any]:
        """GET /api/stats: ``{"counts": {...}, "groups": [...]}``."""
        return self.request("GET", "/api/stats")

    def stream_url(self, task_id: TaskId, *, absolute: bool = False) -> str:
        """The per-task event stream, ``/api/tasks/ID/stream`` (with the base
        URL in front when ``absolute`` and the client talks TCP)."""
        path = _task_path(task_id, "stream")
        if absolute and self.url:
            return self.url + path
        return path

    def stream_events(self, task_id: TaskId, *, logs: int = 0,
                      timeout: Optional[float] = 60.0) -> Iterator[SSEEvent]:
        """The events of one task (``task.snapshot`` first) until the stream
        closes after its final event (at once when it has ended already).
        ``logs=N`` replays the last N log lines after the snapshot."""
        return self.stream(_task_path(task_id, "stream"),
                           query={"logs": logs or None}, timeout=timeout)

    def events(self, *, last_event_id: Optional[Union[int, str]] = None,
               timeout: Optional[float] = 60.0) -> Iterator[SSEEvent]:
        """Every task's events (GET /api/events), without end."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id else None
        return self.stream("/api/events", headers=headers, timeout=timeout)

    def wait(self, task_id: TaskId, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Blocks until the task has ended (following its event stream);
        returns it. Raises TimeoutError after ``timeout`` seconds."""
        import time
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            task = self.get_task(task_id)
            if task.get("state") in FINAL_STATES:
                return task
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"task {task_id} did not end in {timeout} s")
            try:
                for ev in self.stream_events(task_id, timeout=min(left or 60.0, 60.0)):
                    if isinstance(ev.data, dict) and ev.data.get("state") in FINAL_STATES \
                            and ev.data.get("id") == task.get("id"):
                        return ev.data
            except DaemonUnreachable:
                pass  # no event for a while: look again (a dead daemon raises above)

    def __repr__(self) -> str:
        return f"<tasklight.Client {self.where}>"


# ---- the default client ------------------------------------------------------

_default: Optional[Client] = None
_default_lock = threading.Lock()


def get_client() -> Client:
    """The process-wide client, made on first use from the environment."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def set_default_client(client: Optional[Client]) -> None:
    """Replaces the process-wide client (None: made again on next use)."""
    global _default
    with _default_lock:
        old, _default = _default, client
    if old is not None and old is not client:
        old.close()


def configure(socket_path: Optional[str] = None, **kw: Any) -> Client:
    """Makes the process-wide client with these arguments (as ``Client``)."""
    c = Client(socket_path, **kw)
    set_default_client(c)
    return c
