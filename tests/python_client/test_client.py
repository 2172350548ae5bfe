"""tasklight.Client: every endpoint, errors, finding the daemon, keep-alive,
threads. Most tests run twice: over the unix socket and over TCP + token."""

import os
import socket
import threading

import pytest

import tasklight
from .tl_pyclient_util import CountingClient, wait_for, wait_state


def test_health_and_where(client, transport, daemon):
    assert client.health()["ok"] is True
    assert client.ping()
    if transport == "unix":
        assert client.where == daemon.socket_path
    else:
        assert client.where == daemon.url


def test_tracked_task_round_trip(client):
    t = client.create_task("Pulling WAA image", kind="docker_pull", description="winarena:latest",
                           key="pull-42", owner="runner-3", metadata={"image": "winarena"},
                           total=24, unit="layers", heartbeat_timeout_s=60)
    assert t["source"] == "tracked" and t["state"] == "running"
    # `owner` is recorded by the daemon (the creating principal: "local" on
    # the socket, "admin" for the daemon's token); the body's is not kept
    assert t["kind"] == "docker_pull" and isinstance(t["owner"], str) and t["owner"]
    assert t["metadata"] == {"image": "winarena"} and t["total"] == 24
    again = client.create_task("other", kind="docker_pull", key="pull-42")
    assert again["id"] == t["id"], "the same key gives the existing task"

    r = client.patch_task(t["id"], current=11, message="11/24", metadata={"mb": 3842, "image": None})
    assert r["current"] == 11 and round(r["progress"], 3) == round(100 * 11 / 24, 3)
    assert r["metadata"] == {"mb": 3842}
    assert r["cancel_requested"] is False and r["pause_requested"] is False
    assert client.heartbeat(t["id"])["id"] == t["id"]

    assert client.append_logs(t["id"], ["a", "b"]) == 2
    assert client.append_logs(t["id"], "c", stream="stderr") == 1
    logs = client.get_logs(t["id"], tail=0)
    assert [(ln["stream"], ln["text"]) for ln in logs["lines"]] == [
        ("stdout", "a"), ("stdout", "b"), ("stderr", "c")]
    assert [ln["text"] for ln in client.get_logs(t["id"], tail=1)["lines"]] == ["c"]

    s = client.add_substep(t["id"], "Download layer 1", "layer-1")
    assert s["id"] == "layer-1" and s["state"] == "running"
    s = client.update_substep(t["id"], "layer-1", state="completed")
    assert s["state"] == "completed" and s["progress"] == 100
    s2 = client.add_substep(t["id"], "no id given")
    assert s2["id"]

    done = client.patch_task(t["id"], state="completed", result={"digest": "sha256:1"})
    assert done["state"] == "completed" and done["result"] == {"digest": "sha256:1"}
    assert client.get_task(t["id"])["finished_at"]


def test_command_tasks_and_actions(client):
    t = client.add_command(["sleep", "30"], title="sleeper", kind="test", priority="high",
                           timeout_s=60)
    assert t["source"] == "command" and t["priority"] == 10
    wait_state(client, t["id"], "running")
    assert client.pause_task(t["id"])["state"] == "paused"
    assert client.resume_task(t["id"])["state"] == "running"
    c = client.cancel_task(t["id"])
    assert c["state"] == "cancelled"

    def retry():
        try:  # 409 "still stopping" until the process is reaped
            return client.retry_task(t["id"])
        except tasklight.Conflict:
            return None

    assert wait_for(retry, 5)["state"] in ("queued", "running")
    client.cancel_task(t["id"])
    wait_state(client, t["id"], "cancelled")

    def delete():
        # the daemon says "cancelled" at once but refuses DELETE (409) until
        # the process has been reaped
        try:
            return client.delete_task(t["id"])
        except tasklight.Conflict:
            return None

    assert wait_for(delete, 5) == {"deleted": t["id"]}
    with pytest.raises(tasklight.TaskNotFound):
        client.get_task(t["id"])


def test_command_env_and_cwd(client, tmp_path):
    t = client.add_command(["sh", "-c", "echo $FOO; pwd"], cwd=str(tmp_path),
                           env={"FOO": "bar", "PATH": os.environ["PATH"]})
    wait_state(client, t["id"], "completed")
    texts = [ln["text"] for ln in client.get_logs(t["id"], tail=0)["lines"]]
    assert "bar" in texts and str(tmp_path) in texts


def test_list_filters_and_pages(client):
    ids = [client.create_task(f"t{i}", kind="even" if i % 2 == 0 else "odd")["id"]
           for i in range(7)]
    page = client.list_tasks(limit=3)
    assert [t["id"] for t in page["tasks"]] == ids[::-1][:3]
    assert page["counts"]["running"] == 7 and page["next_cursor"]
    assert [t["id"] for t in client.iter_tasks(page_size=2)] == ids[::-1]
    assert {t["kind"] for t in client.list_tasks(kind="even")["tasks"]} == {"even"}
    assert [t["title"] for t in client.list_tasks(q="t3")["tasks"]] == ["t3"]
    client.patch_task(ids[0], state="failed", error="x")
    assert [t["id"] for t in client.list_tasks(state="failed")["tasks"]] == [ids[0]]


def test_groups_clean_stats(client):
    g = client.set_parallel("gpu", 2)
    assert g == {"name": "gpu", "parallel": 2}
    assert any(x["name"] == "gpu" and x["parallel"] == 2 for x in client.list_groups())
    t = client.create_task("x")
    client.patch_task(t["id"], state="completed")
    st = client.stats()
    assert st["counts"]["completed"] == 1 and isinstance(st["groups"], list)
    # (the daemon sometimes answers 0 right after the task ended; it goes on
    # a later clean)
    assert wait_for(lambda: client.clean(0), 5) == 1
    assert client.list_tasks()["tasks"] == []


def test_errors_carry_code_and_message(client):
    with pytest.raises(tasklight.TaskNotFound) as e:
        client.get_task(424242)
    assert e.value.status == 404 and e.value.code == "not_found"
    assert "424242" in e.value.message
    assert isinstance(e.value, LookupError)

    t = client.create_task("x")
    with pytest.raises(tasklight.InvalidInput) as e:
        client.patch_task(t["id"], progress=150)
    assert e.value.status == 422 and e.value.code == "invalid"
    with pytest.raises(tasklight.InvalidInput) as e:
        client.patch_task(t["id"], progress="half")
    assert e.value.status == 400 and e.value.code == "bad_request"
    with pytest.raises(tasklight.InvalidInput):
        client.patch_task(t["id"], progress=float("nan"))  # refused before sending
    with pytest.raises(tasklight.InvalidInput) as e:
        client.create_task("x" * 5000)
    assert e.value.status == 413

    client.patch_task(t["id"], state="completed")
    with pytest.raises(tasklight.Conflict) as e:
        client.patch_task(t["id"], progress=5)
    assert e.value.status == 409 and e.value.code == "conflict"
    with pytest.raises(tasklight.Conflict):
        client.pause_task(t["id"])
    with pytest.raises(tasklight.TasklightError) as e:
        client.request("PUT", "/api/tasks")
    assert e.value.status == 405 and e.value.code == "method_not_allowed"


def test_daemon_unreachable(tmp_path):
    c = tasklight.Client(socket_path=str(tmp_path / "nope.sock"))
    with pytest.raises(tasklight.DaemonUnreachable) as e:
        c.health()
    assert "nope.sock" in str(e.value) and isinstance(e.value, ConnectionError)
    assert not c.ping()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(tasklight.DaemonUnreachable):
        tasklight.Client(url=f"http://127.0.0.1:{port}", token="x").health()


def test_tcp_token(daemon):
    with pytest.raises(tasklight.Unauthorized) as e:
        tasklight.Client(url=daemon.url, token="wrong").list_tasks()
    assert e.value.status == 401 and e.value.code == "unauthorized"
    assert tasklight.Client(url=daemon.url, token=daemon.token).list_tasks()["tasks"] == []
    # without a token argument: TASKLIGHT_TOKEN, else the data dir's token file
    assert tasklight.Client(url=daemon.url, data_dir=daemon.data_dir).token == daemon.token


def _env(monkeypatch, **values):
    for k in ("TASKLIGHT_SOCKET", "TASKLIGHT_URL", "TASKLIGHT_TOKEN", "TASKLIGHT_DATA_DIR",
              "XDG_DATA_HOME"):
        monkeypatch.delenv(k, raising=False)
    for k, v in values.items():
        monkeypatch.setenv(k, v)


def test_finding_the_daemon(daemon, monkeypatch, tmp_path):
    _env(monkeypatch, TASKLIGHT_SOCKET=daemon.socket_path)
    assert tasklight.Client().socket_path == daemon.socket_path
    assert tasklight.Client().health()["ok"]

    _env(monkeypatch, TASKLIGHT_DATA_DIR=daemon.data_dir)
    assert tasklight.Client().socket_path == daemon.socket_path
    assert tasklight.Client().health()["ok"]

    _env(monkeypatch, XDG_DATA_HOME=str(tmp_path / "xdg"))
    assert tasklight.Client().socket_path == str(tmp_path / "xdg" / "tasklight" / "tasklight.sock")

    _env(monkeypatch, HOME=str(tmp_path / "home"))
    assert tasklight.Client().socket_path == str(
        tmp_path / "home" / ".local" / "share" / "tasklight" / "tasklight.sock")

    _env(monkeypatch, TASKLIGHT_URL=daemon.url, TASKLIGHT_TOKEN=daemon.token)
    c = tasklight.Client()
    assert c.socket_path is None and c.url == daemon.url and c.token == daemon.token
    assert c.list_tasks()["tasks"] == []

    # the socket wins when both are set (as inside a task the daemon runs)
    _env(monkeypatch, TASKLIGHT_URL=daemon.url, TASKLIGHT_SOCKET=daemon.socket_path)
    assert tasklight.Client().socket_path == daemon.socket_path

    # explicit arguments win over the environment
    _env(monkeypatch, TASKLIGHT_SOCKET="/nonexistent.sock")
    assert tasklight.Client(url=daemon.url, token=daemon.token).health()["ok"]
    assert tasklight.Client(data_dir=daemon.data_dir).health()["ok"]

    # configure() sets the process-wide client the seed APIs use
    try:
        c = tasklight.configure(data_dir=daemon.data_dir)
        assert tasklight.get_client() is c
    finally:
        tasklight.set_default_client(None)


def test_inside_a_command_task_the_client_finds_its_daemon(daemon, unix_client):
    """The daemon gives its tasks TASKLIGHT_SOCKET and TASKLIGHT_TASK_ID; a
    Python task reports on itself with no configuration."""
    import sys
    code = ("import os, tasklight; c = tasklight.Client(); "
            "c.patch_task(os.environ['TASKLIGHT_TASK_ID'], progress=42, message='from python')")
    env = {"PYTHONPATH": daemon.env()["PYTHONPATH"], "PATH": os.environ["PATH"]}
    t = unix_client.add_command([sys.executable, "-c", code, ], env=env)
    done = wait_state(unix_client, t["id"], ("completed", "failed"))
    assert done["state"] == "completed", unix_client.get_logs(t["id"], tail=0)
    assert done["message"] == "from python"


def test_keep_alive_reuses_connections(daemon, transport):
    c = CountingClient(socket_path=daemon.socket_path) if transport == "unix" else \
        CountingClient(url=daemon.url, token=daemon.token)
    t = c.create_task("x")
    for i in range(50):
        c.patch_task(t["id"], progress=i)
    assert c.connections == 1, c.connections


def test_stale_connection_is_retried(daemon):
    c = CountingClient(socket_path=daemon.socket_path)
    assert c.health()["ok"]
    daemon.stop()
    daemon.start()  # the kept-alive connection is now dead
    assert c.health()["ok"]
    assert c.connections == 2


def test_threads_share_one_client(client):
    t = client.create_task("shared")
    errors = []

    def work(n):
        try:
            for i in range(30):
                client.append_logs(t["id"], f"thread {n} line {i}")
                client.patch_task(t["id"], metadata={f"t{n}": i})
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(client.get_logs(t["id"], tail=0)["lines"]) == 240
    assert client.get_task(t["id"])["metadata"] == {f"t{n}": 29 for n in range(8)}
    assert len(client._idle) <= client.max_idle


def test_wait(client):
    t = client.add_command(["sh", "-c", "sleep 0.3; exit 3"])
    done = client.wait(t["id"], timeout=10)
    assert done["state"] == "failed" and done["exit_code"] == 3
    running = client.create_task("never ends", heartbeat_timeout_s=0)
    with pytest.raises(TimeoutError):
        client.wait(running["id"], timeout=0.5)


def test_stream_url(client, transport, daemon):
    assert client.stream_url(7) == "/api/tasks/7/stream"
    if transport == "tcp":
        assert client.stream_url(7, absolute=True) == daemon.url + "/api/tasks/7/stream"


def test_closed_client(daemon):
    c = daemon.unix_client()
    c.health()
    c.close()
    with pytest.raises(tasklight.TasklightError):
        c.health()
    wait_for(lambda: True)


def test_named_tokens_and_roles(daemon, transport):
    admin = daemon.unix_client() if transport == "unix" else daemon.tcp_client()
    made = admin.create_token("ci", role="read-only")
    assert made["name"] == "ci" and made["role"] == "read-only" and made["token"]
    assert any(t["name"] == "ci" and "token" not in t for t in admin.list_tokens())
    ro = tasklight.Client(url=daemon.url, token=made["token"])
    assert ro.list_tasks()["tasks"] == []
    with pytest.raises(tasklight.Forbidden) as e:
        ro.create_task("not allowed")
    assert e.value.status == 403 and isinstance(e.value, tasklight.Unauthorized)
    with pytest.raises(tasklight.Forbidden):
        ro.list_tokens()
    admin.delete_token("ci")
    with pytest.raises(tasklight.Unauthorized) as e:
        ro.list_tasks()
    assert e.value.status == 401


def test_log_ranges(client):
    t = client.create_task("logs")
    client.append_logs(t["id"], [f"line {i}" for i in range(10)])
    page = client.get_logs(t["id"], from_line=2, limit=3)
    assert [ln["text"] for ln in page["lines"]] == ["line 2", "line 3", "line 4"]
    assert page["total_lines"] == 10
    assert [ln["text"] for ln in client.get_logs(t["id"], tail=2)["lines"]] == ["line 8", "line 9"]
