# Seed 003, "Integration with Existing Code": "With ModuleRunner" and "With
# FastAPI Endpoints" -- verbatim but for the import lines (tasklight, and the
# stand-ins in seed003_app.py for the app's ModuleRunner, registry and
# FastAPI). Names the snippets take from their surrounding module (asyncio,
# uuid, datetime, Run, ...) are imported in the header; the snippets await at
# top level, so they run inside `async def main()`.
import asyncio
import uuid
from datetime import datetime, timezone
from seed003_app import Run, RunStatus, RunRegistry, process_manager

import tasklight  # test harness

registry = RunRegistry()


async def main():  # wrapper (not from the seed)
    # ---- With ModuleRunner ----
    from seed003_app import ModuleRunner  # was: from src.core.module_runner import ModuleRunner
    from tasklight import BackgroundTaskManager  # was: from src.core.task_manager import ...

    # Existing ModuleRunner
    module_runner = ModuleRunner(
        registry=registry,
        process_manager=process_manager
    )

    # New BackgroundTaskManager
    task_manager = BackgroundTaskManager(registry)

    # Execute module in background
    async def run_module_async(module_id: str, parameters: dict):
        run = await module_runner.execute_module(module_id, parameters)
        # Module execution happens asynchronously via ModuleRunner
        return run

    # Start as background task
    run = Run(
        run_id="module-run-123",
        module_id="youtube-source",
        module_name="YouTube Source",
        status=RunStatus.QUEUED,
        created_at=datetime.now(timezone.utc),
        parameters={"channel": "example"}
    )

    registry.add_run(run)
    task_manager.start_task(run, run_module_async("youtube-source", {"channel": "example"}))

    await task_manager.wait_all()  # harness
    t = tasklight.get_client().get_task(task_manager.tasklight_id("module-run-123"))
    assert t["state"] == "completed" and t["kind"] == "youtube-source", t
    assert t["result"] == {"module_id": "youtube-source", "parameters": {"channel": "example"}}


asyncio.run(main())

# ---- With FastAPI Endpoints ----
from seed003_app import FastAPI, BackgroundTasks  # was: from fastapi import FastAPI, BackgroundTasks
from tasklight import BackgroundTaskManager

app = FastAPI()

# Global task manager (initialized at startup)
task_manager: BackgroundTaskManager = None

@app.on_event("startup")
async def startup_event():
    global task_manager
    registry = RunRegistry()
    task_manager = BackgroundTaskManager(registry)

@app.post("/modules/{module_id}/run-async")
async def run_module_async(module_id: str, parameters: dict):
    """Start a module run in the background."""
    run = Run(
        run_id=str(uuid.uuid4()),
        module_id=module_id,
        module_name=module_id.title(),
        status=RunStatus.QUEUED,
        created_at=datetime.now(timezone.utc),
        parameters=parameters
    )
    
    async def module_work():
        # Actual module execution logic
        await asyncio.sleep(10)
    
    registry.add_run(run)
    task_id = task_manager.start_task(run, module_work())
    
    return {"task_id": task_id, "status": "started"}

@app.delete("/tasks/{task_id}")
async def cancel_task_endpoint(task_id: str):
    """Cancel a running task."""
    success = await task_manager.cancel_task(task_id)
    return {"success": success}

@app.get("/tasks/active")
async def get_active_tasks():
    """Get list of active tasks."""
    return {
        "count": task_manager.get_active_task_count(),
        "tasks": task_manager.get_active_task_ids()
    }

@app.on_event("shutdown")
async def shutdown_event():
    """Wait for all tasks before shutdown."""
    await task_manager.wait_all()


# ---- test harness (not from the seed): drive the app like a server would ----
async def serve():
    await app.events["startup"]()
    a = await app.routes[("POST", "/modules/{module_id}/run-async")]("transcoder", {"q": 1})
    b = await app.routes[("POST", "/modules/{module_id}/run-async")]("indexer", {})
    assert a["status"] == "started"
    active = await app.routes[("GET", "/tasks/active")]()
    assert active["count"] == 2 and set(active["tasks"]) == {a["task_id"], b["task_id"]}
    await asyncio.sleep(0.3)
    c = tasklight.get_client()
    assert c.get_task(task_manager.tasklight_id(a["task_id"]))["title"] == "Transcoder"
    for x in (a, b):
        assert await app.routes[("DELETE", "/tasks/{task_id}")](x["task_id"]) == {"success": True}
    assert await app.routes[("DELETE", "/tasks/{task_id}")]("nope") == {"success": False}
    await app.events["shutdown"]()
    assert c.get_task(task_manager.tasklight_id(a["task_id"]))["state"] == "cancelled"
    print("OK")


asyncio.run(serve())
