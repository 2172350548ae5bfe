"""Many tasks: every one runs once and the counts add up."""

import time

import pytest
import requests

N = 500


@pytest.mark.time_limit(180)
def test_500_tasks_all_complete(daemon):
    daemon.tl("parallel", "2")
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {daemon.token}"
    ids = []
    for i in range(N):
        r = s.post(daemon.url + "/api/tasks", json={"command": {"argv": ["true"]}, "title": f"bulk-{i}"},
                   timeout=10)
        assert r.status_code == 201, (i, r.status_code, r.text)
        ids.append(r.json()["id"])
    assert len(set(ids)) == N

    deadline = time.monotonic() + 150
    max_running = 0
    while True:
        counts = s.get(daemon.url + "/api/tasks?limit=1", timeout=10).json()["counts"]
        max_running = max(max_running, counts["running"])
        assert counts["running"] <= 2, counts
        if counts["completed"] + counts["failed"] + counts["cancelled"] == N:
            break
        assert time.monotonic() < deadline, f"not done after 150 s: {counts}"
        time.sleep(0.05)

    listing = daemon.tl_json("ls", "--json")
    counts = listing["counts"]
    assert counts == {"queued": 0, "running": 0, "paused": 0, "completed": N, "failed": 0,
                      "cancelled": 0}, counts

    seen = {}
    cursor = None
    while True:
        page = daemon.tasks("?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
        for t in page["tasks"]:
            seen[t["id"]] = t
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)
    bad = [t for t in seen.values() if t["state"] != "completed" or t["exit_code"] != 0 or t["attempt"] != 1]
    assert not bad, bad[:3]


def test_cli_add_loop(daemon):
    ids = [daemon.add_cli("--", "true") for _ in range(50)]
    for t in ids:
        assert daemon.wait_final(t, timeout=20)["state"] == "completed"
    counts = daemon.tl_json("ls", "--json")["counts"]
    assert counts["completed"] == 50, counts
