"""tasklight.track: a tqdm-style wrapper."""

import time

import pytest

import tasklight
from tasklight import Cancelled
from .tl_pyclient_util import CountingClient


def test_track_a_list_completes(client):
    items = list(range(25))
    seen = []
    it = tasklight.track(items, title="Processing", kind="batch")
    for x in it:
        seen.append(x)
    assert seen == items
    t = client.get_task(it.task_id)
    assert t["state"] == "completed" and t["kind"] == "batch" and t["title"] == "Processing"
    assert (t["current"], t["total"], t["unit"], t["progress"]) == (25, 25, "it", 100)


def test_track_a_generator_with_total(client):
    def gen():
        yield from range(10)

    it = tasklight.track(gen(), total=10, title="gen")
    assert sum(it) == 45
    t = client.get_task(it.task_id)
    assert t["state"] == "completed" and t["current"] == 10 and t["total"] == 10


def test_track_unknown_total(client):
    it = tasklight.track(iter(range(5)), title="stream")
    assert list(it) == [0, 1, 2, 3, 4]
    t = client.get_task(it.task_id)
    assert t["state"] == "completed" and t["current"] == 5


def test_updates_are_rate_limited(daemon, transport):
    c = CountingClient(socket_path=daemon.socket_path) if transport == "unix" else \
        CountingClient(url=daemon.url, token=daemon.token)

    def slowish():
        for i in range(300):
            time.sleep(0.002)  # ~0.6 s in all
            yield i

    start = time.monotonic()
    it = tasklight.track(slowish(), total=300, title="fast loop", client=c)
    for _ in it:
        pass
    elapsed = time.monotonic() - start
    patches = [b for m, p, b in c.calls if m == "PATCH"]
    # ~10 per second plus the first and the final ones
    assert len(patches) <= elapsed * 10 + 4, (len(patches), elapsed)
    assert len(patches) >= 3
    t = c.get_task(it.task_id)
    assert t["state"] == "completed" and t["current"] == 300


def test_exception_in_the_iterable_fails(client):
    def broken():
        yield 1
        raise IOError("disk on fire")

    it = tasklight.track(broken(), title="broken")
    with pytest.raises(IOError):
        for _ in it:
            pass
    t = client.get_task(it.task_id)
    assert t["state"] == "failed" and t["error"] == "disk on fire"


def test_early_stop_of_a_bare_loop_fails(client):
    it = tasklight.track(range(10), title="stops early")
    with pytest.raises(KeyError):
        for x in it:
            if x == 4:
                raise KeyError("bad item")
    t = client.get_task(it.task_id)
    assert t["state"] == "failed" and t["error"] == "stopped early after 4 of 10 items"


def test_with_form_gives_the_exact_outcome(client):
    with pytest.raises(ValueError):
        with tasklight.track(range(10), title="with") as it:
            for x in it:
                if x == 3:
                    raise ValueError("item 3 is bad")
    t = client.get_task(it.task_id)
    assert t["state"] == "failed" and t["error"] == "item 3 is bad"

    with tasklight.track(range(10), title="break") as it2:
        for x in it2:
            if x == 3:
                break
    assert client.get_task(it2.task_id)["state"] == "completed"


def test_cancel_raises_from_the_loop(client):
    it = tasklight.track(range(100000), title="cancel me", min_interval=0)
    n = 0
    with pytest.raises(Cancelled):
        for x in it:
            n += 1
            if x == 5:
                client.cancel_task(it.task_id)
    assert n == 6
    assert client.get_task(it.task_id)["state"] == "cancelled"


def test_cancel_without_raising(client):
    it = tasklight.track(range(100), title="polite", raise_on_cancel=False, min_interval=0)
    for x in it:
        if x == 5:
            client.cancel_task(it.task_id)
        if it.tracker.cancel_requested:
            it.tracker.cancel()
            break
    assert client.get_task(it.task_id)["state"] == "cancelled"


def test_set_description_and_len(client):
    it = tasklight.track([1, 2, 3], title="desc")
    assert len(it) == 3
    for x in it:
        it.set_description(f"item {x}")
    t = client.get_task(it.task_id)
    assert t["message"] == "item 3" and t["state"] == "completed"
