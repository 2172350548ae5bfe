"""Named tokens with roles, task owners with --multi-user, and the request rate."""

import requests


def make_token(daemon, name, role):
    r = daemon.unix("POST", "/api/tokens", {"name": name, "role": role})
    assert r.status == 201, r
    body = r.json()
    assert body["name"] == name and body["role"] == role and len(body["token"]) >= 32
    return body["token"]


def call(daemon, token, method, path, json=None):
    return requests.request(method, daemon.url + path, json=json, timeout=10,
                            headers={"Authorization": f"Bearer {token}"})


def test_roles(daemon):
    ro = make_token(daemon, "dashboard", "read-only")
    user = make_token(daemon, "ci", "user")
    assert call(daemon, ro, "GET", "/api/tasks").status_code == 200
    r = call(daemon, ro, "POST", "/api/tasks", {"title": "x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = call(daemon, user, "POST", "/api/tasks", {"title": "x"})
    assert r.status_code == 201 and r.json()["owner"] == "ci"
    # tokens are for admins only
    assert call(daemon, user, "GET", "/api/tokens").status_code == 403
    assert call(daemon, daemon.token, "GET", "/api/tokens").status_code == 200
    # the list never shows secrets
    listed = daemon.unix("GET", "/api/tokens").json()["tokens"]
    assert {t["name"] for t in listed} == {"dashboard", "ci"}
    assert all("token" not in t for t in listed)
    # duplicate names, bad roles, reserved names
    assert daemon.unix("POST", "/api/tokens", {"name": "ci", "role": "user"}).status == 409
    assert daemon.unix("POST", "/api/tokens", {"name": "x", "role": "root"}).status == 422
    assert daemon.unix("POST", "/api/tokens", {"name": "admin", "role": "user"}).status == 409


def test_revoked_token_stops_working_at_once(daemon):
    tok = make_token(daemon, "temp", "user")
    assert call(daemon, tok, "GET", "/api/tasks").status_code == 200
    assert daemon.unix("DELETE", "/api/tokens/temp").status == 200
    assert call(daemon, tok, "GET", "/api/tasks").status_code == 401
    assert daemon.unix("DELETE", "/api/tokens/temp").status == 404


def test_tokens_survive_a_restart(daemon):
    tok = make_token(daemon, "keeper", "read-only")
    daemon.restart()
    assert call(daemon, tok, "GET", "/api/tasks").status_code == 200
    assert call(daemon, tok, "POST", "/api/tasks", {"title": "x"}).status_code == 403


def test_cli_token_commands(daemon):
    secret = daemon.tl("token", "add", "bot", "--read-only").stdout.strip()
    assert len(secret) == 48
    assert "bot" in daemon.tl("token", "ls").stdout
    assert call(daemon, secret, "GET", "/api/tasks").status_code == 200
    daemon.tl("token", "rm", "bot")
    assert call(daemon, secret, "GET", "/api/tasks").status_code == 401


def test_multi_user_owners(daemon):
    daemon.stop()
    daemon.extra_args = ["--multi-user"]
    daemon.start()
    alice = make_token(daemon, "alice", "user")
    bob = make_token(daemon, "bob", "user")
    r = call(daemon, alice, "POST", "/api/tasks", {"command": {"argv": ["sleep", "30"]}})
    assert r.status_code == 201 and r.json()["owner"] == "alice"
    tid = r.json()["id"]
    r = call(daemon, bob, "POST", f"/api/tasks/{tid}/cancel")
    assert r.status_code == 403 and "alice" in r.json()["error"]["message"]
    assert call(daemon, bob, "DELETE", f"/api/tasks/{tid}").status_code == 403
    assert call(daemon, bob, "GET", f"/api/tasks/{tid}").status_code == 200  # reads are fine
    assert call(daemon, alice, "POST", f"/api/tasks/{tid}/cancel").status_code == 200
    # an admin (the daemon's own token, or the unix socket) may change anything
    r = call(daemon, alice, "POST", "/api/tasks", {"title": "tracked"})
    tid2 = r.json()["id"]
    assert call(daemon, bob, "PATCH", f"/api/tasks/{tid2}", {"progress": 5}).status_code == 403
    assert call(daemon, daemon.token, "PATCH", f"/api/tasks/{tid2}", {"progress": 5}).status_code == 200
    assert daemon.unix("POST", f"/api/tasks/{tid2}/cancel").status == 200


def test_request_rate_per_token(daemon):
    daemon.stop()
    daemon.extra_args = ["--rate-limit", "20"]
    daemon.start()
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {daemon.token}"
    codes = [s.get(daemon.url + "/api/tasks?limit=1", timeout=10).status_code for _ in range(120)]
    assert codes.count(429) > 0, codes
    assert codes[:30].count(200) >= 30  # a burst of twice the rate is fine
    r = s.get(daemon.url + "/api/tasks", timeout=10)
    if r.status_code == 429:
        assert r.headers.get("Retry-After") == "1"
        assert r.json()["error"]["code"] == "limit_reached"
    # the unix socket is not limited
    assert all(daemon.unix("GET", "/api/tasks?limit=1").status == 200 for _ in range(50))
