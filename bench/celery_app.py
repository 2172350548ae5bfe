"""The Celery side of the celery case: one app, one no-op task.

The broker and the result backend are the Redis the case started on
loopback (CELERY_BENCH_REDIS=redis://127.0.0.1:PORT): queue in db 0, one
result key per task in db 1, so DBSIZE of db 1 counts finished tasks.
"""
import os

from celery import Celery

_redis = os.environ["CELERY_BENCH_REDIS"]
if not _redis.startswith("redis://127.0.0.1:"):
    raise SystemExit("celery_app: loopback Redis only")

app = Celery("tlbench", broker=_redis + "/0", backend=_redis + "/1")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="noop")
def noop(i):
    return i
