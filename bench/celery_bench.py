#!/usr/bin/python3
"""celery_bench.py -- the producer side of the celery case.

    celery_bench.py --count N [--timeout S]

Waits for the worker (one warm-up task), empties the result db, then sends
N no-op tasks one after another with apply_async from this process, and
waits until the result db holds N results (DBSIZE, polled every 2 ms).
rate = N / (first send to the N-th result stored). Prints one JSON line.
Needs CELERY_BENCH_REDIS and the worker started by the case.
"""
import argparse
import json
import os
import sys
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from celery_app import app, noop  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    results = redis.Redis.from_url(os.environ["CELERY_BENCH_REDIS"] + "/1")

    # The worker is up when it runs a task.
    noop.delay(-1).get(timeout=60)
    results.flushdb()

    t0 = time.monotonic()
    for i in range(a.count):
        noop.apply_async((i,), ignore_result=False)
    sent = time.monotonic() - t0
    deadline = t0 + a.timeout
    while results.dbsize() < a.count:
        if time.monotonic() > deadline:
            sys.exit(f"celery_bench: {results.dbsize()} of {a.count} done "
                     f"after {a.timeout:.0f} s")
        time.sleep(0.002)
    secs = time.monotonic() - t0
    print(json.dumps({"mode": "celery", "count": a.count, "seconds": secs,
                      "send_s": sent, "rate": a.count / secs, "errors": 0}))


if __name__ == "__main__":
    main()
