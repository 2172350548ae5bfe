# Seed 000 (Background Task Visibility), "Progress Tracking API" -- verbatim
# but for the import line (was: from openadapt_ml.tasks import ...).
from tasklight import task_manager, ProgressTracker

# Context manager for automatic registration
with ProgressTracker(
    task_type="docker_pull",
    title="Pulling WAA Image",
    description="Downloading winarena:latest from ACR"
) as tracker:

    # Update progress (0.0-100.0)
    tracker.update(progress=25.0, metadata={"layers": "6/24"})

    # Add log lines
    tracker.log("Started layer download: sha256:abc123...")

    # Report substep progress
    tracker.add_substep("layer-1", "Download base image")
    tracker.update_substep("layer-1", progress=100.0, status="completed")

    # Automatic completion on exit
    # Or explicit: tracker.complete()
    # Or explicit: tracker.fail("Error message")

# ---- test harness (not from the seed) ----
[t] = [t for t in task_manager.get_tasks() if t["task_id"] == tracker.task_id]
assert t["status"] == "completed" and t["task_type"] == "docker_pull", t
assert t["metadata"] == {"layers": "6/24"}, t
assert t["substeps"][0]["status"] == "completed", t
print("OK", tracker.task_id)
