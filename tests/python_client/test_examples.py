"""Every seed example in examples/ runs against a live daemon, over the unix
socket and over TCP with the token."""

import glob
import os

import pytest

from .tl_pyclient_util import EXAMPLES

SCRIPTS = sorted(glob.glob(os.path.join(EXAMPLES, "seed*.py")))
SCRIPTS = [s for s in SCRIPTS if not s.endswith("_app.py")]


def test_every_seed_has_examples():
    names = {os.path.basename(s)[:7] for s in SCRIPTS}
    assert names == {"seed000", "seed001", "seed003", "seed004"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: os.path.basename(s)[:-3])
@pytest.mark.time_limit(60)
def test_seed_example(daemon, transport, script):
    env = daemon.env()
    env["PYTHONPATH"] = env["PYTHONPATH"] + os.pathsep + EXAMPLES
    if transport == "tcp":
        env.pop("TASKLIGHT_DATA_DIR")
        env["TASKLIGHT_URL"] = daemon.url
        env["TASKLIGHT_TOKEN"] = daemon.token
        env["HOME"] = daemon.base  # no default socket to fall back on
        env.pop("XDG_DATA_HOME", None)
    cp = daemon.python(script, env=env, timeout=50, check=False)
    assert cp.returncode == 0, f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}"
    assert "OK" in cp.stdout.splitlines()[-1], cp.stdout
    # the work shows in the daemon, as the CLI sees it
    listed = daemon.tl("ls", "--json").stdout
    assert listed.strip()
