# Seed 003 (BackgroundTaskManager), "Quick Start / Basic Usage" -- verbatim
# but for the import lines (tasklight, and the stand-in app objects in
# seed003_app.py) and one wrapper: the snippet awaits at top level, so its
# body runs inside `async def main()` with asyncio.run (indented, else as is).
import asyncio
from datetime import datetime, timezone
from tasklight import BackgroundTaskManager  # was: from src.core.task_manager import ...
from seed003_app import RunRegistry  # was: from src.core.run_registry import RunRegistry
from seed003_app import Run, RunStatus  # was: from src.models.run import Run, RunStatus


async def main():  # wrapper (not from the seed)
    # Initialize
    registry = RunRegistry()
    task_manager = BackgroundTaskManager(registry)

    # Create a run object
    run = Run(
        run_id="unique-task-id",
        module_id="my-module",
        module_name="My Module",
        status=RunStatus.QUEUED,
        created_at=datetime.now(timezone.utc),
        parameters={"key": "value"}
    )

    # Define your background work
    async def my_background_work():
        await asyncio.sleep(5)
        # Do some work
        return "result"

    # Add run to registry
    registry.add_run(run)

    # Start the task (returns immediately)
    task_id = task_manager.start_task(run, my_background_work())

    # Task runs in background, status automatically tracked
    # You can continue with other work here

    # Later, before shutdown:
    await task_manager.wait_all()

    # ---- test harness (not from the seed) ----
    import tasklight
    assert task_id == "unique-task-id"
    assert run.status is RunStatus.COMPLETED, run
    assert [s for _, s in registry.updates] == [RunStatus.QUEUED, RunStatus.RUNNING,
                                                 RunStatus.COMPLETED]
    t = tasklight.get_client().get_task(task_manager.tasklight_id(task_id))
    assert t["state"] == "completed" and t["title"] == "My Module" and t["result"] == "result", t
    print("OK", t["id"])


asyncio.run(main())
