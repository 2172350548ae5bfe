"""Reporting on work this program does: ``ProgressTracker`` and ``track``.

A tracker registers a *tracked* task (``POST /api/tasks`` without a command),
reports on it with ``PATCH /api/tasks/ID`` and ends it. While it is open a
daemon thread keeps its heartbeat (an empty PATCH every
``heartbeat_timeout_s / 3`` seconds when nothing else was sent), so a task
whose program dies is marked lost by the daemon, and one that is merely busy
is not.

Every PATCH answer carries ``cancel_requested`` and ``pause_requested``:
``update()`` raises ``Cancelled`` (after marking the task cancelled) once a
cancel was requested, unless the tracker was made with
``raise_on_cancel=False``; ``wait_if_paused()`` honours a pause request.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, TypeVar, Union

from .client import FINAL_STATES, Client, TaskId, get_client
from .errors import Cancelled, Conflict, TaskNotFound, TasklightError

__all__ = ["ProgressTracker", "track", "Track"]

T = TypeVar("T")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()

# seed-style substep status names -> tasklight substep states
_SUBSTEP_STATES = {
    "pending": "queued", "queued": "queued", "waiting": "queued",
    "running": "running", "in_progress": "running", "started": "running",
    "completed": "completed", "done": "completed", "success": "completed",
    "succeeded": "completed", "ok": "completed",
    "failed": "failed", "error": "failed", "failure": "failed",
    "cancelled": "cancelled", "canceled": "cancelled", "skipped": "cancelled",
}

_open_trackers: "weakref.WeakSet[ProgressTracker]" = weakref.WeakSet()
_open_lock = threading.Lock()


def _fail_open_trackers() -> None:
    """At interpreter exit: a tracker still open has lost its reporter."""
    with _open_lock:
        trackers = list(_open_trackers)
    for t in trackers:
        try:
            t.fail("the reporting process exited before the task ended")
        except Exception:
            pass


atexit.register(_fail_open_trackers)


class _Heartbeat(threading.Thread):
    """PATCHes {} whenever the tracker has sent nothing for ``interval`` s."""

    def __init__(self, tracker: "ProgressTracker", interval: float):
        super().__init__(name=f"tasklight-heartbeat-{tracker.task_id}", daemon=True)
        self.tracker = tracker
        self.interval = interval
        self.stop_event = threading.Event()

    def run(self) -> None:
        tr = self.tracker
        wait = self.interval
        while not self.stop_event.wait(wait):
            since = time.monotonic() - tr._last_sent
            if since < self.interval:
                wait = self.interval - since
                continue
            wait = self.interval
            try:
                tr._absorb(tr.client.heartbeat(tr.task_id, minimal=True))
            except (Conflict, TaskNotFound):
                tr._gone()
                return
            except TasklightError:
                wait = min(self.interval, 1.0)  # the daemon may be restarting
            except Exception:
                wait = self.interval


class ProgressTracker:
    """One tracked task, reported on by this program.

    As a context manager it registers the task on entry and, on exit,
    completes it, or marks it failed with the exception's message (and the
    exception propagates), or cancelled when the exception is ``Cancelled``::

        with ProgressTracker(task_type="docker_pull", title="Pulling image") as t:
            t.update(progress=25.0, metadata={"layers": "6/24"})
            t.log("layer sha256:abc done")

    ``task_type`` is the task's ``kind``. ``heartbeat_timeout_s`` is sent to
    the daemon (None: the daemon's default, 60 s; 0: never lost).
    ``raise_on_cancel=False`` makes ``update()`` only set
    ``cancel_requested``; ``auto_pause=True`` makes ``update()`` wait while a
    pause is requested. ``task_id`` attaches to an existing running task
    instead of registering a new one.
    """

    def __init__(self, task_type: str = "task", title: Optional[str] = None,
                 description: Optional[str] = None,
                 metadata: Optional[Dict[str, Any]] = None, *,
                 client: Optional[Client] = None, total: Optional[float] = None,
                 unit: Optional[str] = None, key: Optional[str] = None,
                 owner: Optional[str] = None,
                 heartbeat_timeout_s: Optional[float] = None,
                 raise_on_cancel: bool = True, auto_pause: bool = False,
                 task_id: Optional[TaskId] = None, kind: Optional[str] = None,
                 priority: Union[int, str, None] = None,
                 group: Optional[str] = None):
        self.client = client or get_client()
        self.task_type = kind or task_type
        self.title = title or self.task_type
        self.description = description
        self.initial_metadata = dict(metadata or {})
        self.total = total
        self.unit = unit
        self.key = key
        self.owner = owner
        self.priority = priority
        self.group = group
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.raise_on_cancel = raise_on_cancel
        self.auto_pause = auto_pause
        self.task_id: Optional[int] = int(task_id) if task_id is not None else None
        self.task: Dict[str, Any] = {}
        self.result: Any = None
        self._lock = threading.RLock()  # brief: the fields below
        self._end_lock = threading.Lock()  # one end, across its requests
        self._started = False
        self._finished = False
        self._cancel_req = False
        self._pause_req = False
        self._state: Optional[str] = None
        self._last_sent = time.monotonic()
        self._hb: Optional[_Heartbeat] = None
        self._cancel_callbacks: List[Callable[["ProgressTracker"], None]] = []

    # ---- lifecycle ----------------------------------------------------------

    def start(self) -> "ProgressTracker":
        """Registers the task (or attaches to ``task_id``) and starts the
        heartbeat. Called by ``with`` and by ``task_manager.create_task``."""
        with self._lock:
            if self._started:
                return self
            if self.task_id is None:
                t = self.client.create_task(
                    self.title, kind=self.task_type, description=self.description,
                    metadata=self.initial_metadata or None, total=self.total,
                    unit=self.unit, key=self.key, owner=self.owner,
                    heartbeat_timeout_s=self.heartbeat_timeout_s,
                    priority=self.priority, group=self.group)
                self.task_id = int(t["id"])
            else:  # attach: the first heartbeat also says whether it runs
                try:
                    t = self.client.heartbeat(self.task_id)
                except Conflict:
                    t = self.client.get_task(self.task_id)
            self._started = True
            self._absorb(t)
            if t.get("state") in FINAL_STATES:
                self._finished = True
                return self
            hb = t.get("heartbeat_timeout_s", self.heartbeat_timeout_s)
            if hb is None:
                hb = 60.0
            self.heartbeat_timeout_s = hb
            if hb and hb > 0 and t.get("source") == "tracked":
                self._hb = _Heartbeat(self, max(0.05, float(hb) / 3.0))
                self._hb.start()
            with _open_lock:
                _open_trackers.add(self)
        return self

    def __enter__(self) -> "ProgressTracker":
        return self.start()

    def __exit__(self, et: Any, ev: Any, tb: Any) -> bool:
        if self._finished:
            self._stop()
            return False
        try:
            if et is None:
                self.complete()
            elif issubclass(et, Cancelled):
                self._mark_cancelled(ev.message if ev else "cancelled")
            elif issubclass(et, KeyboardInterrupt):
                self._mark_cancelled("interrupted (KeyboardInterrupt)")
            elif issubclass(et, Exception):
                self.fail(str(ev) if ev is not None and str(ev) else et.__name__)
            else:  # SystemExit, GeneratorExit, ...
                self.fail(f"{et.__name__}: {ev}" if ev is not None and str(ev) else et.__name__)
        except TasklightError:
            if et is None:
                raise
            # the work's own exception matters more than a failed report
        finally:
            self._stop()
        return False

    def close(self) -> None:
        """Stops the heartbeat without ending the task (it will be lost)."""
        self._stop()

    def _stop(self) -> None:
        hb, self._hb = self._hb, None
        if hb is not None:
            hb.stop_event.set()
            if hb is not threading.current_thread():
                hb.join(timeout=5)
        with _open_lock:
            _open_trackers.discard(self)

    def _gone(self) -> None:
        """The task ended without us (lost, cancelled outright, removed)."""
        try:
            self._absorb(self.client.get_task(self.task_id), sent=False)
        except TasklightError:
            pass
        self._finished = True
        self._stop()

    # ---- state --------------------------------------------------------------

    @property
    def id(self) -> Optional[int]:
        return self.task_id

    @property
    def state(self) -> Optional[str]:
        """The task's state as last seen (``running``, ``paused``, ...)."""
        return self._state

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def cancel_requested(self) -> bool:
        """True once a cancel was requested (seen in any answer, heartbeats
        included) or the task was cancelled."""
        return self._cancel_req

    @property
    def pause_requested(self) -> bool:
        """True while a pause is requested and not yet honoured."""
        return self._pause_req

    @property
    def stream_url(self) -> str:
        return self.client.stream_url(self.task_id)

    def on_cancel_requested(self, callback: Callable[["ProgressTracker"], None]) -> None:
        """Calls ``callback(tracker)`` once, from whichever thread first sees
        the cancel request (the heartbeat thread, often)."""
        fire = False
        with self._lock:
            if self._cancel_req:
                fire = True
            else:
                self._cancel_callbacks.append(callback)
        if fire:
            callback(self)

    def _set_cancel_requested(self) -> None:
        with self._lock:
            if self._cancel_req:
                return
            self._cancel_req = True
            callbacks, self._cancel_callbacks = self._cancel_callbacks, []
        for cb in callbacks:
            try:
                cb(self)
            except Exception:
                pass

    def _absorb(self, t: Dict[str, Any], sent: bool = True) -> None:
        """Takes in the task from an answer (``sent``: to a report, which
        was also a heartbeat)."""
        if not isinstance(t, dict) or "state" not in t:
            return
        with self._lock:
            # a heartbeat asks for the short answer: it updates the task held
            self.task = {**self.task, **t} if isinstance(self.task, dict) else t
            self._state = t.get("state")
            self._pause_req = bool(t.get("pause_requested"))
            if sent:
                self._last_sent = time.monotonic()
        if t.get("cancel_requested") or t.get("state") == "cancelled":
            self._set_cancel_requested()

    def _ensure_started(self) -> None:
        if not self._started:
            self.start()

    def _patch(self, body: Dict[str, Any], check: bool = True) -> Dict[str, Any]:
        self._ensure_started()
        try:
            t = self.client.patch_task(self.task_id, body)
        except Conflict:
            # the task may have ended without us: cancelled outright, lost
            t = self.client.get_task(self.task_id)
            self._absorb(t, sent=False)
            if t.get("state") in FINAL_STATES:
                self._finished = True
                self._stop()
                if t.get("state") == "cancelled" and check and self.raise_on_cancel:
                    raise Cancelled(self.task_id, "the task was cancelled") from None
            raise
        self._absorb(t)
        if check:
            self.check()
        return t

    def check(self) -> None:
        """Raises ``Cancelled`` (marking the task cancelled) if a cancel was
        requested and the tracker raises on cancel; waits while paused if the
        tracker was made with ``auto_pause``. Makes no request unless it acts."""
        if self._finished and self._state != "cancelled":
            return
        if self._cancel_req and self.raise_on_cancel:
            if not self._finished:
                self._mark_cancelled("cancelled on request")
            raise Cancelled(self.task_id)
        if self.auto_pause and self._pause_req and not self._finished:
            self.wait_if_paused()

    # ---- reporting ----------------------------------------------------------

    def update(self, progress: Any = UNSET, metadata: Optional[Dict[str, Any]] = None,
               message: Optional[str] = None, *, status: Optional[str] = None,
               current: Optional[float] = None, total: Optional[float] = None,
               unit: Optional[str] = None, **fields: Any) -> Dict[str, Any]:
        """Reports progress (percent 0..100, None for unknown), metadata
        (merged; a key set to None is removed), a message, and/or
        current/total/unit counts. ``status`` is the seed's free-text phase
        ("creating", "starting"): it becomes the message when none is given,
        and ``metadata["status"]``. Raises ``Cancelled`` if a cancel was
        requested (see the class). Answers the task."""
        body: Dict[str, Any] = dict(fields)
        if progress is not UNSET:
            body["progress"] = None if progress is None else float(progress)
        if metadata:
            body["metadata"] = dict(metadata)
        if status is not None:
            body.setdefault("metadata", {})["status"] = status
            if message is None:
                message = status
        if message is not None:
            body["message"] = str(message)
        if current is not None:
            body["current"] = current
        if total is not None:
            body["total"] = total
            self.total = total
        if unit is not None:
            body["unit"] = unit
        return self._patch(body)

    def heartbeat(self) -> Dict[str, Any]:
        """An empty report: proves the reporter is alive; answers the task."""
        return self._patch({})

    def log(self, line: Union[str, Iterable[str]], stream: str = "stdout") -> int:
        """Appends log lines (a string with newlines is split)."""
        self._ensure_started()
        if isinstance(line, str):
            lines = line.splitlines() or [""]
        else:
            lines = [str(x) for x in line]
        n = self.client.append_logs(self.task_id, lines, stream=stream)
        self._last_sent = time.monotonic()
        return n

    def add_substep(self, step_id: str, name: Optional[str] = None, *,
                    progress: Optional[float] = None,
                    status: Optional[str] = None) -> Dict[str, Any]:
        """Adds a substep (running unless ``status`` says otherwise)."""
        self._ensure_started()
        state = _SUBSTEP_STATES.get(status, status) if status else None
        s = self.client.add_substep(self.task_id, name or str(step_id), str(step_id),
                                    state=state, progress=progress)
        self._last_sent = time.monotonic()
        return s

    def update_substep(self, step_id: str, progress: Optional[float] = None,
                       status: Optional[str] = None,
                       error_message: Optional[str] = None, *,
                       name: Optional[str] = None) -> Dict[str, Any]:
        """Updates a substep: progress (0..100), status (``completed``,
        ``failed``, ``running``, ``pending``, ...), error message, name. A
        substep never added is added."""
        self._ensure_started()
        body: Dict[str, Any] = {}
        if progress is not None:
            body["progress"] = float(progress)
        if status is not None:
            body["state"] = _SUBSTEP_STATES.get(status, status)
        if error_message is not None:
            body["error"] = str(error_message)
            body.setdefault("state", "failed")
        if name is not None:
            body["name"] = name
        try:
            s = self.client.update_substep(self.task_id, str(step_id), body)
        except TaskNotFound:
            s = self.client.add_substep(self.task_id, name or str(step_id), str(step_id),
                                        state=body.get("state"), progress=body.get("progress"))
            if "error" in body:
                s = self.client.update_substep(self.task_id, str(step_id), body)
        self._last_sent = time.monotonic()
        return s

    # ---- ending ---------------------------------------------------------------

    def _end(self, body: Dict[str, Any]) -> Dict[str, Any]:
        self._ensure_started()
        with self._end_lock:
            if self._finished:
                return self.task
            if self.task.get("source") == "command":
                # inside a task the daemon runs: its process decides its state
                body = {k: v for k, v in body.items() if k != "state"}
            elif self._state == "paused" and body.get("state") == "completed":
                try:  # paused -> completed is not a transition: resume first
                    self._patch({"state": "running"}, check=False)
                except Conflict:
                    pass
            t = self._patch(body, check=False)
            self._finished = True
        self._stop()
        return t

    def complete(self, metadata: Optional[Dict[str, Any]] = None, result: Any = None,
                 message: Optional[str] = None, *, progress: Any = UNSET) -> Dict[str, Any]:
        """Marks the task completed, with optional final metadata, result and
        message. Progress becomes 100 (current = total when counted) unless
        ``progress`` is given."""
        body: Dict[str, Any] = {"state": "completed"}
        if progress is not UNSET:
            body["progress"] = None if progress is None else float(progress)
        elif self.total is None and not self.task.get("total"):
            body["progress"] = 100.0
        elif self.task.get("total") is not None:
            body["current"] = self.task.get("total")
        if metadata:
            body["metadata"] = dict(metadata)
        if result is not None:
            body["result"] = result
            self.result = result
        if message is not None:
            body["message"] = str(message)
        return self._end(body)

    def fail(self, message: str, metadata: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Marks the task failed with ``message`` as its error."""
        body: Dict[str, Any] = {"state": "failed", "error": str(message) or "failed"}
        if metadata:
            body["metadata"] = dict(metadata)
        return self._end(body)

    def cancel(self, message: Optional[str] = None) -> Dict[str, Any]:
        """Marks the task cancelled (the reporter stops its work)."""
        return self._mark_cancelled(message or "cancelled")

    def _mark_cancelled(self, message: str) -> Dict[str, Any]:
        self._set_cancel_requested()
        body: Dict[str, Any] = {"state": "cancelled"}
        if message:
            body["message"] = message
        return self._end(body)

    # ---- pause --------------------------------------------------------------

    def wait_if_paused(self, poll_interval: float = 0.5,
                       timeout: Optional[float] = None) -> bool:
        """If a pause is requested: marks the task paused, heart-beats every
        ``poll_interval`` s until the pause is lifted (``tl resume``), marks it
        running again and returns True; returns False at once otherwise.
        Raises ``Cancelled`` if a cancel is requested meanwhile (when the
        tracker raises on cancel; else returns with ``cancel_requested``)."""
        self._ensure_started()
        if not self._pause_req or self._finished:
            return False
        t = self._patch({"state": "paused"}, check=False)
        baseline = t.get("updated_at")
        # A daemon may keep pause_requested set while the task is paused (then
        # its clearing is the resume); the current one clears it when the
        # reporter pauses, and a resume request then shows only as a change
        # of updated_at (with a task.updated event).
        keeps_flag = bool(t.get("pause_requested"))
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._cancel_req:
                if self.raise_on_cancel:
                    if not self._finished:
                        self._mark_cancelled("cancelled on request")
                    raise Cancelled(self.task_id)
                return True
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(poll_interval)
            t = self._patch({}, check=False)
            if t.get("state") != "paused":
                if t.get("state") in FINAL_STATES:
                    self._finished = True
                    self._stop()
                    if t.get("state") == "cancelled" and self.raise_on_cancel:
                        raise Cancelled(self.task_id)
                return True
            if t.get("cancel_requested"):
                continue
            if keeps_flag and not t.get("pause_requested"):
                break
            if not keeps_flag and t.get("updated_at") != baseline:
                break
        self._patch({"state": "running"}, check=False)
        return True

    def __repr__(self) -> str:
        return f"<ProgressTracker task {self.task_id} {self._state or 'new'} {self.title!r}>"


class Track:
    """The iterator ``track()`` returns; usable as a context manager too
    (then an exception in the ``with`` body fails the task with its message,
    and a ``break`` completes it)."""

    def __init__(self, iterable: Iterable[T], total: Optional[int] = None,
                 title: Optional[str] = None, kind: str = "track", *,
                 description: Optional[str] = None, unit: str = "it",
                 client: Optional[Client] = None, min_interval: float = 0.1,
                 raise_on_cancel: bool = True, honor_pause: bool = True,
                 metadata: Optional[Dict[str, Any]] = None,
                 heartbeat_timeout_s: Optional[float] = None,
                 tracker: Optional[ProgressTracker] = None):
        if total is None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except (TypeError, AttributeError):
                total = None
        self.iterable = iterable
        self.total = total
        self.n = 0
        self.min_interval = min_interval
        self.tracker = tracker or ProgressTracker(
            task_type=kind, title=title or kind, description=description,
            metadata=metadata, client=client, total=total, unit=unit,
            heartbeat_timeout_s=heartbeat_timeout_s,
            raise_on_cancel=raise_on_cancel, auto_pause=honor_pause)
        self._last = 0.0
        self._in_with = False
        self._exhausted = False

    @property
    def task_id(self) -> Optional[int]:
        return self.tracker.task_id

    def _send(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.min_interval:
            self.tracker.check()  # a cancel seen by the heartbeat still stops us
            return
        self._last = now
        body: Dict[str, Any] = {"current": self.n}
        if self.total is not None:
            body["total"] = max(self.total, self.n)
        self.tracker.update(**body)

    def set_description(self, message: str) -> None:
        """Sets the task's message (tqdm's ``set_description``)."""
        self.tracker.update(message=message)

    def __iter__(self) -> Iterator[T]:
        tr = self.tracker
        tr.start()
        ok = False
        try:
            self._send(force=True)
            for item in self.iterable:
                yield item
                self.n += 1
                self._send()
            self._exhausted = True
            ok = True
        except Cancelled:
            ok = True  # the tracker marked it cancelled already
            raise
        except GeneratorExit:
            # the loop stopped early: a break, an exception in its body, or
            # the iterator dropped. Inside `with` __exit__ decides.
            ok = self._in_with
            raise
        except BaseException as e:
            if not tr.finished:
                tr.fail(str(e) or type(e).__name__)
            ok = True
            raise
        finally:
            if not tr.finished:
                if self._exhausted:
                    try:
                        tr.update(current=self.n, total=max(self.total or 0, self.n))
                    except (Cancelled, TasklightError):
                        pass
                    if not tr.finished:
                        tr.complete()
                elif not ok:
                    total = f" of {self.total}" if self.total is not None else ""
                    tr.fail(f"stopped early after {self.n}{total} items")

    def __enter__(self) -> "Track":
        self._in_with = True
        self.tracker.start()
        return self

    def __exit__(self, et: Any, ev: Any, tb: Any) -> bool:
        return self.tracker.__exit__(et, ev, tb)

    def __len__(self) -> int:
        if self.total is None:
            raise TypeError("the total is not known")
        return self.total


def track(iterable: Iterable[T], total: Optional[int] = None,
          title: Optional[str] = None, kind: str = "track", **kw: Any) -> Track:
    """Wraps an iterable like tqdm: registers a tracked task, reports
    ``current``/``total`` as items are consumed (at most every
    ``min_interval`` s, 0.1 by default), completes the task when the
    iterable is exhausted and fails it when an exception escapes the
    iteration or the loop stops early (``break``; use it as a context
    manager, ``with track(...) as it: for x in it:``, to have an early
    ``break`` complete the task and a body exception fail it with its
    message). Raises ``Cancelled`` from the loop once a cancel is requested
    (``raise_on_cancel=False`` to only set ``it.tracker.cancel_requested``)
    and waits at the next item while a pause is requested
    (``honor_pause=False`` to ignore pauses)."""
    return Track(iterable, total, title, kind, **kw)
