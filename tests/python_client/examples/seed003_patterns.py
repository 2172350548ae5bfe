# Seed 003, "Usage Patterns" 1-5 and "Error Handling" -- verbatim but for
# the import lines; the snippets use `registry` and `task_manager` from the
# Quick Start and await at top level, so they run inside `async def main()`
# after that setup (marked), and the endless Pattern 5 monitor is stopped
# after a few rounds by the harness.
import asyncio
from datetime import datetime, timezone
from tasklight import BackgroundTaskManager  # was: from src.core.task_manager import ...
from seed003_app import RunRegistry  # was: from src.core.run_registry import RunRegistry
from seed003_app import Run, RunStatus  # was: from src.models.run import Run, RunStatus

import tasklight  # test harness


async def main():  # wrapper (not from the seed)
    registry = RunRegistry()  # Quick Start setup
    task_manager = BackgroundTaskManager(registry)

    # ---- Pattern 1: Simple Background Task ----
    # Start a simple background task
    async def cleanup_old_data():
        await asyncio.sleep(1)
        # Perform cleanup
        print("Cleanup complete")

    run = Run(
        run_id="cleanup-task",
        module_id="maintenance",
        module_name="Cleanup",
        status=RunStatus.QUEUED,
        created_at=datetime.now(timezone.utc),
        parameters={}
    )

    registry.add_run(run)
    task_manager.start_task(run, cleanup_old_data())

    # ---- Pattern 2: Multiple Concurrent Tasks ----
    # Start multiple tasks concurrently
    tasks = []
    for i in range(5):
        run = Run(
            run_id=f"task-{i}",
            module_id="batch-processor",
            module_name="Batch Processor",
            status=RunStatus.QUEUED,
            created_at=datetime.now(timezone.utc),
            parameters={"index": i}
        )
        registry.add_run(run)
        
        async def process_item(index):
            await asyncio.sleep(1)
            print(f"Processed item {index}")
        
        task_manager.start_task(run, process_item(i))

    print(f"Started {task_manager.get_active_task_count()} tasks")
    assert task_manager.get_active_task_count() == 6  # harness

    # ---- Pattern 3: Task with Cancellation ----
    # Start a long-running task that can be cancelled
    async def long_operation():
        try:
            for i in range(100):
                await asyncio.sleep(0.1)
                print(f"Step {i}")
        except asyncio.CancelledError:
            print("Operation cancelled")
            raise

    run = Run(
        run_id="long-task",
        module_id="processor",
        module_name="Processor",
        status=RunStatus.QUEUED,
        created_at=datetime.now(timezone.utc),
        parameters={}
    )

    registry.add_run(run)
    task_id = task_manager.start_task(run, long_operation())

    # Later, if needed:
    await asyncio.sleep(0.5)  # harness: let it run a little first
    await task_manager.cancel_task(task_id)
    assert registry.get_run("long-task").status is RunStatus.CANCELLED  # harness

    # ---- Pattern 5: Monitoring Task Progress ----
    # Monitor active tasks
    async def monitor_tasks():
        while True:
            active_count = task_manager.get_active_task_count()
            active_ids = task_manager.get_active_task_ids()
            
            print(f"Active tasks: {active_count}")
            
            for task_id in active_ids:
                run = registry.get_run(task_id)
                print(f"  {task_id}: {run.status}")
            
            await asyncio.sleep(5)

    monitor = asyncio.ensure_future(monitor_tasks())  # harness: run it once, then stop it
    await asyncio.sleep(0.1)
    monitor.cancel()

    # ---- Error Handling: Exception Propagation ----
    async def failing_task():
        raise ValueError("Something went wrong")

    # This will:
    # 1. Catch the exception
    # 2. Log it with logger.exception()
    # 3. Set run.status = RunStatus.FAILED
    # 4. Set run.error_message = "Something went wrong"
    # 5. Update the registry
    failing = Run(run_id="failing", module_id="m", module_name="Failing",  # harness
                  status=RunStatus.QUEUED, created_at=datetime.now(timezone.utc))
    registry.add_run(failing)
    task_manager.start_task(failing, failing_task())

    # ---- Pattern 4: Graceful Shutdown ----
    # Application shutdown handler
    async def shutdown_handler():
        print("Shutting down...")
        
        # Cancel all active tasks
        active_tasks = task_manager.get_active_task_ids()
        for task_id in active_tasks:
            await task_manager.cancel_task(task_id)
        
        # Or wait for all to complete naturally
        await task_manager.wait_all()
        
        print("All background tasks completed")

    await asyncio.sleep(1.5)  # harness: let patterns 1 and 2 finish first
    await shutdown_handler()

    # ---- test harness (not from the seed) ----
    assert failing.status is RunStatus.FAILED and failing.error_message == "Something went wrong"
    assert registry.get_run("cleanup-task").status is RunStatus.COMPLETED
    assert all(registry.get_run(f"task-{i}").status is RunStatus.COMPLETED for i in range(5))
    c = tasklight.get_client()
    states = {rid: c.get_task(task_manager.tasklight_id(rid))["state"]
              for rid in ["cleanup-task", "long-task", "failing"] + [f"task-{i}" for i in range(5)]}
    assert states["long-task"] == "cancelled" and states["failing"] == "failed", states
    assert c.get_task(task_manager.tasklight_id("failing"))["error"] == "Something went wrong"
    assert all(states[f"task-{i}"] == "completed" for i in range(5)), states
    print("OK", len(states))


asyncio.run(main())
