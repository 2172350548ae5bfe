"""Priority order, FIFO among equals, group parallel limits."""

import time

from conftest import parse_ts, wait_for


def test_priority_order_then_fifo(daemon):
    daemon.tl("parallel", "1")
    blocker = daemon.add_cli("--", "sleep", "60")
    daemon.wait_state(blocker, "running")

    # (name, --priority) in submission order
    plan = [("low-a", "low"), ("normal-a", "normal"), ("high-a", "high"),
            ("five", "5"), ("normal-b", "normal"), ("low-b", "low"),
            ("high-b", "high"), ("normal-c", "0")]
    ids = {}
    for name, prio in plan:
        ids[name] = daemon.add_cli("--priority", prio, "--title", name, "--", "sleep", "0.05")

    for name, tid in ids.items():
        t = daemon.task(tid)
        assert t["state"] == "queued", f"{name} is {t['state']} while the only slot is taken"
    assert daemon.task(ids["high-a"])["priority"] == 10
    assert daemon.task(ids["low-a"])["priority"] == -10
    assert daemon.task(ids["five"])["priority"] == 5

    daemon.tl("cancel", blocker)
    for tid in ids.values():
        t = daemon.wait_final(tid, timeout=20)
        assert t["state"] == "completed", t

    started = sorted(ids, key=lambda n: parse_ts(daemon.task(ids[n])["started_at"]))
    assert started == ["high-a", "high-b", "five", "normal-a", "normal-b", "normal-c",
                       "low-a", "low-b"]

    # parallel 1: no two of them overlapped
    spans = sorted((parse_ts(daemon.task(t)["started_at"]), parse_ts(daemon.task(t)["finished_at"]))
                   for t in ids.values())
    for (s1, f1), (s2, _) in zip(spans, spans[1:]):
        assert s2 >= f1 - 0.002, f"tasks overlapped with parallel 1: {spans}"


def _max_overlap(spans):
    events = sorted([(s, 1) for s, _ in spans] + [(f, -1) for _, f in spans])
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def test_group_parallel_limit(daemon):
    daemon.tl("parallel", "2", "--group", "g")
    daemon.tl("parallel", "3")  # the default group, set apart from g
    g_ids = [daemon.add_cli("--group", "g", "--", "sleep", "1") for _ in range(5)]
    d_ids = [daemon.add_cli("--", "sleep", "1") for _ in range(3)]

    max_g = 0
    saw_default_beside_g = False
    deadline = time.monotonic() + 20
    while True:
        running_g = daemon.tasks("?state=running&group=g")["tasks"]
        max_g = max(max_g, len(running_g))
        assert len(running_g) <= 2, f"{len(running_g)} tasks of group g running: {[t['id'] for t in running_g]}"
        assert all(t["group"] == "g" for t in running_g)
        running_d = daemon.tasks("?state=running&group=default")["tasks"]
        if len(running_d) == 3 and running_g:
            saw_default_beside_g = True
        states = [daemon.task(t)["state"] for t in g_ids + d_ids]
        if all(s in ("completed", "failed", "cancelled") for s in states):
            break
        assert time.monotonic() < deadline, f"tasks not done after 20 s: {states}"
        time.sleep(0.02)

    assert max_g == 2, "group g never used both of its slots"
    assert saw_default_beside_g, "the default group's 3 slots were not all used while g ran"

    g_tasks = [daemon.task(t) for t in g_ids]
    assert all(t["state"] == "completed" for t in g_tasks), g_tasks
    spans = [(parse_ts(t["started_at"]), parse_ts(t["finished_at"])) for t in g_tasks]
    assert _max_overlap(spans) <= 2, spans
    d_tasks = [daemon.task(t) for t in d_ids]
    assert all(t["state"] == "completed" for t in d_tasks), d_tasks
    # the default group did not wait for g: its three ran together
    d_spans = [(parse_ts(t["started_at"]), parse_ts(t["finished_at"])) for t in d_tasks]
    assert _max_overlap(d_spans) == 3, d_spans

    groups = {g["name"]: g for g in daemon.unix("GET", "/api/groups").json()["groups"]}
    assert groups["g"]["parallel"] == 2 and groups["default"]["parallel"] == 3, groups


def test_parallel_change_takes_effect_for_queued_tasks(daemon):
    daemon.tl("parallel", "1")
    ids = [daemon.add_cli("--", "sleep", "30") for _ in range(3)]
    daemon.wait_state(ids[0], "running")
    time.sleep(0.3)
    assert [daemon.task(t)["state"] for t in ids] == ["running", "queued", "queued"]
    daemon.tl("parallel", "3")
    for t in ids:
        daemon.wait_state(t, "running", timeout=5)
    for t in ids:
        daemon.tl("cancel", t)
    wait_for(lambda: all(daemon.task(t)["state"] == "cancelled" for t in ids), 5)
