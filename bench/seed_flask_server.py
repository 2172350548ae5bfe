#!/usr/bin/python3
"""The seed design, as a benchmark peer: a Flask server whose task manager
keeps tasks in a dict under one threading.Lock and rewrites tasks.json with
every task on each create and update (seeds/000: "in-memory task registry,
writes to tasks.json for persistence, thread-safe with locks").

It answers the tasklight paths the tracked-lifecycle case uses, so the same
load generator drives both:
  POST  /api/tasks        create (running at once) -> 201 {"id": N, ...}
  PATCH /api/tasks/<id>   progress, message, metadata, state (completed...)
  GET   /api/tasks        every task
  GET   /healthz

Durability: the file is written (to a temporary file renamed over
tasks.json, so it is never half written) without fsync: a process crash
after the reply loses nothing, a power loss may lose recent writes -- the
same class as tasklight's SQLite WAL synchronous=NORMAL.

Run: seed_flask_server.py --port PORT --data-dir DIR (loopback only).
"""
import argparse
import json
import logging
import os
import threading
import time

from flask import Flask, jsonify, request


class TaskManager:
    def __init__(self, path):
        self._tasks = {}
        self._next_id = 1
        self._lock = threading.Lock()
        self._path = path

    def _persist(self):
        # Called with the lock held, like the seed's update_task.
        tmp = self._path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(list(self._tasks.values()), f)
        os.replace(tmp, self._path)

    def create(self, fields):
        now = time.time()
        with self._lock:
            task = {
                "id": self._next_id,
                "title": fields.get("title"),
                "kind": fields.get("kind"),
                "status": "running",
                "progress": fields.get("progress"),
                "total": fields.get("total"),
                "unit": fields.get("unit"),
                "message": None,
                "metadata": fields.get("metadata") or {},
                "result": None,
                "error": None,
                "created_at": now,
                "updated_at": now,
                "finished_at": None,
            }
            self._next_id += 1
            self._tasks[task["id"]] = task
            self._persist()
            return dict(task)

    def update(self, task_id, fields):
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return None
            for key in ("progress", "message", "title", "result", "error",
                        "current", "total", "unit"):
                if key in fields:
                    task[key] = fields[key]
            if isinstance(fields.get("metadata"), dict):
                task["metadata"].update(fields["metadata"])
            if "state" in fields:
                task["status"] = fields["state"]
                if fields["state"] in ("completed", "failed", "cancelled"):
                    task["finished_at"] = time.time()
            task["updated_at"] = time.time()
            self._persist()
            return dict(task)

    def all(self):
        with self._lock:
            return [dict(t) for t in self._tasks.values()]


def make_app(manager):
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz():
        return jsonify({"ok": True})

    @app.get("/api/tasks")
    def list_tasks():
        return jsonify({"tasks": manager.all()})

    @app.post("/api/tasks")
    def create_task():
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return jsonify({"error": "bad json"}), 400
        return jsonify(manager.create(body)), 201

    @app.patch("/api/tasks/<int:task_id>")
    def update_task(task_id):
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return jsonify({"error": "bad json"}), 400
        task = manager.update(task_id, body)
        if task is None:
            return jsonify({"error": "not found"}), 404
        return jsonify(task)

    return app


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data-dir", required=True)
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    manager = TaskManager(os.path.join(args.data_dir, "tasks.json"))
    app = make_app(manager)
    # Flask's threaded development server: a thread per connection,
    # HTTP/1.1 keep-alive.
    app.run(host="127.0.0.1", port=args.port, threaded=True,
            use_reloader=False)


if __name__ == "__main__":
    main()
