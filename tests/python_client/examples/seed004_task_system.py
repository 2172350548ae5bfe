# Seed 004 (Task system with SSE progress) has no code snippets, only a plan.
# This example follows the plan's shapes: a BaseTask subclass whose
# execute(progress_handle, **kwargs) sends text, a value (0.0-1.0) and both
# and returns a result dict; TaskService.start_task answering the task id and
# the SSE stream URL /api/tasks/{task_id}/stream; a client following it.
from typing import Any, Dict
import time

from tasklight import BaseTask, ProgressHandle, TaskService, stream_events


class ReportExportTask(BaseTask):
    """A background job: exports N rows, reporting as it goes."""

    title = "Export report"
    kind = "report_export"

    def execute(self, progress_handle: ProgressHandle, **kwargs: Any) -> Dict[str, Any]:
        rows = kwargs["rows"]
        progress_handle.send_progress_text("Preparing export")
        for i in range(rows):
            time.sleep(0.01)
            progress_handle.send_progress_value((i + 1) / rows)
        progress_handle.send_progress("Export finished", 1.0)
        return {"rows": rows, "file": "report.csv"}


class BrokenTask(BaseTask):
    def execute(self, progress_handle: ProgressHandle, **kwargs: Any) -> Dict[str, Any]:
        progress_handle.send_progress("Connecting", 0.1)
        raise ConnectionError("database unavailable")


task_service = TaskService(max_workers=4, default_timeout=60)

# An API endpoint would return this DTO to its client:
started = task_service.start_task(ReportExportTask(), rows=30)
print(started.to_dict())
assert started.stream_url == f"/api/tasks/{started.task_id}/stream"

# The client connects to the stream and follows the task until it closes:
events = []
for event in stream_events(started.task_id):
    events.append(event)
    if event.event == "task.progress":
        p = event.data["progress"]  # null until a value was sent
        print(f"{'?' if p is None else round(p)}% {event.data['message']}")
assert events[0].event == "task.snapshot" and events[-1].event == "task.completed", events
assert events[-1].data["result"] == {"rows": 30, "file": "report.csv"}

failed = task_service.start_task(BrokenTask())
last = list(stream_events(failed.task_id))[-1]  # (only the snapshot if it ended already)
assert last.event in ("task.failed", "task.snapshot"), last
assert last.data["state"] == "failed" and last.data["error"] == "database unavailable", last

status = task_service.get_task_status(started.task_id)
assert status["status"] == "completed" and status["progress"] == 1.0, status
assert task_service.remove_completed_task(started.task_id)
task_service.shutdown()
print("OK", started.task_id, failed.task_id)
