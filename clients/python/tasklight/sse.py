"""A Server-Sent Events parser (the WHATWG event-stream format)."""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Optional

__all__ = ["SSEEvent", "parse_sse"]


class SSEEvent:
    """One event: ``event`` (name, "message" when the stream gave none),
    ``data`` (the parsed JSON, or the text when it is not JSON), ``raw`` (the
    data text), ``id`` (the ``id:`` field, None when absent) and ``retry``."""

    __slots__ = ("event", "data", "raw", "id", "retry")

    def __init__(self, event: str, raw: str, id: Optional[str] = None,
                 retry: Optional[int] = None):
        self.event = event
        self.raw = raw
        self.id = id
        self.retry = retry
        try:
            self.data: Any = json.loads(raw) if raw else None
        except ValueError:
            self.data = raw

    @property
    def task_id(self) -> Optional[int]:
        """The task the event is about (``id`` of a task, ``task_id`` of a log line)."""
        if isinstance(self.data, dict):
            v = self.data.get("task_id", self.data.get("id"))
            return v if isinstance(v, int) else None
        return None

    @property
    def seq(self) -> Optional[int]:
        """The daemon's event sequence number: the ``id:`` field (``SEQ`` or
        ``EPOCH-SEQ``) as an integer; None without one."""
        if not self.id:
            return None
        try:
            return int(self.id.rsplit("-", 1)[-1])
        except ValueError:
            return None

    def __repr__(self) -> str:
        return f"<SSEEvent {self.event} id={self.id} {self.raw[:80]!r}>"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SSEEvent) and self.event == other.event
                and self.raw == other.raw and self.id == other.id)


def parse_sse(lines: Iterable[bytes]) -> Iterator[SSEEvent]:
    """Yields the events in an iterable of raw lines (bytes with or without
    their line ends). A final event not followed by a blank line is dropped,
    as the format says."""
    data: list = []
    event = ""
    ev_id: Optional[str] = None
    retry: Optional[int] = None
    has_data = False
    for rawline in lines:
        line = rawline.decode("utf-8", "replace") if isinstance(rawline, bytes) else rawline
        line = line.rstrip("\r\n")
        if line == "":
            if has_data:
                yield SSEEvent(event or "message", "\n".join(data), ev_id, retry)
            data, event, has_data, retry = [], "", False, None
            continue
        if line.startswith(":"):
            continue  # a comment (the daemon's ": ping")
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
            has_data = True
        elif field == "event":
            event = value
        elif field == "id":
            if "\0" not in value:
                ev_id = value
        elif field == "retry":
            if value.isdigit():
                retry = int(value)
