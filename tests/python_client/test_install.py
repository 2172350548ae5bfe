"""`pip install clients/python` gives an importable, standard-library-only package."""

import os
import shutil
import subprocess
import sys

import pytest

from .tl_pyclient_util import CLIENT_DIR


def test_pip_install(tmp_path, daemon):
    try:
        import setuptools  # noqa: F401
        subprocess.run([sys.executable, "-m", "pip", "--version"], check=True,
                       capture_output=True)
    except Exception:
        pytest.skip("pip or setuptools is not installed")
    src = tmp_path / "src"
    shutil.copytree(CLIENT_DIR, src, ignore=shutil.ignore_patterns(
        "__pycache__", "build", "*.egg-info"))
    target = tmp_path / "site"
    cp = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                         "--no-deps", "--no-index", "--target", str(target), str(src)],
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert (target / "tasklight" / "py.typed").exists()
    env = daemon.env(PYTHONPATH=str(target))
    out = subprocess.run(
        [sys.executable, "-c",
         "import tasklight, sys\n"
         "assert tasklight.__file__.startswith(sys.argv[1]), tasklight.__file__\n"
         "with tasklight.ProgressTracker(task_type='pip', title='installed') as t:\n"
         "    t.update(progress=50)\n"
         "print(tasklight.get_client().get_task(t.task_id)['state'])\n", str(target)],
        env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "completed"


def test_standard_library_only():
    """Every import in the package is from the standard library or the package."""
    import ast
    pkg = os.path.join(CLIENT_DIR, "tasklight")
    stdlib = set(sys.stdlib_module_names) if hasattr(sys, "stdlib_module_names") else None
    for name in os.listdir(pkg):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(pkg, name)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module]
            else:
                continue
            for m in mods:
                top = m.split(".")[0]
                assert top == "__future__" or stdlib is None or top in stdlib, (name, m)
