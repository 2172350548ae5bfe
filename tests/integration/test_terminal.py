"""tl on a terminal: the `tl ls` table (golden files at several widths, on a
pty), `tl watch` driven through tmux, the live line of `tl wait`, following
output (`tl log -f`, `tl add --follow`) and the bash completion.

Golden files live in tests/integration/golden/; TL_UPDATE_GOLDEN=1 rewrites
them. Times (ELAPSED, ETA) are masked by column, so the files do not depend
on how fast the machine is.
"""

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
import unicodedata
import uuid

import pytest

from conftest import TL_BIN, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
UTF8 = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# ---- helpers -----------------------------------------------------------------


def run_pty(argv, env, cols=100, rows=40, timeout=20, stdout_tty=True, stdin_tty=False):
    """Runs argv with stdout and stderr on a pty of cols x rows (or stdout on
    a pipe and stderr on the pty); returns (rc, pty text, piped stdout)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    p = subprocess.Popen(argv, env=env, stdin=slave if stdin_tty else subprocess.DEVNULL,
                         stdout=slave if stdout_tty else subprocess.PIPE,
                         stderr=slave, close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while True:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                chunk = b""
            if not chunk and p.poll() is not None:
                break
            out += chunk
        elif p.poll() is not None:
            # drain what is left
            try:
                while select.select([master], [], [], 0.05)[0]:
                    chunk = os.read(master, 65536)
                    if not chunk:
                        break
                    out += chunk
            except OSError:
                pass
            break
        if time.monotonic() > deadline:
            p.kill()
            raise AssertionError(f"{argv} did not end in {timeout} s: {out!r}")
    os.close(master)
    piped = p.stdout.read().decode() if p.stdout else ""
    p.wait()
    return p.returncode, out.decode("utf-8", "replace").replace("\r\n", "\n"), piped


def width(s):
    """Columns a string takes on a terminal (wide characters count 2)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else
               0 if unicodedata.combining(c) else 1 for c in s)


def mask_columns(text):
    """Masks the ELAPSED and ETA columns (found in the header line): a cell
    with anything in it becomes '      *', an empty one stays empty."""
    lines = text.split("\n")
    head = lines[0]
    spans = []
    for name in ("ELAPSED", "ETA"):
        m = re.search(rf"\b{name}\b", head)
        if m:  # right-aligned, 7 columns wide
            spans.append((m.end() - 7, m.end()))
    out = [head]
    for line in lines[1:]:
        if not re.match(r"\s*\d+  ", line):  # not a row: the summary
            out.append(line)
            continue
        cells, col = [], 0
        for ch in line:
            cells.append([col, ch])
            col += width(ch)
        for a, b in spans:
            inside = [c for c in cells if a <= c[0] < b]
            if any(c[1] != " " for c in inside):
                for c in inside:
                    c[1] = " "
                inside[-1][1] = "*"
        out.append("".join(c[1] for c in cells).rstrip())
    return "\n".join(out)


def check_golden(name, text):
    path = os.path.join(GOLDEN, name)
    if os.environ.get("TL_UPDATE_GOLDEN"):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return
    with open(path) as f:
        want = f.read()
    assert text == want, f"{name} differs from the golden file:\n--- got\n{text}\n--- want\n{want}"


def tracked(daemon, **body):
    r = daemon.unix("POST", "/api/tasks", body)
    assert r.status == 201, r
    return r.json()["id"]


def patch(daemon, tid, **body):
    r = daemon.unix("PATCH", f"/api/tasks/{tid}", body)
    assert r.status == 200, r
    return r.json()


def make_table_tasks(daemon):
    """A fixed set of tasks in every state; ids 1..9."""
    daemon.set_parallel(1, "solo")
    t1 = daemon.add("true", title="compile assets", group="build")["id"]
    daemon.wait_final(t1)
    t2 = daemon.add("sh", "-c", "echo 7/10 files; exit 3", title="deploy to staging",
                    group="build")["id"]
    daemon.wait_final(t2)
    t3 = tracked(daemon, title="Backtest - Golden Cross", kind="backtest")
    patch(daemon, t3, progress=45, message="Processed 450/1000 candles")
    t4 = tracked(daemon, title="Téléchargement des données météo — un titre bien trop long",
                 kind="docker_pull", total=24, unit="layers")
    patch(daemon, t4, current=11, message="pulling layer 12 of 24: sha256:4f5e6d7c8b9a")
    t5 = tracked(daemon, title="Nightly backup", kind="backup")
    patch(daemon, t5, progress=80)
    patch(daemon, t5, state="paused")
    t6 = tracked(daemon, title="Quarterly report", kind="report")
    patch(daemon, t6, progress=100, state="completed", result={"pages": 12})
    t7 = daemon.add("sleep", "60", title="blocker", group="solo")["id"]
    daemon.wait_state(t7, "running")
    t8 = daemon.add("sleep", "60", title="waiting in line", group="solo")["id"]
    t9 = daemon.add("sleep", "60", title="never mind", group="solo")["id"]
    r = daemon.unix("POST", f"/api/tasks/{t9}/cancel")
    assert r.status == 200, r
    assert [t1, t9] == [1, 9]
    return t8


# ---- tl ls -------------------------------------------------------------------


@pytest.mark.time_limit(90)
def test_ls_golden_widths_and_no_color(daemon):
    make_table_tasks(daemon)
    env = daemon.env(**UTF8)  # NO_COLOR=1 from the fixture
    for cols in (60, 100, 160):
        env["COLUMNS"] = str(cols)
        rc, text, _ = run_pty([TL_BIN, "ls"], env, cols=cols)
        assert rc == 0, text
        assert "\x1b" not in text, f"colour with NO_COLOR at {cols}: {text!r}"
        for line in text.rstrip("\n").split("\n"):
            assert width(line) <= cols, f"a line wider than {cols}: {line!r}"
        check_golden(f"ls_{cols}.txt", mask_columns(text))

    # piped: no icons, the width from COLUMNS
    env["COLUMNS"] = "100"
    cp = subprocess.run([TL_BIN, "ls"], env=env, capture_output=True, text=True)
    assert cp.returncode == 0, cp
    assert "\x1b" not in cp.stdout
    check_golden("ls_piped_100.txt", mask_columns(cp.stdout))


def test_ls_colour_only_on_a_terminal(daemon):
    make_table_tasks(daemon)
    env = daemon.env(**UTF8)
    del env["NO_COLOR"]
    rc, coloured, _ = run_pty([TL_BIN, "ls"], env, cols=100)
    assert rc == 0
    assert "\x1b[" in coloured, "no colour on a terminal"
    rc, plain, _ = run_pty([TL_BIN, "--no-color", "ls"], env, cols=100)
    assert "\x1b" not in plain, "--no-color still coloured"
    assert ANSI.sub("", coloured) == plain
    env["NO_COLOR"] = "1"
    rc, nocolor, _ = run_pty([TL_BIN, "ls"], env, cols=100)
    assert nocolor == plain
    # a pipe gets none either
    cp = subprocess.run([TL_BIN, "ls"], env=env, capture_output=True, text=True)
    assert "\x1b" not in cp.stdout


def test_ls_never_wraps_at_any_width(daemon):
    make_table_tasks(daemon)
    env = daemon.env(**UTF8)
    for cols in (30, 45, 72, 81, 119, 200):
        rc, text, _ = run_pty([TL_BIN, "ls"], env, cols=cols)
        assert rc == 0
        for line in text.rstrip("\n").split("\n"):
            assert width(line) <= cols, f"{cols} columns: {line!r}"


def test_ls_ascii_without_a_utf8_locale(daemon):
    make_table_tasks(daemon)
    env = daemon.env(LANG="C", LC_ALL="C", COLUMNS="100")
    rc, text, _ = run_pty([TL_BIN, "ls"], env, cols=100)
    assert rc == 0
    assert "\u2595" not in text and "\u2588" not in text, text  # no ▕ █
    assert "[####" in text and "> running" in text and "+ completed" in text, text


def test_ls_all_and_limit(daemon):
    ids = [daemon.add("true")["id"] for _ in range(5)]
    for t in ids:
        daemon.wait_final(t)
    out = daemon.tl_json("ls", "--json", "--limit", "2")
    assert [t["id"] for t in out["tasks"]] == ids[::-1][:2]
    assert out["next_cursor"] is not None
    out = daemon.tl_json("ls", "--json", "--all")
    assert [t["id"] for t in out["tasks"]] == ids[::-1]
    assert out["next_cursor"] is None
    text = daemon.tl("ls", "-n", "2").stdout
    assert "--all" in text


# ---- tl watch in tmux --------------------------------------------------------


class Tmux:
    def __init__(self, daemon, cols=120, rows=30):
        self.sock = f"tl-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        env = daemon.env(**UTF8)
        env["PATH"] = os.path.dirname(TL_BIN) + ":" + env.get("PATH", "/usr/bin:/bin")
        env["PS1"] = "PROMPT$ "
        env.pop("TMUX", None)
        self.env = env
        self.run("-f", "/dev/null", "new-session", "-d", "-x", str(cols), "-y", str(rows),
                 "-s", "t", "env PS1='PROMPT$ ' sh")
        self.run("set-option", "-t", "t", "status", "off")
        self.wait_screen(lambda s: "PROMPT$" in s, "the shell prompt")

    def run(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, *args], env=self.env,
                              capture_output=True, text=True, timeout=10, check=True).stdout

    def keys(self, *keys):
        self.run("send-keys", "-t", "t", *keys)

    def screen(self):
        return self.run("capture-pane", "-p", "-t", "t")

    def wait_screen(self, pred, what, timeout=10):
        last = {}

        def check():
            last["s"] = self.screen()
            return pred(last["s"])

        try:
            wait_for(check, timeout, interval=0.1, msg=what)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what}; screen:\n{last.get('s')}") from None
        return last["s"]

    def kill(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def tmux(daemon):
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed (scripts/deps.sh test)")
    t = Tmux(daemon)
    try:
        yield t
    finally:
        t.kill()


def counting_task(daemon):
    daemon.set_parallel(0, "w")
    return daemon.add("sh", "-c",
                      'i=0; while [ $i -lt 900 ]; do i=$((i+1)); echo "$i/900 files"; sleep 0.1; done',
                      title="count the files", group="w")["id"]


@pytest.mark.time_limit(120)
def test_watch_renders_follows_pauses_cancels_and_quits(daemon, tmux):
    tid = counting_task(daemon)
    daemon.wait_state(tid, "running")
    tr = tracked(daemon, title="Pulling WAA image", kind="docker_pull")
    patch(daemon, tr, progress=30, message="layer 3 of 10")
    done = daemon.add("true", title="finished quickly", group="w")["id"]
    daemon.wait_final(done)

    tmux.keys(f"{TL_BIN} watch", "Enter")
    s = tmux.wait_screen(lambda s: "count the files" in s and "Pulling WAA image" in s
                         and re.search(r"\d+/900 files", s),
                         "the tasks on screen, with the last log line")
    assert "\u2595" in s and "\u2588" in s, f"no progress bars:\n{s}"  # ▕ █
    assert "30%" in s and "layer 3 of 10" in s, s
    assert "finished quickly" in s
    assert re.search(r"\d+/900 files", s), f"no last log line:\n{s}"
    assert "live" in s

    # follows updates from the event stream
    patch(daemon, tr, progress=77, message="layer 8 of 10")
    tmux.wait_screen(lambda s: "77%" in s and "layer 8 of 10" in s, "the update to 77%")

    # the counting task is the first row (running, oldest first) and selected
    tmux.keys("p")
    daemon.wait_state(tid, "paused", timeout=5)
    tmux.wait_screen(lambda s: "paused" in s, "the paused state")
    tmux.keys("r")
    daemon.wait_state(tid, "running", timeout=5)

    # the filter
    tmux.keys("/", "Pulling")
    tmux.wait_screen(lambda s: "count the files" not in s and "Pulling WAA image" in s,
                     "the filtered list")
    tmux.keys("Escape")
    tmux.wait_screen(lambda s: "count the files" in s, "the list without the filter")

    # details of the first row (the selection stayed on the filtered task)
    tmux.keys("g")
    tmux.wait_screen(lambda s: re.search(r"^>\s+%d\s" % tid, s, re.M), "the first row selected")
    tmux.keys("Enter")
    s = tmux.wait_screen(lambda s: "log (live)" in s and re.search(r"\d+/900 files", s),
                         "the details with the log")
    assert f"task {tid}" in s
    tmux.keys("Escape")
    tmux.wait_screen(lambda s: "j/k select" in s, "the list again")

    # survives a resize
    tmux.run("resize-window", "-t", "t", "-x", "70", "-y", "16")
    s = tmux.wait_screen(lambda s: "count the files" in s and
                         all(width(l) <= 70 for l in s.split("\n")), "the narrow layout")
    tmux.run("resize-window", "-t", "t", "-x", "120", "-y", "30")
    tmux.wait_screen(lambda s: "count the files" in s and "NOW" in s, "the wide layout")

    # cancel asks first; n keeps it
    tmux.keys("c")
    tmux.wait_screen(lambda s: "y/n" in s, "the confirmation")
    tmux.keys("n")
    tmux.wait_screen(lambda s: "not cancelled" in s, "not cancelled")
    assert daemon.task(tid)["state"] == "running"
    tmux.keys("c")
    tmux.wait_screen(lambda s: "y/n" in s, "the confirmation")
    tmux.keys("y")
    daemon.wait_state(tid, "cancelled", timeout=10)
    tmux.wait_screen(lambda s: "cancelled" in s, "the cancelled state")

    # q gives the terminal back: the shell again, no trace of the view
    tmux.keys("q")
    s = tmux.wait_screen(lambda s: "j/k select" not in s and
                         s.rstrip().split("\n")[-1].startswith("PROMPT$"), "the shell")
    assert "tasklight" not in s
    # the restored screen shows before the process has quite gone
    wait_for(lambda: tmux.run("display-message", "-p", "-t", "t",
                              "#{pane_current_command}").strip() == "sh",
             timeout=10, msg="tl watch to exit")
    tmux.keys("echo rc=$?", "Enter")
    tmux.wait_screen(lambda s: "rc=0" in s, "exit status 0")


def test_watch_restores_the_terminal_on_ctrl_c(daemon, tmux):
    counting_task(daemon)
    tmux.keys(f"{TL_BIN} watch", "Enter")
    tmux.wait_screen(lambda s: "count the files" in s, "the view")
    tmux.keys("C-c")
    s = tmux.wait_screen(lambda s: "count the files" not in s and "PROMPT$" in s, "the shell")
    tmux.keys("echo rc=$? tty=$(stty -g | cut -c1-4)", "Enter")
    s = tmux.wait_screen(lambda s: "rc=130" in s, "exit status 130")
    # the terminal is back in its normal mode: echo and canonical input work
    tmux.keys("echo typed-back", "Enter")
    tmux.wait_screen(lambda s: s.count("typed-back") >= 2, "the echo of typed input")


def test_watch_needs_a_terminal_and_a_daemon(daemon, tmp_path):
    cp = daemon.tl("watch", check=False)
    assert cp.returncode == 2 and "terminal" in cp.stderr, cp
    env = daemon.env(**UTF8)
    env["TASKLIGHT_DATA_DIR"] = str(tmp_path / "none")
    rc, text, _ = run_pty([TL_BIN, "watch"], env, stdin_tty=True)
    assert rc == 3, text
    assert "no daemon" in text


# ---- following ---------------------------------------------------------------


def test_wait_draws_a_live_line_on_a_terminal_only(daemon):
    tr = tracked(daemon, title="long job")
    patch(daemon, tr, progress=10)
    env = daemon.env(**UTF8)

    def finish():
        time.sleep(0.8)
        patch(daemon, tr, progress=60, message="more than half")
        time.sleep(0.5)
        patch(daemon, tr, state="completed")

    import threading
    th = threading.Thread(target=finish)
    th.start()
    rc, err, out = run_pty([TL_BIN, "wait", str(tr)], env, cols=100, stdout_tty=False)
    th.join()
    assert rc == 0, err
    assert out == ""
    assert "\r" in err and "long job" in err and "\u2595" in err, repr(err)
    assert "60%" in err and "more than half" in err, repr(err)
    assert err.endswith("\r\x1b[K"), f"the line is not cleared at the end: {err[-40:]!r}"

    # piped: nothing extra
    tr2 = tracked(daemon, title="other job")
    patch(daemon, tr2, state="completed")
    cp = daemon.tl("wait", tr2)
    assert cp.stdout == "" and cp.stderr == "", cp


def test_log_follow_streams_live_and_exits_at_the_end(daemon):
    tid = daemon.add("sh", "-c", "echo first; sleep 1; echo second; sleep 1; echo third")["id"]
    daemon.wait_state(tid, "running")
    p = subprocess.Popen([TL_BIN, "log", "-f", str(tid)], env=daemon.env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline()
    while "first" not in first:
        first = p.stdout.readline()
    # it printed "first" while the task still ran
    assert daemon.task(tid)["state"] == "running"
    rest, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    assert "second" in rest and "third" in rest, rest
    assert daemon.task(tid)["state"] == "completed"
    # an unknown task: exit 4
    cp = daemon.tl("log", "-f", "99999", check=False)
    assert cp.returncode == 4 and "99999" in cp.stderr, cp


def test_add_follow_shows_output_and_exits_with_the_code(daemon):
    cp = daemon.tl("add", "--follow", "--", "sh", "-c",
                   "echo to-out; echo to-err >&2; sleep 0.3; echo more-out; exit 7", check=False)
    assert cp.returncode == 7, cp
    assert cp.stdout.split() == ["to-out", "more-out"], cp.stdout
    assert "to-err" in cp.stderr and "added task" in cp.stderr, cp.stderr
    for _ in range(3):  # a task that ends before the stream starts
        cp = daemon.tl("add", "--follow", "--", "echo", "quick")
        assert cp.stdout == "quick\n", cp


# ---- completion and version --------------------------------------------------


def bash_complete(daemon, words):
    """COMPREPLY of the bash completion for the words typed ("" last: a new
    word)."""
    script = (f"source {os.path.join(os.path.dirname(os.path.dirname(HERE)), 'completions', 'tl.bash')}\n"
              f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
              "_tl; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = daemon.env()
    env["PATH"] = os.path.dirname(TL_BIN) + ":" + env.get("PATH", "/usr/bin:/bin")
    cp = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env,
                        capture_output=True, text=True, timeout=20)
    assert cp.returncode == 0, cp
    return sorted(x for x in cp.stdout.split("\n") if x)


def test_bash_completion_commands_options_and_live_ids(daemon):
    assert bash_complete(daemon, ["tl", "pa"]) == ["parallel", "pause"]
    assert bash_complete(daemon, ["tl", "ls", "--st"]) == ["--state"]
    assert "completed" in bash_complete(daemon, ["tl", "ls", "--state", ""])
    daemon.set_parallel(0, "c")
    running = daemon.add("sleep", "30", group="c")["id"]
    other = daemon.add("sleep", "30", group="c")["id"]
    done = daemon.add("true", group="c")["id"]
    daemon.wait_final(done)
    daemon.wait_state(running, "running")
    daemon.wait_state(other, "running")
    ids = bash_complete(daemon, ["tl", "cancel", ""])
    assert ids == sorted([str(running), str(other)]), ids
    assert bash_complete(daemon, ["tl", "cancel", str(running)[0]]) == \
        sorted(i for i in (str(running), str(other)) if i.startswith(str(running)[0]))
    assert str(done) in bash_complete(daemon, ["tl", "show", ""])
    assert bash_complete(daemon, ["tl", "resume", ""]) == []


def test_complete_ids_prints_ids_and_titles_quickly(daemon):
    tid = daemon.add("true", title="tab\there")["id"]
    t0 = time.monotonic()
    cp = daemon.tl("__complete-ids")
    assert time.monotonic() - t0 < 2
    assert cp.stdout == f"{tid}\ttab?here\n", repr(cp.stdout)


def test_version(daemon):
    cp = daemon.tl("--version")
    assert re.fullmatch(r"tasklight \d+\.\d+\.\d+\n", cp.stdout), cp.stdout
