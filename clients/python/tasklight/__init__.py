"""tasklight: a Python client of the tasklight daemon (``tl serve``).

Standard library only. Talks to the daemon over its unix socket (no token)
or over HTTP with the token; see ``Client`` for how the daemon is found.

The seeds' APIs, on top of the HTTP API (docs/API.md):

- ``ProgressTracker``, ``task_manager`` (``create_task``, ``get_tasks``,
  ``cancel_task``): seed 000;
- ``add_task``, ``update_task``, ``remove_task``, ``get_active_tasks``: seed 001;
- ``BackgroundTaskManager`` (asyncio): seed 003;
- ``BaseTask``, ``ProgressHandle``, ``TaskService``, ``stream_events``: seed 004;
- ``track(iterable)``: a tqdm-style progress wrapper.
"""

from .client import (ACTIVE_STATES, FINAL_STATES, Client, configure, default_data_dir,
                     default_socket_path, get_client, set_default_client)
from .errors import (Cancelled, Conflict, DaemonUnreachable, Forbidden, InvalidInput,
                     RateLimited, ServerError, TaskNotFound, TasklightError, Unauthorized)
from .manager import (BackgroundTask, TaskManager, add_task, get_active_tasks, parse_time, remove_task,
                      task_manager, to_background_task, update_task)
from .sse import SSEEvent, parse_sse
from .tasks import (BaseTask, ProgressHandle, TaskService, TaskStartResponse, stream_events,
                    stream_url)
from .tracker import ProgressTracker, Track, track

# Imported lazily so that `import tasklight` does not import asyncio.
def __getattr__(name):  # noqa: E302 (PEP 562)
    if name in ("BackgroundTaskManager", "TaskStatus"):
        from . import aio
        return getattr(aio, name)
    raise AttributeError(f"module 'tasklight' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "Client", "configure", "get_client", "set_default_client", "default_data_dir",
    "default_socket_path", "FINAL_STATES", "ACTIVE_STATES",
    "TasklightError", "DaemonUnreachable", "TaskNotFound", "Conflict", "InvalidInput",
    "Unauthorized", "Forbidden", "ServerError", "RateLimited", "Cancelled",
    "ProgressTracker", "track", "Track",
    "BackgroundTask", "TaskManager", "task_manager", "to_background_task", "parse_time",
    "add_task", "update_task", "remove_task", "get_active_tasks",
    "BackgroundTaskManager", "TaskStatus",
    "BaseTask", "ProgressHandle", "TaskService", "TaskStartResponse", "stream_events",
    "stream_url", "SSEEvent", "parse_sse",
]
