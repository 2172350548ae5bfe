"""The C examples build with pkg-config against the installed library, and run."""

import json
import os
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.mark.skipif(bool(os.environ.get("TL_SANITIZE")),
                    reason="a sanitized library needs its runtime in the example's link too; "
                           "the plain build runs this test")
def test_examples_build_against_the_installed_library_and_run(tmp_path):
    build = os.environ.get("TL_BUILD_DIR", os.path.join(REPO, "build"))
    cp = subprocess.run(["make", "--no-print-directory", f"BUILD={build}", "examples"],
                        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    stage_lib = os.path.join(build, "stage", "usr", "lib")
    env = dict(os.environ, LD_LIBRARY_PATH=stage_lib)
    out = subprocess.run([os.path.join(build, "function_tasks"), str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    task = json.loads(next(l for l in lines if l.startswith("{")))
    assert task["state"] == "completed" and task["source"] == "function", task
    assert task["progress"] == 100 and task["result"]["sum"] > 0, task
    assert [s["state"] for s in task["substeps"]] == ["completed"], task
    assert "task 2: failed: the input file data.csv is missing" in out.stdout, out.stdout
