# Seed 000, "Integration Points / 3. Local Server" -- the two route functions
# are verbatim but for their import lines; `app` and `jsonify` are the
# smallest stand-ins for Flask.
import json

# ---- stand-ins for Flask ----
class _App:
    routes = {}

    def route(self, path, methods):
        def register(fn):
            self.routes[(methods[0], path)] = fn
            return fn
        return register


app = _App()


def jsonify(value):
    return json.loads(json.dumps(value))  # what Flask would send
# ---- end of stand-ins ----


@app.route("/api/tasks", methods=["GET"])
def get_tasks():
    """Return all active and recent tasks."""
    from tasklight import task_manager  # was: from openadapt_ml.tasks import task_manager

    tasks = task_manager.get_tasks(
        include_completed=True,
        max_age_hours=24
    )

    return jsonify([task.to_dict() for task in tasks])

@app.route("/api/tasks/<task_id>/cancel", methods=["POST"])
def cancel_task(task_id: str):
    """Request task cancellation."""
    from tasklight import task_manager  # was: from openadapt_ml.tasks import task_manager

    success = task_manager.cancel_task(task_id)
    return jsonify({"success": success})


# ---- test harness (not from the seed) ----
from tasklight import Cancelled, ProgressTracker

tracker = ProgressTracker(task_type="training", title="Training: nightshift").start()
tracker.update(progress=45.2, metadata={"epoch": 2})
listed = get_tasks()
assert listed[0]["task_id"] == tracker.task_id and listed[0]["progress_percent"] == 45.2, listed
assert listed[0]["status"] == "running", listed
assert cancel_task(str(tracker.task_id)) == {"success": True}
try:
    tracker.update(progress=50)
    raise AssertionError("no Cancelled")
except Cancelled:
    pass
assert get_tasks()[0]["status"] == "cancelled"
assert cancel_task("999999") == {"success": False}
print("OK", tracker.task_id)
