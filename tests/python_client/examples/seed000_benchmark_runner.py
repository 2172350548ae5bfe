# Seed 000, "Integration Points / 1. Benchmark Runner" -- the function is
# verbatim; the import line is adapted and the benchmark objects it uses
# (agent, adapter, tasks, results) are the smallest stand-ins around it.
from tasklight import task_manager  # was: from openadapt_ml.tasks import task_manager

# ---- stand-ins for the seed application's own objects ----
from dataclasses import dataclass


@dataclass
class BenchmarkTask:
    task_id: str
    instruction: str


@dataclass
class TaskResult:
    success: bool


class BenchmarkAdapter:
    pass


class BenchmarkResults:
    pass


class BenchmarkAgent:
    model_id = "qwen3vl-2b-epoch5"

    def execute_task(self, task, adapter):
        return TaskResult(success=task.task_id != "task-002")


tasks = [BenchmarkTask("task-001", "Open Notepad and type text"),
         BenchmarkTask("task-002", "Navigate to Settings"),
         BenchmarkTask("task-003", "Create new folder")]
results = []
# ---- end of stand-ins ----


def evaluate_agent_on_benchmark(
    agent: BenchmarkAgent,
    adapter: BenchmarkAdapter,
    num_tasks: int = None
) -> BenchmarkResults:

    # Register task
    tracker = task_manager.create_task(
        task_type="benchmark_run",
        title=f"WAA Evaluation: {agent.model_id}",
        metadata={
            "model_id": agent.model_id,
            "total_tasks": num_tasks or len(tasks)
        }
    )

    try:
        for i, task in enumerate(tasks):
            # Update progress
            tracker.update(
                progress=(i / len(tasks)) * 100,
                metadata={
                    "completed_tasks": i,
                    "successful_tasks": sum(1 for r in results if r.success)
                }
            )

            # Add substep for each task
            tracker.add_substep(task.task_id, task.instruction)
            result = agent.execute_task(task, adapter)
            tracker.update_substep(
                task.task_id,
                status="completed" if result.success else "failed"
            )

        tracker.complete()
    except Exception as e:
        tracker.fail(str(e))
        raise


# ---- test harness (not from the seed) ----
evaluate_agent_on_benchmark(BenchmarkAgent(), BenchmarkAdapter())
[t] = task_manager.get_tasks()
assert t["status"] == "completed" and t["title"] == "WAA Evaluation: qwen3vl-2b-epoch5", t
assert [s["status"] for s in t["substeps"]] == ["completed", "failed", "completed"], t
assert t["metadata"]["total_tasks"] == 3 and t["metadata"]["completed_tasks"] == 2, t
print("OK", t["task_id"])
