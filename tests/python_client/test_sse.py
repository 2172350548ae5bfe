"""The SSE parser (no daemon)."""

from tasklight import SSEEvent, parse_sse


def lines(text):
    return [ln.encode() for ln in text.splitlines(keepends=True)]


def test_parse_events_comments_ids_multiline():
    text = (": tasklight\n\n"
            "event: task.snapshot\ndata: {\"id\": 1}\n\n"
            "id: 5\nevent: task.log\ndata: {\"task_id\": 1, \"text\": \"a\"}\n\n"
            ": ping\n\n"
            "data: line one\ndata: line two\n\n"
            "id: 6\nevent: x\ndata:no-space\r\n\r\n"
            "event: unfinished\ndata: 1\n")
    evs = list(parse_sse(lines(text)))
    assert [e.event for e in evs] == ["task.snapshot", "task.log", "message", "x"]
    assert evs[0].data == {"id": 1} and evs[0].id is None and evs[0].task_id == 1
    assert evs[1].id == "5" and evs[1].seq == 5 and evs[1].task_id == 1
    assert evs[2].data == "line one\nline two" and evs[2].id == "5"  # the last id persists
    assert evs[3].raw == "no-space" and evs[3].seq == 6


def test_event_equality_and_repr():
    a = SSEEvent("task.progress", '{"id": 3}', "9")
    assert a == SSEEvent("task.progress", '{"id": 3}', "9")
    assert "task.progress" in repr(a)
    assert SSEEvent("e", "").data is None
    assert SSEEvent("e", "", "3f9a0c1d2e3f4a5b-42").seq == 42
    assert SSEEvent("e", "", None).seq is None
