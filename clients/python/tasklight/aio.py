"""Seed 003's fire-and-forget ``BackgroundTaskManager`` for asyncio.

``start_task(run, coro)`` (the seed's form, with its ``Run`` object) or
``start_task(coro, name=...)`` schedules the coroutine on the running loop
and returns at once. Each task goes queued -> running -> completed | failed
| cancelled; the status is kept here, set on the ``run`` object (its
``status`` enum or string, ``error_message``) and its registry (``update_run``
when it has one), and mirrored into a tasklight tracked task, so ``tl ls``
and the dashboard show it. A cancel requested through tasklight (``tl cancel
ID``, the dashboard) cancels the asyncio task.

The daemon is called from a small thread pool (``run_in_executor``), never
from the event loop's thread. If no daemon answers, the work still runs and
only the mirroring is skipped (logged once per task).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Awaitable, Dict, List, Optional

from .client import Client, get_client
from .errors import Cancelled, TasklightError
from .tracker import ProgressTracker

__all__ = ["BackgroundTaskManager", "TaskStatus"]

log = logging.getLogger("tasklight.aio")


class TaskStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _jsonable(v: Any) -> Any:
    try:
        json.dumps(v, allow_nan=False)
        return v
    except (TypeError, ValueError):
        return repr(v)[:4000]


def _set_run_status(run: Any, status: TaskStatus, error: Optional[str] = None) -> None:
    """Sets ``run.status`` in the run's own type (an Enum member of the same
    class when it holds one, else the string) and its timestamps/error."""
    if run is None:
        return
    cur = getattr(run, "status", None)
    value: Any = status.value
    if isinstance(cur, enum.Enum):
        cls = type(cur)
        for cand in (status.name, status.value):
            try:
                value = cls[cand]
                break
            except KeyError:
                pass
        else:
            try:
                value = cls(status.value)
            except ValueError:
                value = status.value
    try:
        run.status = value
        now = datetime.now(timezone.utc)
        if status is TaskStatus.RUNNING and hasattr(run, "started_at"):
            run.started_at = now
        if status in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED):
            for attr in ("completed_at", "finished_at"):
                if hasattr(run, attr):
                    setattr(run, attr, now)
                    break
        if error is not None:
            run.error_message = error
    except (AttributeError, TypeError):
        pass  # a frozen or slotted object: the manager still tracks it


class BackgroundTaskManager:
    """Fire-and-forget asyncio tasks, tracked here and in tasklight.

    ``registry`` is optional (the seed's RunRegistry): after each status
    change its ``update_run(run)`` is called if it has one. ``kind`` is the
    tasklight kind of the tasks (a run's ``module_id`` wins).
    """

    def __init__(self, registry: Any = None, *, client: Optional[Client] = None,
                 kind: str = "asyncio", heartbeat_timeout_s: Optional[float] = None,
                 mirror: bool = True, max_threads: int = 4):
        self.registry = registry
        self._client = client
        self.kind = kind
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.mirror = mirror
        self._executor = ThreadPoolExecutor(max_workers=max_threads,
                                            thread_name_prefix="tasklight-aio")
        self._tasks: Dict[str, "asyncio.Task[Any]"] = {}
        self._runs: Dict[str, Any] = {}
        self._status: Dict[str, TaskStatus] = {}
        self._errors: Dict[str, str] = {}
        self._results: Dict[str, Any] = {}
        self._trackers: Dict[str, ProgressTracker] = {}

    @property
    def client(self) -> Client:
        return self._client or get_client()

    # ---- starting -------------------------------------------------------------

    def start_task(self, run_or_coro: Any, coro: Optional[Awaitable[Any]] = None, *,
                   name: Optional[str] = None, title: Optional[str] = None,
                   kind: Optional[str] = None,
                   metadata: Optional[Dict[str, Any]] = None) -> str:
        """Schedules ``coro`` and returns its run id at once.

        ``start_task(run, coro)``: ``run`` has ``run_id`` (and optionally
        ``module_id``, ``module_name``, ``parameters``, ``status``).
        ``start_task(coro, name="cleanup")``: the name is the id (made
        unique) and the title. Must be called with a running event loop."""
        run = None
        if coro is None:
            coro = run_or_coro
            run_id = name or f"task-{uuid.uuid4().hex[:12]}"
            if run_id in self._status:
                run_id = f"{run_id}-{uuid.uuid4().hex[:6]}"
        else:
            run = run_or_coro
            run_id = str(getattr(run, "run_id", None) or getattr(run, "id", None)
                         or name or f"task-{uuid.uuid4().hex[:12]}")
        if not asyncio.iscoroutine(coro) and not isinstance(coro, asyncio.Future) \
                and not hasattr(coro, "__await__"):
            raise TypeError("start_task needs a coroutine (call the async function: work())")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if asyncio.iscoroutine(coro):
                coro.close()
            raise RuntimeError("start_task needs a running event loop "
                               "(call it from async code)") from None
        if self.is_task_active(run_id):
            if asyncio.iscoroutine(coro):
                coro.close()
            raise ValueError(f"task {run_id} is already active")
        self._runs[run_id] = run
        self._errors.pop(run_id, None)
        self._results.pop(run_id, None)
        self._set_status(run_id, TaskStatus.QUEUED)
        info = {
            "title": title or getattr(run, "module_name", None) or name or run_id,
            "kind": kind or getattr(run, "module_id", None) or self.kind,
            "metadata": dict(metadata or {}),
        }
        info["metadata"].setdefault("run_id", run_id)
        params = getattr(run, "parameters", None)
        if params:
            info["metadata"].setdefault("parameters", _jsonable(params))
        task = loop.create_task(self._run(run_id, coro, info))
        self._tasks[run_id] = task

        def forget(t: "asyncio.Task[Any]", rid: str = run_id) -> None:
            if self._tasks.get(rid) is t:
                del self._tasks[rid]

        task.add_done_callback(forget)
        return run_id

    def _set_status(self, run_id: str, status: TaskStatus, error: Optional[str] = None) -> None:
        self._status[run_id] = status
        if error is not None:
            self._errors[run_id] = error
        run = self._runs.get(run_id)
        _set_run_status(run, status, error)
        if run is not None and self.registry is not None:
            fn = getattr(self.registry, "update_run", None)
            if callable(fn):
                try:
                    fn(run)
                except Exception:
                    log.exception("registry.update_run failed for %s", run_id)

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _register(self, run_id: str, info: Dict[str, Any]) -> ProgressTracker:
        return ProgressTracker(
            task_type=info["kind"], title=info["title"], metadata=info["metadata"],
            client=self._client, heartbeat_timeout_s=self.heartbeat_timeout_s,
            raise_on_cancel=False).start()

    async def _mirror(self, tracker: Optional[ProgressTracker], method: str, *args: Any) -> None:
        if tracker is None:
            return
        try:
            await self._call(getattr(tracker, method), *args)
        except (TasklightError, OSError) as e:
            log.warning("tasklight: cannot mark task %s %s: %s", tracker.task_id, method, e)

    async def _run(self, run_id: str, coro: Awaitable[Any], info: Dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        tracker: Optional[ProgressTracker] = None
        started = False
        in_coro = [False]
        try:
            if self.mirror:
                fut = loop.run_in_executor(self._executor, self._register, run_id, info)
                try:
                    try:
                        tracker = await asyncio.shield(fut)
                    except asyncio.CancelledError:
                        # cancelled while registering: end the task once it exists
                        def end_late(f: "asyncio.Future[Any]") -> None:
                            if not f.cancelled() and f.exception() is None:
                                self._executor.submit(f.result().cancel, "cancelled")
                        fut.add_done_callback(end_late)
                        raise
                    self._trackers[run_id] = tracker
                    def on_cancel(_tr: ProgressTracker) -> None:
                        if in_coro[0] and me is not None:  # tl cancel / the dashboard
                            loop.call_soon_threadsafe(me.cancel)
                    tracker.on_cancel_requested(on_cancel)
                except (TasklightError, OSError) as e:
                    log.warning("tasklight: task %s runs without being tracked: %s", run_id, e)
            self._set_status(run_id, TaskStatus.RUNNING)
            started = True
            in_coro[0] = True
            try:
                result = await coro
            finally:
                in_coro[0] = False
        except asyncio.CancelledError:
            if not started and asyncio.iscoroutine(coro):
                coro.close()
            self._set_status(run_id, TaskStatus.CANCELLED)
            await self._mirror(tracker, "cancel", "cancelled")
            raise
        except Cancelled:  # raised by the tracker inside the coroutine
            self._set_status(run_id, TaskStatus.CANCELLED)
            await self._mirror(tracker, "cancel", "cancelled")
        except Exception as e:
            msg = str(e) or type(e).__name__
            log.exception("background task %s failed", run_id)
            self._set_status(run_id, TaskStatus.FAILED, msg)
            await self._mirror(tracker, "fail", msg)
        else:
            self._results[run_id] = result
            self._set_status(run_id, TaskStatus.COMPLETED)
            await self._mirror(tracker, "complete", None, _jsonable(result))

    # ---- control ----------------------------------------------------------------

    async def cancel_task(self, run_id: str) -> bool:
        """Cancels an active task and waits until it has stopped; False if it
        is unknown or has ended."""
        task = self._tasks.get(run_id)
        if task is None or task.done():
            return False
        task.cancel()
        await asyncio.wait({task})  # raises only if *this* coroutine is cancelled
        return True

    async def wait_all(self) -> None:
        """Waits until every task started so far (and any they start) ended."""
        while True:
            pending = [t for t in self._tasks.values() if not t.done()]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    async def shutdown(self, cancel: bool = True) -> None:
        """Cancels (or, with ``cancel=False``, awaits) every task, then
        releases the thread pool."""
        if cancel:
            for rid in self.get_active_task_ids():
                await self.cancel_task(rid)
        await self.wait_all()
        self._executor.shutdown(wait=True)

    # ---- queries ----------------------------------------------------------------

    def get_active_task_count(self) -> int:
        return sum(1 for t in self._tasks.values() if not t.done())

    def get_active_task_ids(self) -> List[str]:
        return [rid for rid, t in self._tasks.items() if not t.done()]

    def is_task_active(self, run_id: str) -> bool:
        t = self._tasks.get(run_id)
        return t is not None and not t.done()

    def get_status(self, run_id: str) -> Optional[TaskStatus]:
        """queued / running / completed / failed / cancelled (None: unknown)."""
        return self._status.get(run_id)

    def get_error(self, run_id: str) -> Optional[str]:
        return self._errors.get(run_id)

    def get_result(self, run_id: str) -> Any:
        return self._results.get(run_id)

    def get_tracker(self, run_id: str) -> Optional[ProgressTracker]:
        """The tracker of a task (to report progress from its coroutine via
        ``await manager.report(run_id, progress=...)``)."""
        return self._trackers.get(run_id)

    def tasklight_id(self, run_id: str) -> Optional[int]:
        tr = self._trackers.get(run_id)
        return tr.task_id if tr else None

    async def report(self, run_id: str, **update: Any) -> None:
        """``tracker.update(**update)`` off the event loop's thread."""
        tr = self._trackers.get(run_id)
        if tr is not None and not tr.finished:
            await self._call(lambda: tr.update(**update))
