"""Seed 004's task system: ``BaseTask.execute(progress_handle, **kwargs)``
run on a thread pool, progress through a handle, a result dict, and the
per-task SSE stream ``/api/tasks/ID/stream`` (served by the daemon, so any
client, a browser's EventSource included, can follow it).

    class Resize(BaseTask):
        def execute(self, progress_handle, **kwargs):
            for i, path in enumerate(kwargs["paths"]):
                progress_handle.send_progress(f"resizing {path}", i / len(kwargs["paths"]))
            return {"resized": len(kwargs["paths"])}

    start = TaskService().start_task(Resize(), paths=["a.png", "b.png"])
    for event in stream_events(start.task_id):
        print(event.event, event.data["progress"])
"""

from __future__ import annotations

import abc
import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, Optional

from .client import FINAL_STATES, Client, TaskId, get_client
from .errors import Cancelled, Conflict, TaskNotFound, TasklightError
from .sse import SSEEvent
from .tracker import ProgressTracker

__all__ = ["BaseTask", "ProgressHandle", "TaskService", "TaskStartResponse",
           "stream_events", "stream_url"]


def stream_url(task_id: TaskId, client: Optional[Client] = None, absolute: bool = False) -> str:
    """``/api/tasks/ID/stream`` (absolute when the client talks TCP and
    ``absolute`` is set)."""
    return (client or get_client()).stream_url(task_id, absolute=absolute)


def stream_events(task_id: TaskId, client: Optional[Client] = None, *, logs: int = 0,
                  timeout: Optional[float] = 60.0) -> Iterator[SSEEvent]:
    """Yields the task's events, parsed (``task.snapshot`` first, then
    ``task.progress``, ``task.log``, ..., and the final ``task.completed`` /
    ``task.failed`` / ``task.cancelled``), until the daemon closes the stream."""
    return (client or get_client()).stream_events(task_id, logs=logs, timeout=timeout)


class ProgressHandle:
    """Passed to ``BaseTask.execute``: sends progress text, a value in
    0.0..1.0, or both. Raises ``Cancelled`` once the task was cancelled or
    timed out, so the task stops at its next report."""

    def __init__(self, tracker: ProgressTracker):
        self.tracker = tracker
        self._stopped: Optional[str] = None

    @property
    def task_id(self) -> Optional[int]:
        return self.tracker.task_id

    @property
    def is_cancelled(self) -> bool:
        return self._stopped is not None or self.tracker.cancel_requested

    def _check(self) -> None:
        if self._stopped is not None:
            raise Cancelled(self.task_id, self._stopped)

    def send_progress_text(self, text: str) -> None:
        """Sends a status text."""
        self._check()
        self.tracker.update(message=str(text))

    def send_progress_value(self, value: float) -> None:
        """Sends progress as a fraction, 0.0 to 1.0."""
        self._check()
        self.tracker.update(progress=_percent(value))

    def send_progress(self, text: str, value: float) -> None:
        """Sends a status text and a progress fraction together."""
        self._check()
        self.tracker.update(progress=_percent(value), message=str(text))

    def log(self, line: str) -> None:
        """Appends a line to the task's log (a ``task.log`` event)."""
        self._check()
        self.tracker.log(line)


def _percent(value: float) -> float:
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"progress value must be between 0.0 and 1.0, not {value!r}")
    return v * 100.0


class BaseTask(abc.ABC):
    """A background job. Subclasses implement ``execute`` and may set
    ``title``, ``kind`` and ``description`` (class attributes)."""

    title: Optional[str] = None
    kind: Optional[str] = None
    description: Optional[str] = None

    @abc.abstractmethod
    def execute(self, progress_handle: ProgressHandle, **kwargs: Any) -> Dict[str, Any]:
        """Does the work, reporting through ``progress_handle``; returns the
        result (a JSON-able dict) sent to clients with ``task.completed``."""


@dataclass
class TaskStartResponse:
    """What ``start_task`` answers: the task id, its SSE stream URL, its status."""

    task_id: int
    stream_url: str
    status: str = "running"

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _result(v: Any) -> Any:
    if v is None:
        return {}
    try:
        json.dumps(v, allow_nan=False)
        return v
    except (TypeError, ValueError):
        return {"repr": repr(v)[:4000]}


class TaskService:
    """Runs ``BaseTask`` jobs on a thread pool, each as a tracked task.

    ``default_timeout`` (seconds, None for none) fails a task that runs
    longer, as ``timed out after N s``; its thread is told to stop at its
    next report (threads cannot be killed)."""

    def __init__(self, client: Optional[Client] = None, *, max_workers: int = 4,
                 default_timeout: Optional[float] = None,
                 heartbeat_timeout_s: Optional[float] = None):
        self._client = client
        self.default_timeout = default_timeout
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self._pool = ThreadPoolExecutor(max_workers=max_workers,
                                        thread_name_prefix="tasklight-task")
        self._lock = threading.Lock()
        self._running: Dict[int, "tuple[ProgressHandle, Future[Any]]"] = {}

    @property
    def client(self) -> Client:
        return self._client or get_client()

    def start_task(self, task: BaseTask, *, title: Optional[str] = None,
                   kind: Optional[str] = None, timeout: Optional[float] = None,
                   **kwargs: Any) -> TaskStartResponse:
        """Registers the task, starts ``task.execute(handle, **kwargs)`` on
        the pool and answers at once with the id and stream URL."""
        tracker = ProgressTracker(
            task_type=kind or task.kind or type(task).__name__,
            title=title or task.title or type(task).__name__,
            description=task.description, client=self._client,
            heartbeat_timeout_s=self.heartbeat_timeout_s,
            metadata={"task_class": type(task).__name__}).start()
        handle = ProgressHandle(tracker)
        tid = int(tracker.task_id)
        timeout = self.default_timeout if timeout is None else timeout
        timer: Optional[threading.Timer] = None
        if timeout:
            timer = threading.Timer(timeout, self._time_out, (handle, timeout))
            timer.daemon = True
        fut = self._pool.submit(self._execute, task, handle, kwargs, timer)
        with self._lock:
            self._running[tid] = (handle, fut)
        fut.add_done_callback(lambda _f: self._forget(tid))
        return TaskStartResponse(tid, tracker.stream_url, "running")

    def _forget(self, tid: int) -> None:
        with self._lock:
            self._running.pop(tid, None)

    @staticmethod
    def _time_out(handle: ProgressHandle, timeout: float) -> None:
        handle._stopped = f"timed out after {timeout:g} s"
        try:
            handle.tracker.fail(handle._stopped)
        except TasklightError:
            pass

    def _execute(self, task: BaseTask, handle: ProgressHandle, kwargs: Dict[str, Any],
                 timer: Optional[threading.Timer]) -> Any:
        tr = handle.tracker
        if timer is not None:
            timer.start()
        try:
            result = _result(task.execute(handle, **kwargs))
            if not tr.finished:
                tr.complete(result=result)
            return result
        except Cancelled:
            if not tr.finished:
                tr.cancel("cancelled")
        except Exception as e:
            if not tr.finished:
                tr.fail(str(e) or type(e).__name__)
        finally:
            if timer is not None:
                timer.cancel()
            if not tr.finished:
                tr.close()
        return None

    def get_task_status(self, task_id: TaskId) -> Optional[Dict[str, Any]]:
        """``{task_id, status, progress (0..1 or None), progress_text,
        result, error, started_at, finished_at}``; None if there is no such task."""
        try:
            t = self.client.get_task(task_id)
        except TaskNotFound:
            return None
        p = t.get("progress")
        return {
            "task_id": t["id"],
            "status": t["state"],
            "progress": None if p is None else p / 100.0,
            "progress_text": t.get("message"),
            "result": t.get("result"),
            "error": t.get("error"),
            "started_at": t.get("started_at"),
            "finished_at": t.get("finished_at"),
            "stream_url": self.client.stream_url(t["id"]),
        }

    def cancel_task(self, task_id: TaskId) -> bool:
        """Asks a task to stop (it raises ``Cancelled`` at its next report);
        False if it is unknown or has ended."""
        with self._lock:
            entry = self._running.get(int(task_id))
        if entry is not None:
            handle, fut = entry
            handle._stopped = "cancelled"
            if fut.cancel():  # never started: end it here
                handle.tracker.cancel("cancelled before it started")
                return True
        try:
            self.client.cancel_task(task_id)
            return True
        except (TaskNotFound, Conflict):
            return entry is not None

    def wait(self, task_id: TaskId, timeout: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """Waits for a task this service runs (then for the daemon's record)."""
        with self._lock:
            entry = self._running.get(int(task_id))
        if entry is not None:
            try:
                entry[1].result(timeout)
            except Exception:
                pass
        return self.get_task_status(task_id)

    def remove_completed_task(self, task_id: TaskId) -> bool:
        """Deletes a task that has ended; False if it has not or is unknown."""
        try:
            t = self.client.get_task(task_id)
            if t.get("state") not in FINAL_STATES:
                return False
            self.client.delete_task(task_id)
            return True
        except (TaskNotFound, Conflict):
            return False

    def shutdown(self, wait: bool = True, cancel: bool = False) -> None:
        if cancel:
            with self._lock:
                ids = list(self._running)
            for tid in ids:
                self.cancel_task(tid)
        self._pool.shutdown(wait=wait)
