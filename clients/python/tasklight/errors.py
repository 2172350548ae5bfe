"""Exceptions raised by the tasklight client.

Every error the daemon answers carries a stable ``code`` and a human
``message`` (docs/API.md, "Errors"); the exception keeps both, with the HTTP
status, so callers can branch on the class or on ``code``.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    "TasklightError",
    "DaemonUnreachable",
    "TaskNotFound",
    "Conflict",
    "InvalidInput",
    "Unauthorized",
    "Forbidden",
    "ServerError",
    "RateLimited",
    "Cancelled",
    "error_for",
]


class TasklightError(Exception):
    """Base class of every error the client raises about the daemon.

    ``status`` is the HTTP status (None when there was no answer), ``code``
    the daemon's error code (``not_found``, ``conflict``, ...), ``message``
    its message, ``body`` the parsed error body when there was one.
    """

    def __init__(self, message: str, *, status: Optional[int] = None,
                 code: Optional[str] = None, body: Any = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body

    def __str__(self) -> str:
        if self.code and self.status:
            return f"{self.message} ({self.status} {self.code})"
        return self.message


class DaemonUnreachable(TasklightError, ConnectionError):
    """No daemon answers on the socket or URL (not started, wrong path, ...)."""


class TaskNotFound(TasklightError, LookupError):
    """404: the task (or substep, or path) does not exist."""


class Conflict(TasklightError):
    """409: the task's state does not allow the action."""


class InvalidInput(TasklightError, ValueError):
    """400 / 413 / 422: the request was refused as malformed or invalid."""


class Unauthorized(TasklightError, PermissionError):
    """401 / 403: a TCP request without a valid token."""


class Forbidden(Unauthorized):
    """403: the token's role (or, with --multi-user, the task's owner) does
    not allow the request."""


class ServerError(TasklightError):
    """Any other error answer (503 store_error, 507 storage_full, ...)."""


class RateLimited(ServerError):
    """429: over a request rate or a limit; ``retry_after`` is the server's
    Retry-After in seconds when it sent one."""

    retry_after: Optional[float] = None


class Cancelled(Exception):
    """Raised into code that reports on a task once a cancel was requested.

    Not a TasklightError: it is a request to stop, not a transport failure,
    so ``except TasklightError`` around reporting calls does not swallow it.
    ``task_id`` is the tasklight id of the task.
    """

    def __init__(self, task_id: Optional[int] = None,
                 message: str = "cancel requested"):
        super().__init__(f"task {task_id}: {message}" if task_id else message)
        self.task_id = task_id
        self.message = message


_BY_STATUS = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: TaskNotFound,
    409: Conflict,
    413: InvalidInput,
    422: InvalidInput,
    429: RateLimited,
}


def error_for(status: int, body: Any, fallback: str = "",
              retry_after: Optional[str] = None) -> TasklightError:
    """The exception for an error answer (status and parsed JSON body)."""
    code = message = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        message = body["error"].get("message")
    if not message:
        message = fallback or f"HTTP {status}"
    cls = _BY_STATUS.get(status, ServerError)
    err = cls(message, status=status, code=code, body=body)
    if isinstance(err, RateLimited) and retry_after:
        try:
            err.retry_after = float(retry_after)
        except ValueError:
            pass
    return err
