# Seed 000, "Integration Points / 2. Azure Orchestrator" -- the body is
# verbatim; adapted: the import line, and the signature `(self, ...)`, which
# is not valid Python, became `(self, vm_size, region)`. `ml_client`,
# `job_config` and a fast `time.sleep` are stand-ins for the Azure SDK.
from tasklight import task_manager  # was: from openadapt_ml.tasks import task_manager

# ---- stand-ins for the seed application's own objects ----
import time as _time
import types


class _Job:
    def __init__(self, name, status):
        self.name, self.status = name, status


class _Jobs:
    polls = 0

    def create_or_update(self, config):
        return _Job("job-waa-1", "Queued")

    def get(self, name):
        self.polls += 1
        return _Job(name, "Running" if self.polls >= 2 else "Starting")


ml_client = types.SimpleNamespace(jobs=_Jobs())
job_config = {"compute": "gpu-cluster"}
time = types.SimpleNamespace(sleep=lambda s: _time.sleep(0.05))  # the seed sleeps 10 s per poll
# ---- end of stand-ins ----


class AzureOrchestrator:
    def submit_benchmark_job(self, vm_size, region):
        # Register VM provisioning task
        vm_tracker = task_manager.create_task(
            task_type="vm_provision",
            title=f"Provisioning Azure VM: {vm_size}",
            metadata={"vm_size": vm_size, "region": region}
        )

        vm_tracker.update(progress=10.0, status="creating")
        job = ml_client.jobs.create_or_update(job_config)
        vm_tracker.update(progress=50.0, status="starting")

        # Poll until running
        while job.status != "Running":
            time.sleep(10)
            job = ml_client.jobs.get(job.name)

        vm_tracker.complete(metadata={"job_id": job.name})


# ---- test harness (not from the seed) ----
AzureOrchestrator().submit_benchmark_job("Standard_NC6", "eastus")
[t] = task_manager.get_tasks()
assert t["status"] == "completed" and t["task_type"] == "vm_provision", t
assert t["metadata"] == {"vm_size": "Standard_NC6", "region": "eastus",
                         "status": "starting", "job_id": "job-waa-1"}, t
print("OK", t["task_id"])
