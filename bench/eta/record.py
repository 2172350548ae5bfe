#!/usr/bin/env python3
"""Records real progress traces for eta_bench into bench/eta/traces/.

  record.py dd    dd writes 15 GB of zeros to a temp file (status=progress)
  record.py make  make -j1 compiles googletest's sources and tests (from
                  libgtest-dev), progress = files done / files
  record.py xz    xz -6 -T1 compresses a 200 MB tar of /usr/lib and
                  /usr/share read through pv (bytes read / size)

Each writes "t_s,progress" lines, t from the start of the command, the last
line being its end at 100%, downsampled to at most 500 lines. Run from the
repository root. Takes a few minutes each and needs pv for xz.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

MAX_LINES = 500


def downsample(samples):
    """At most MAX_LINES samples, spread evenly in time: for each of
    MAX_LINES grid times the last sample at or before it, and the last."""
    if len(samples) <= MAX_LINES:
        return samples
    t_end = samples[-1][0]
    keep, i = [], 0
    for k in range(MAX_LINES - 1):
        grid = t_end * k / (MAX_LINES - 1)
        while i + 1 < len(samples) and samples[i + 1][0] <= grid:
            i += 1
        if not keep or keep[-1] != i:
            keep.append(i)
    if keep[-1] != len(samples) - 1:
        keep.append(len(samples) - 1)
    return [samples[i] for i in keep]


def write(name, samples):
    samples = downsample(samples)
    path = os.path.join("bench", "eta", "traces", name + ".csv")
    with open(path, "w") as f:
        f.write("t_s,progress\n")
        for t, p in samples:
            f.write("%.3f,%.3f\n" % (t, p))
    print("%s: %d lines, %.1f s" % (path, len(samples), samples[-1][0]))


def read_chunks(stream, on_line):
    """Calls on_line for every line of stream, split on \\r or \\n."""
    buf = b""
    while True:
        b = stream.read1(4096) if hasattr(stream, "read1") else stream.read(1)
        if not b:
            break
        buf += b
        parts = re.split(rb"[\r\n]", buf)
        buf = parts.pop()
        for p in parts:
            on_line(p.decode(errors="replace"))


def record_dd():
    count = 15000
    total = count * 1024 * 1024
    fd, path = tempfile.mkstemp(prefix="eta_dd.")
    os.close(fd)
    samples = [(0.0, 0.0)]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        ["dd", "if=/dev/zero", "of=" + path, "bs=1M", "count=%d" % count,
         "status=progress"], stderr=subprocess.PIPE)

    def on_line(line):
        m = re.match(r"^(\d+) bytes", line)
        if m:
            samples.append((time.monotonic() - t0,
                            100.0 * int(m.group(1)) / total))

    read_chunks(proc.stderr, on_line)
    proc.wait()
    samples.append((time.monotonic() - t0, 100.0))
    os.unlink(path)
    write("dd-15G", samples)


def record_make():
    # googletest's sources and tests as shipped by libgtest-dev: C++ files
    # that take from half a second to twenty seconds each to compile.
    g = "/usr/src/googletest"
    srcs = sorted(
        [os.path.join(g, d, "src", f) for d in ("googletest", "googlemock")
         for f in os.listdir(os.path.join(g, d, "src"))
         if f.endswith(".cc") and "-all" not in f] +
        [os.path.join(g, "googletest", "test", f)
         for f in os.listdir(os.path.join(g, "googletest", "test"))
         if f.endswith(".cc")])
    build = tempfile.mkdtemp(prefix="eta_make.")
    flags = ("-O1 -std=c++14 -w -I{0}/googletest/include -I{0}/googletest "
             "-I{0}/googlemock/include -I{0}/googlemock".format(g))
    with open(os.path.join(build, "Makefile"), "w") as mk:
        names = ["f%03d.done" % i for i in range(len(srcs))]
        mk.write("all: " + " ".join(names) + "\n")
        for n, src in zip(names, srcs):
            # A file that does not compile on its own still counts as done.
            mk.write("%s:\n\t-g++ %s -c %s -o %s.o\n\ttouch %s\n"
                     % (n, flags, src, n, n))
    samples = [(0.0, 0.0)]
    t0 = time.monotonic()
    proc = subprocess.Popen(["make", "-j1", "-k", "-C", build],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        n = sum(1 for f in os.listdir(build) if f.endswith(".done"))
        samples.append((time.monotonic() - t0, 100.0 * n / len(srcs)))
        time.sleep(0.05)
    samples.append((time.monotonic() - t0, 100.0))
    shutil.rmtree(build)
    write("make-gtest", samples)


def record_xz():
    fd, tar = tempfile.mkstemp(prefix="eta_xz.", suffix=".tar")
    os.close(fd)
    # Mixed content (code, text, images, compressed files) so the
    # compression speed changes along the file.
    subprocess.run("tar cf - /usr/lib/x86_64-linux-gnu /usr/share 2>/dev/null"
                   " | head -c 200000000 > " + tar, shell=True, check=False)
    size = os.path.getsize(tar)
    samples = [(0.0, 0.0)]
    t0 = time.monotonic()
    pv = subprocess.Popen(["pv", "-n", "-b", "-i", "0.2", tar],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    xz = subprocess.Popen(["xz", "-6", "-T1"], stdin=pv.stdout,
                          stdout=subprocess.DEVNULL)
    pv.stdout.close()

    def on_line(line):
        if line.strip().isdigit():
            samples.append((time.monotonic() - t0,
                            100.0 * int(line) / size))

    reader = threading.Thread(target=read_chunks, args=(pv.stderr, on_line))
    reader.start()
    xz.wait()
    pv.wait()
    reader.join()
    samples.append((time.monotonic() - t0, 100.0))
    os.unlink(tar)
    write("xz-200M", samples)


def main():
    what = sys.argv[1:] or ["dd", "make", "xz"]
    for w in what:
        {"dd": record_dd, "make": record_make, "xz": record_xz}[w]()


if __name__ == "__main__":
    main()
