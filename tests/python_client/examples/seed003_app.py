"""Stand-ins for seed 003's own application objects (not part of tasklight):
`Run`, `RunStatus`, `RunRegistry` (src/models/run.py, src/core/run_registry.py),
`ModuleRunner` (src/core/module_runner.py) and the few FastAPI names the
seed's FastAPI example uses. The smallest things the seed's snippets need."""

import asyncio
import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Optional


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
    created_at: datetime
    parameters: Dict[str, Any] = field(default_factory=dict)
    started_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None
    error_message: Optional[str] = None


class RunRegistry:
    def __init__(self):
        self._runs: Dict[str, Run] = {}
        self.updates = []

    def add_run(self, run: Run) -> None:
        self._runs[run.run_id] = run

    def get_run(self, run_id: str) -> Optional[Run]:
        return self._runs.get(run_id)

    def update_run(self, run: Run) -> None:
        self._runs[run.run_id] = run
        self.updates.append((run.run_id, run.status))

    def cleanup_old_runs(self) -> None:
        pass


class ModuleRunner:
    def __init__(self, registry, process_manager):
        self.registry = registry

    async def execute_module(self, module_id: str, parameters: dict):
        await asyncio.sleep(0.1)
        return {"module_id": module_id, "parameters": parameters}


process_manager = object()


class BackgroundTasks:
    pass


class FastAPI:
    """Records the handlers; the example drives them like a server would."""

    def __init__(self):
        self.events = {}
        self.routes = {}

    def on_event(self, name):
        def register(fn):
            self.events[name] = fn
            return fn
        return register

    def _route(self, method, path):
        def register(fn):
            self.routes[(method, path)] = fn
            return fn
        return register

    def get(self, path):
        return self._route("GET", path)

    def post(self, path):
        return self._route("POST", path)

    def delete(self, path):
        return self._route("DELETE", path)
