"""The command line starts with frameloom's allocator settings (freed blocks kept for reuse)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from frameloom import allocator

pytestmark = pytest.mark.skipif(not allocator.applies({}), reason="glibc only")

# Allocates and frees a 64 MB block 20 times, touching every page; prints the minor page faults.
# (Through libc itself: numpy and torch are free to ask for huge pages on their own.)
FAULTS = """
import ctypes, resource
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 64 << 20
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", allocator.ENV)}
    env.update(extra)
    return env


def _info(env) -> dict:
    out = subprocess.run([sys.executable, "-m", "frameloom.cli", "info", "--json"], env=env,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return json.loads(out)["machine"]


def test_command_line_runs_with_the_tunables():
    assert "frameloom's tunables" in _info(_env())["allocator"]


def test_operator_settings_win():
    assert _info(_env(FRAMELOOM_MALLOC="system"))["allocator"].startswith("system default")
    mine = "glibc.malloc.trim_threshold=12345"
    assert _info(_env(GLIBC_TUNABLES=mine))["allocator"].endswith(mine)
    assert allocator.wanted_environ(_env(GLIBC_TUNABLES=mine)) is None


def test_re_run_keeps_arguments_and_exit_status():
    bad = subprocess.run([sys.executable, "-m", "frameloom.cli", "stylize", "/nonexistent/in.mp4",
                          "-o", "/tmp/never.mp4"], env=_env(), capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "/nonexistent/in.mp4" in lines[0]


def test_tunables_stop_the_page_faults():
    def faults(env) -> int:
        return int(subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True,
                                  text=True, check=True, timeout=120).stdout)
    plain = faults(_env())
    tuned = faults(_env(GLIBC_TUNABLES=allocator.TUNABLES))
    # 20 x 64 MB faulted in afresh is ~320k faults of 4 KiB; reused, only the first pass faults.
    assert plain > 200_000
    assert tuned < plain / 5
