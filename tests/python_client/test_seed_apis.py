"""Seed 001 (add_task / update_task / remove_task / get_active_tasks), seed
003 (BackgroundTaskManager, asyncio) and seed 004 (BaseTask, TaskService,
stream_events)."""

import asyncio
import enum
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest

import tasklight
from tasklight import (BackgroundTaskManager, BaseTask, TaskService, add_task,
                       get_active_tasks, remove_task, stream_events, update_task)
from .tl_pyclient_util import wait_for, wait_state

# ---- seed 001 ------------------------------------------------------------------


def test_seed001_lifecycle(client):
    tid = add_task("Backtest - Golden Cross", "backtest", "Testing on BTCUSDT")
    assert isinstance(tid, int)
    t = client.get_task(tid)
    assert (t["title"], t["kind"], t["message"], t["state"]) == (
        "Backtest - Golden Cross", "backtest", "Testing on BTCUSDT", "running")
    assert update_task(tid, progress=50) is True
    assert update_task(tid, details="Processed 500/1000 trades") is True
    [active] = get_active_tasks()
    assert active["id"] == tid and active["name"] == "Backtest - Golden Cross"
    assert active["type"] == "backtest" and active["status"] == "running"
    assert active["progress"] == 50 and active["details"] == "Processed 500/1000 trades"
    assert set(active) >= {"id", "name", "type", "details", "status", "progress",
                           "started_at", "updated_at"}
    assert len(active["started_at"]) == len("2025-10-10 01:05:29")
    assert update_task(tid, progress=100, status="completed", details="Success!") is True
    t = client.get_task(tid)
    assert t["state"] == "completed" and t["progress"] == 100 and t["message"] == "Success!"
    assert update_task(tid, progress=10) is False, "an ended task is not updated"
    assert get_active_tasks()[0]["status"] == "completed", "ended tasks stay listed an hour"
    assert get_active_tasks(max_age_hours=0) == []
    assert remove_task(tid) is True
    assert remove_task(tid) is False
    assert update_task(424242, progress=1) is False


def test_seed001_failed_queued_and_remove_running(client):
    a = add_task("Optimization", "optimization")
    assert update_task(a, status="queued") is True
    assert get_active_tasks()[0]["status"] == "queued"
    assert update_task(a, status="running", progress=5) is True
    assert get_active_tasks()[0]["status"] == "running"
    assert update_task(a, status="failed", details="Error: no data") is True
    t = client.get_task(a)
    assert t["state"] == "failed" and t["error"] == "Error: no data"
    assert get_active_tasks()[0]["details"] == "Error: no data"
    b = add_task("Live", "live_trading", "running forever")
    assert remove_task(b) is True
    with pytest.raises(tasklight.TaskNotFound):
        client.get_task(b)


def test_seed001_updates_from_another_process(daemon, unix_client):
    tid = add_task("made here", "backtest")
    daemon.python(f"import tasklight; assert tasklight.update_task({tid}, progress=70, "
                  f"status='completed', details='done elsewhere')")
    t = unix_client.get_task(tid)
    assert t["state"] == "completed" and t["message"] == "done elsewhere"


# ---- seed 003 ------------------------------------------------------------------


class RunStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class Run:
    run_id: str
    module_id: str
    module_name: str
    status: RunStatus
    created_at: Any = None
    parameters: dict = field(default_factory=dict)
    error_message: Optional[str] = None
    started_at: Any = None
    completed_at: Any = None


class Registry:
    def __init__(self):
        self.runs = {}
        self.history = []

    def add_run(self, run):
        self.runs[run.run_id] = run

    def get_run(self, run_id):
        return self.runs.get(run_id)

    def update_run(self, run):
        self.history.append((run.run_id, run.status))


def run_async(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_seed003_statuses_mirrored(client):
    registry = Registry()
    mgr = BackgroundTaskManager(registry)

    async def main():
        ok = Run("ok-1", "mod", "My Module", RunStatus.QUEUED, parameters={"key": "value"})
        bad = Run("bad-1", "mod", "Breaks", RunStatus.QUEUED)
        registry.add_run(ok)
        registry.add_run(bad)

        async def work():
            await asyncio.sleep(0.2)
            return "result"

        async def failing():
            await asyncio.sleep(0.05)
            raise ValueError("Something went wrong")

        assert mgr.start_task(ok, work()) == "ok-1"
        assert mgr.start_task(bad, failing()) == "bad-1"
        assert ok.status is RunStatus.QUEUED
        assert mgr.get_active_task_count() == 2
        assert sorted(mgr.get_active_task_ids()) == ["bad-1", "ok-1"]
        assert mgr.is_task_active("ok-1")
        await mgr.wait_all()
        assert mgr.get_active_task_count() == 0 and not mgr.is_task_active("ok-1")
        return ok, bad

    ok, bad = run_async(main())
    assert ok.status is RunStatus.COMPLETED and ok.started_at and ok.completed_at
    assert bad.status is RunStatus.FAILED and bad.error_message == "Something went wrong"
    assert [s for r, s in registry.history if r == "ok-1"] == [
        RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.COMPLETED]
    t_ok = client.get_task(mgr.tasklight_id("ok-1"))
    assert t_ok["state"] == "completed" and t_ok["title"] == "My Module" and t_ok["kind"] == "mod"
    assert t_ok["metadata"] == {"run_id": "ok-1", "parameters": {"key": "value"}}
    assert t_ok["result"] == "result"
    t_bad = client.get_task(mgr.tasklight_id("bad-1"))
    assert t_bad["state"] == "failed" and t_bad["error"] == "Something went wrong"
    assert mgr.get_status("bad-1") == "failed" and mgr.get_error("bad-1") == "Something went wrong"


def test_seed003_cancel_task_and_named_form(client):
    mgr = BackgroundTaskManager()
    log = []

    async def main():
        async def long_operation():
            try:
                for i in range(100):
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                log.append("cleanup")
                raise

        rid = mgr.start_task(long_operation(), name="long-task")
        assert rid == "long-task"
        await asyncio.sleep(0.2)
        assert await mgr.cancel_task(rid) is True
        assert await mgr.cancel_task(rid) is False
        assert await mgr.cancel_task("unknown") is False
        return rid

    rid = run_async(main())
    assert log == ["cleanup"]
    assert mgr.get_status(rid) == "cancelled"
    t = client.get_task(mgr.tasklight_id(rid))
    assert t["state"] == "cancelled" and t["title"] == "long-task"


def test_seed003_cancel_from_tasklight_cancels_the_coroutine(daemon, unix_client):
    mgr = BackgroundTaskManager(heartbeat_timeout_s=0.6)
    log = []

    async def main():
        async def forever():
            try:
                while True:
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                log.append("cancelled")
                raise

        rid = mgr.start_task(forever(), name="forever")
        await asyncio.sleep(0.3)
        tid = mgr.tasklight_id(rid)
        await asyncio.get_running_loop().run_in_executor(None, daemon.tl, "cancel", tid)
        await mgr.wait_all()
        return rid, tid

    rid, tid = run_async(main())
    assert log == ["cancelled"] and mgr.get_status(rid) == "cancelled"
    assert unix_client.get_task(tid)["state"] == "cancelled"


def test_seed003_needs_a_loop(client):
    mgr = BackgroundTaskManager()

    async def nothing():
        pass

    with pytest.raises(RuntimeError):
        mgr.start_task(nothing(), name="x")


def test_seed003_report_progress(client):
    mgr = BackgroundTaskManager()

    async def main():
        async def work():
            await asyncio.sleep(0.05)
            await mgr.report("with-progress", progress=50, message="half")
            t = await asyncio.get_running_loop().run_in_executor(
                None, client.get_task, mgr.tasklight_id("with-progress"))
            assert t["progress"] == 50 and t["message"] == "half"

        mgr.start_task(work(), name="with-progress")
        await mgr.wait_all()

    run_async(main())
    assert mgr.get_status("with-progress") == "completed"


# ---- seed 004 ------------------------------------------------------------------


class CountTask(BaseTask):
    title = "Counting"
    kind = "count"

    def execute(self, progress_handle, **kwargs):
        n = kwargs["n"]
        progress_handle.send_progress_text("starting")
        for i in range(n):
            time.sleep(kwargs.get("delay", 0.01))
            progress_handle.send_progress_value((i + 1) / n)
        progress_handle.send_progress("done counting", 1.0)
        if kwargs.get("fail"):
            raise RuntimeError("count failed")
        return {"counted": n}


def test_seed004_task_service_and_stream(client):
    svc = TaskService()
    start = svc.start_task(CountTask(), n=20, delay=0.02)
    assert start.stream_url == f"/api/tasks/{start.task_id}/stream"
    assert start.to_dict() == {"task_id": start.task_id, "stream_url": start.stream_url,
                               "status": "running"}
    events = list(stream_events(start.task_id))
    names = [e.event for e in events]
    assert names[0] == "task.snapshot" and names[-1] == "task.completed"
    assert "task.progress" in names
    final = events[-1].data
    assert final["state"] == "completed" and final["result"] == {"counted": 20}
    assert final["message"] == "done counting" and final["progress"] == 100
    assert all(e.id is not None for e in events[1:])
    st = svc.get_task_status(start.task_id)
    assert st["status"] == "completed" and st["progress"] == 1.0
    assert st["result"] == {"counted": 20}
    assert svc.remove_completed_task(start.task_id) is True
    assert svc.get_task_status(start.task_id) is None
    svc.shutdown()


def test_seed004_failure_timeout_cancel(client):
    svc = TaskService(max_workers=3)
    failing = svc.start_task(CountTask(), n=2, fail=True)
    assert svc.wait(failing.task_id, 10)["status"] == "failed"
    assert client.get_task(failing.task_id)["error"] == "count failed"

    slow = svc.start_task(CountTask(), n=1000, delay=0.02, timeout=0.3)
    wait_state(client, slow.task_id, "failed", timeout=5)
    assert client.get_task(slow.task_id)["error"] == "timed out after 0.3 s"

    victim = svc.start_task(CountTask(), n=1000, delay=0.02)
    time.sleep(0.1)
    assert svc.remove_completed_task(victim.task_id) is False
    assert svc.cancel_task(victim.task_id) is True
    assert svc.wait(victim.task_id, 10)["status"] == "cancelled"
    svc.shutdown()


def test_seed004_cancel_from_elsewhere_and_bad_value(client):
    svc = TaskService()
    s = svc.start_task(CountTask(), n=1000, delay=0.02)
    time.sleep(0.1)
    client.cancel_task(s.task_id)  # the dashboard / tl cancel
    assert svc.wait(s.task_id, 10)["status"] == "cancelled"

    class Bad(BaseTask):
        def execute(self, progress_handle, **kwargs):
            progress_handle.send_progress_value(1.5)

    b = svc.start_task(Bad())
    st = svc.wait(b.task_id, 10)
    assert st["status"] == "failed" and "between 0.0 and 1.0" in st["error"]
    with pytest.raises(TypeError):
        BaseTask()
    svc.shutdown()


def test_stream_events_of_an_ended_task_and_logs(client):
    t = client.create_task("short")
    client.append_logs(t["id"], ["l1", "l2", "l3"])
    client.patch_task(t["id"], state="completed")
    events = list(client.stream_events(t["id"], logs=2))
    assert [e.event for e in events] == ["task.snapshot", "task.log", "task.log"]
    assert [e.data["text"] for e in events[1:]] == ["l2", "l3"]
    assert events[0].task_id == t["id"] and events[1].task_id == t["id"]
    with pytest.raises(tasklight.TaskNotFound):
        list(client.stream_events(424242))


def test_global_events(client):
    got = []
    ready = threading.Event()

    def listen():
        for ev in client.events(timeout=10):
            ready.set()
            got.append(ev)
            if ev.event == "task.completed":
                return

    th = threading.Thread(target=listen, daemon=True)
    th.start()
    # the stream starts with a comment only: poke until the listener is in
    first = client.create_task("warm-up")
    wait_for(lambda: ready.is_set(), 5)
    t = client.create_task("watched")
    client.patch_task(t["id"], state="completed")
    th.join(10)
    assert not th.is_alive()
    names = [(e.event, e.task_id) for e in got]
    assert ("task.created", t["id"]) in names and ("task.completed", t["id"]) in names
    seqs = [e.seq for e in got if e.event.startswith("task.")]
    assert all(s is not None for s in seqs) and seqs == sorted(seqs)
    client.patch_task(first["id"], state="completed")
