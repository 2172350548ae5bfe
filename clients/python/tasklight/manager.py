"""The seeds' task-registry APIs, backed by the daemon.

- ``task_manager`` (seed 000, the benchmark viewer): ``create_task`` returns a
  started ``ProgressTracker``; ``get_tasks`` returns dicts shaped like that
  seed's ``BackgroundTask``; ``cancel_task`` asks for a cancel.
- ``add_task`` / ``update_task`` / ``remove_task`` / ``get_active_tasks``
  (seed 001, the trading dashboard): integer ids, ``details`` text, statuses
  ``running``, ``completed``, ``failed``, ``queued``.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, Dict, List, Optional

from .client import ACTIVE_STATES, FINAL_STATES, Client, TaskId, get_client
from .errors import Cancelled, Conflict, TaskNotFound, TasklightError
from .tracker import ProgressTracker

__all__ = [
    "BackgroundTask",
    "TaskManager",
    "task_manager",
    "to_background_task",
    "add_task",
    "update_task",
    "remove_task",
    "get_active_tasks",
    "parse_time",
]


def parse_time(s: Optional[str]) -> Optional[datetime]:
    """An RFC 3339 UTC time from the daemon ("2026-11-21T23:59:01.123Z") as
    an aware datetime; None stays None."""
    if not s:
        return None
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.fromisoformat(s)


def _ts(s: Optional[str]) -> Optional[float]:
    d = parse_time(s)
    return d.timestamp() if d else None


# tasklight state -> seed 000 status
_SEED0_STATUS = {"queued": "pending", "running": "running", "paused": "paused",
                 "completed": "completed", "failed": "failed", "cancelled": "cancelled"}


def _substep_dict(s: Dict[str, Any]) -> Dict[str, Any]:
    state = s.get("state")
    return {
        "step_id": s.get("id"),
        "name": s.get("name"),
        "status": "pending" if state == "queued" else state,
        "progress_percent": float(s.get("progress") or 0.0),
        "error_message": s.get("error"),
        "started_at": s.get("started_at"),
        "completed_at": s.get("finished_at"),
    }


class BackgroundTask(dict):
    """A task as seed 000's ``BackgroundTask``: a plain dict (JSON-ready)
    whose keys also read as attributes (``task.status``), with the seed's
    ``to_dict()``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self) -> Dict[str, Any]:
        return dict(self)


def to_background_task(t: Dict[str, Any], log_lines: Optional[List[str]] = None) -> BackgroundTask:
    """A daemon task as seed 000's ``BackgroundTask.to_dict()``: task_id,
    task_type, status (``pending`` for queued), title, description,
    progress_percent, elapsed_seconds, estimated_total_seconds, created_at,
    started_at, completed_at, metadata, substeps (step_id, name, status,
    progress_percent, error_message), error_message, retry_count,
    max_retries, log_lines, log_file_path; plus eta_seconds, message,
    cancel_requested and the tasklight ``id``/``state``."""
    return BackgroundTask({
        "task_id": t.get("id"),
        "id": t.get("id"),
        "task_type": t.get("kind"),
        "status": _SEED0_STATUS.get(t.get("state"), t.get("state")),
        "state": t.get("state"),
        "title": t.get("title"),
        "description": t.get("description") or "",
        "progress_percent": float(t.get("progress") or 0.0),
        "progress_known": t.get("progress") is not None,
        "elapsed_seconds": float(t.get("elapsed_s") or 0.0),
        "estimated_total_seconds": t.get("estimated_total_s"),
        "eta_seconds": t.get("eta_s"),
        "created_at": t.get("created_at"),
        "started_at": t.get("started_at"),
        "completed_at": t.get("finished_at"),
        "updated_at": t.get("updated_at"),
        "metadata": dict(t.get("metadata") or {}),
        "substeps": [_substep_dict(s) for s in t.get("substeps") or []],
        "message": t.get("message"),
        "error_message": t.get("error"),
        "retry_count": max(0, int(t.get("attempt") or 1) - 1),
        "max_retries": int(t.get("max_retries") or 0),
        "cancel_requested": bool(t.get("cancel_requested")),
        "log_lines": list(log_lines or []),
        "log_file_path": None,
        "result": t.get("result"),
    })


class TaskManager:
    """Seed 000's ``TaskManager``, with the daemon as its registry (so every
    process, the CLI and the dashboard see the same tasks)."""

    def __init__(self, client: Optional[Client] = None):
        self._client = client

    @property
    def client(self) -> Client:
        return self._client or get_client()

    def create_task(self, task_type: str, title: Optional[str] = None,
                    description: Optional[str] = None,
                    metadata: Optional[Dict[str, Any]] = None,
                    **kw: Any) -> ProgressTracker:
        """Registers a tracked task and returns its started tracker (end it
        with ``complete()`` / ``fail()``). Keywords as ``ProgressTracker``."""
        kw.setdefault("client", self._client)
        return ProgressTracker(task_type=task_type, title=title, description=description,
                               metadata=metadata, **kw).start()

    def tracker(self, task_id: TaskId, **kw: Any) -> ProgressTracker:
        """A tracker attached to an existing running task."""
        kw.setdefault("client", self._client)
        return ProgressTracker(task_id=task_id, **kw).start()

    def get_task(self, task_id: TaskId, log_lines: int = 0) -> Optional[BackgroundTask]:
        """One task as a BackgroundTask dict, None if there is no such task."""
        try:
            t = self.client.get_task(task_id)
        except TaskNotFound:
            return None
        return to_background_task(t, self._logs(t, log_lines))

    def _logs(self, t: Dict[str, Any], n: int) -> List[str]:
        if n <= 0:
            return []
        try:
            return [ln["text"] for ln in self.client.get_logs(t["id"], tail=n)["lines"]]
        except TasklightError:
            return []

    def get_tasks(self, include_completed: bool = True, max_age_hours: float = 24,
                  task_type: Optional[str] = None, log_lines: int = 0,
                  limit: int = 1000) -> List[BackgroundTask]:
        """Active tasks (queued, running, paused) and, with
        ``include_completed``, those that ended within ``max_age_hours``, as
        BackgroundTask dicts, newest first. ``log_lines=N`` fills
        ``log_lines`` with each task's last N lines (one request per task).
        The scan of ended tasks stops at the first page created before the
        window, so its cost follows the window, not the history."""
        out: List[Dict[str, Any]] = []
        seen = set()
        for state in ACTIVE_STATES:
            for t in self.client.iter_tasks(state=state, kind=task_type):
                if t["id"] not in seen:
                    seen.add(t["id"])
                    out.append(t)
        if include_completed:
            cutoff = time.time() - max_age_hours * 3600.0
            cursor = None
            while len(out) < limit:
                page = self.client.list_tasks(kind=task_type, limit=200, cursor=cursor)
                tasks = page.get("tasks", [])
                for t in tasks:
                    if t["id"] in seen or t.get("state") not in FINAL_STATES:
                        continue
                    fin = _ts(t.get("finished_at")) or _ts(t.get("updated_at")) or 0
                    if fin >= cutoff:
                        seen.add(t["id"])
                        out.append(t)
                cursor = page.get("next_cursor")
                oldest = min((_ts(t.get("created_at")) or 0 for t in tasks), default=0)
                if not cursor or oldest < cutoff:
                    break
        out.sort(key=lambda t: t["id"], reverse=True)
        return [to_background_task(t, self._logs(t, log_lines)) for t in out[:limit]]

    def get_active_tasks(self, **kw: Any) -> List[BackgroundTask]:
        """Queued, running and paused tasks only."""
        return self.get_tasks(include_completed=False, **kw)

    def cancel_task(self, task_id: TaskId) -> bool:
        """Asks for a cancel; False if the task does not exist or has ended."""
        try:
            self.client.cancel_task(task_id)
            return True
        except (TaskNotFound, Conflict):
            return False

    def __repr__(self) -> str:
        return f"<tasklight.TaskManager {self.client.where}>"


task_manager = TaskManager()


# ---- seed 001: add_task / update_task / remove_task / get_active_tasks --------

_seed1_trackers: Dict[int, ProgressTracker] = {}
_seed1_lock = threading.Lock()

#: update_task raises Cancelled when the dashboard or `tl cancel` asked for a
#: cancel (the task is then marked cancelled); set False to only stop reporting.
raise_on_cancel = True


def add_task(task_name: str, task_type: str, details: str = "", *,
             client: Optional[Client] = None, metadata: Optional[Dict[str, Any]] = None,
             heartbeat_timeout_s: Optional[float] = None) -> int:
    """Adds a running task: ``task_name`` is its title, ``task_type`` its
    kind, ``details`` its message. Returns its id; this process keeps its
    heartbeat until it is completed, failed or removed."""
    tr = ProgressTracker(task_type=task_type, title=task_name, client=client,
                         metadata=metadata, heartbeat_timeout_s=heartbeat_timeout_s,
                         raise_on_cancel=raise_on_cancel).start()
    if details:
        tr.update(message=details)
    with _seed1_lock:
        _seed1_trackers[tr.task_id] = tr
    return int(tr.task_id)


def _seed1_tracker(task_id: TaskId, client: Optional[Client]) -> ProgressTracker:
    tid = int(task_id)
    with _seed1_lock:
        tr = _seed1_trackers.get(tid)
    if tr is None or tr.finished or tr.client is not (client or get_client()):
        tr = ProgressTracker(task_id=tid, client=client,
                             raise_on_cancel=raise_on_cancel).start()
        with _seed1_lock:
            _seed1_trackers[tid] = tr
    tr.raise_on_cancel = raise_on_cancel
    return tr


def update_task(task_id: TaskId, progress: Optional[float] = None,
                status: Optional[str] = None, details: Optional[str] = None, *,
                client: Optional[Client] = None) -> bool:
    """Updates progress (0..100), status (``running``, ``completed``,
    ``failed``, ``queued``, ``cancelled``) and/or details. Returns False if
    the task does not exist or has ended already. ``failed`` stores
    ``details`` as the error. ``queued`` marks a running task as waiting
    (``metadata.status``; tracked tasks cannot go back to the daemon's queue).
    Raises ``Cancelled`` once a cancel was requested (see ``raise_on_cancel``)."""
    try:
        tr = _seed1_tracker(task_id, client)
    except (TaskNotFound, ValueError):
        return False
    if tr.finished:
        return False
    try:
        if status in ("completed", "complete", "done", "success"):
            if progress is not None:
                tr.complete(message=details, progress=float(progress))
            else:
                tr.complete(message=details)
        elif status in ("failed", "error"):
            if progress is not None or details is not None:
                body: Dict[str, Any] = {}
                if progress is not None:
                    body["progress"] = float(progress)
                if details is not None:
                    body["message"] = details
                tr._patch(body, check=False)
            tr.fail(details or "failed")
        elif status in ("cancelled", "canceled"):
            tr.cancel(details)
        else:
            kw: Dict[str, Any] = {}
            if progress is not None:
                kw["progress"] = float(progress)
            if details is not None:
                kw["message"] = details
            if status in ("queued", "pending", "waiting"):
                kw["metadata"] = {"status": "queued"}
            elif status in ("running", "started") or (status is None and progress):
                if (tr.task.get("metadata") or {}).get("status") == "queued":
                    kw["metadata"] = {"status": None}
            elif status is not None:
                kw["metadata"] = {"status": status}
            tr.update(**kw)
    except Cancelled:
        raise
    except (TaskNotFound, Conflict):
        return False
    if tr.finished:
        with _seed1_lock:
            _seed1_trackers.pop(tr.task_id, None)
    return True


def remove_task(task_id: TaskId, *, client: Optional[Client] = None) -> bool:
    """Removes a task: one still running is marked cancelled first. False if
    there is no such task."""
    c = client or get_client()
    tid = int(task_id)
    with _seed1_lock:
        tr = _seed1_trackers.pop(tid, None)
    try:
        if tr is not None and not tr.finished:
            tr.cancel("removed")
        t = c.get_task(tid)
        if t.get("state") in ACTIVE_STATES:
            if t.get("source") == "tracked" and t.get("state") != "queued":
                try:
                    c.patch_task(tid, state="cancelled", message="removed")
                except Conflict:
                    pass
            else:
                c.cancel_task(tid)
                for _ in range(100):
                    if c.get_task(tid).get("state") in FINAL_STATES:
                        break
                    time.sleep(0.05)
        c.delete_task(tid)
        return True
    except TaskNotFound:
        return False


def _fmt_seed1_time(s: Optional[str]) -> Optional[str]:
    d = parse_time(s)
    return d.astimezone().strftime("%Y-%m-%d %H:%M:%S") if d else None


def get_active_tasks(max_age_hours: float = 1.0, *,
                     client: Optional[Client] = None) -> List[Dict[str, Any]]:
    """Seed 001's list: running, paused, queued tasks and those that ended in
    the last ``max_age_hours`` (the seed's one-hour auto-cleanup), as dicts
    with id, name, type, details, status, progress, started_at, updated_at
    (local "YYYY-MM-DD HH:MM:SS" like the seed), plus error."""
    tm = TaskManager(client)
    out = []
    for bt in tm.get_tasks(include_completed=True, max_age_hours=max_age_hours):
        status = bt["state"]
        if status == "running" and bt["metadata"].get("status") == "queued":
            status = "queued"
        details = bt["message"] or bt["description"] or ""
        if bt["state"] == "failed" and bt["error_message"] and not bt["message"]:
            details = bt["error_message"]
        out.append({
            "id": bt["id"],
            "name": bt["title"],
            "type": bt["task_type"],
            "details": details,
            "status": status,
            "progress": int(round(bt["progress_percent"])),
            "started_at": _fmt_seed1_time(bt["started_at"] or bt["created_at"]),
            "updated_at": _fmt_seed1_time(bt["updated_at"]),
            "error": bt["error_message"],
        })
    return out

