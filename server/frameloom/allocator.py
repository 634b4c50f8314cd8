"""The CPU memory allocator: keep freed blocks for the next call instead of faulting them in again.

glibc's malloc gives blocks above its mmap threshold (dynamic, at most 32 MiB) back to the kernel
on free, and trims the heap's free top. The engine's batched activations are larger than that
(a window of 4 frames with guidance is a batch of 8: tensors of 10-130 MB at 256x256, more at
1080p), so every UNet, ControlNet and VAE call faulted its whole working set in afresh, zeroed
page by page: ~700k minor faults per batch-8 UNet forward at 256x256, ~250k per VAE decode.
With the threshold and the trim raised to 1 GiB and transparent huge pages for the heap, the
same calls take ~10 faults and run 10-17% faster (UNet 5.99 -> 4.95 s, VAE decode 2.08 -> 1.76 s,
encode 0.93 -> 0.80 s), for 2-6% more peak RSS (7.64 -> 8.08 GiB with the full SD1.5 set loaded);
benchmarks/RESULTS.md has the whole-job figures. Per-frame code (diffusers' pipeline, a frame at
a time) allocates below the threshold and never paid this.

The settings are glibc tunables, read once when a process starts, so the command line re-runs
itself with them (:func:`reexec_with_tunables`, before anything heavy is imported; same PID, same
arguments): the ``frameloom`` entry point and ``python -m frameloom.cli``'s ``__main__``, never
``cli.main()`` itself, which Python callers run in their own process. Children inherit them.
Processes that embed the engine without the command line (Ray workers, a host's own Python) get
the part that can still be set at run time (:func:`configure_in_process`: ``mallopt``, about half
the gain). ``GLIBC_TUNABLES`` already
set by the operator is left as it is; ``FRAMELOOM_MALLOC=system`` turns all of this off.
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys

ENV = "FRAMELOOM_MALLOC"
#: Blocks up to 1 GiB come from (and go back to) the heap; at most 1 GiB of free heap top is kept.
THRESHOLD = 1 << 30
TUNABLES = (f"glibc.malloc.mmap_threshold={THRESHOLD}:glibc.malloc.trim_threshold={THRESHOLD}:"
            "glibc.malloc.hugetlb=1")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def applies(environ=os.environ) -> bool:
    """Linux with glibc, and not turned off."""
    if environ.get(ENV, "").strip().lower() in ("system", "off", "0", "no"):
        return False
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def wanted_environ(environ=os.environ) -> dict | None:
    """The environment to re-run with, or None when this process needs no re-run."""
    if not applies(environ) or "GLIBC_TUNABLES" in environ:
        return None
    env = dict(environ)
    env["GLIBC_TUNABLES"] = TUNABLES
    return env


def reexec_with_tunables() -> None:
    """Replace this process by itself with the allocator tunables set (no return), unless they
    are set already, turned off, or not glibc's. Call before importing torch."""
    env = wanted_environ()
    argv = getattr(sys, "orig_argv", None)
    if env is None or not argv:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, [sys.executable, *argv[1:]], env)
    except OSError:   # cannot re-run (odd interpreter path): the run-time half instead
        configure_in_process()


def configure_in_process() -> bool:
    """What can be set after start (``mallopt``): the same thresholds, no huge pages."""
    if not applies() or "GLIBC_TUNABLES" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, THRESHOLD)) and \
            bool(libc.mallopt(_M_TRIM_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):
        return False


def describe(environ=os.environ) -> str:
    """One line for ``frameloom info``."""
    tun = environ.get("GLIBC_TUNABLES", "")
    if tun == TUNABLES:
        return "glibc, freed blocks kept up to 1 GiB, huge pages (frameloom's tunables)"
    if tun:
        return f"glibc tunables set by the environment: {tun}"
    if not applies(environ):
        return "system default" + (f" ({ENV}={environ[ENV]})" if environ.get(ENV) else "")
    return "glibc defaults (the command line sets frameloom's tunables when it starts)"
