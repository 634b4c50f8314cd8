"""How many CPU threads the engine computes with: decided here, for every entry point.

torch (OpenMP) and OpenCV split each operation over a pool of threads, one per core by default.
That only pays while the cores are free. When another busy process shares them (a second render,
the editor itself, another Ray worker), a pool thread that loses its core holds up every
operation at the barrier where the others wait for it, and the engine's many small operations
turn into one scheduler time slice each: the same job ran 20-50x slower beside one busy process.

So by default the engine sizes its pools to the cores nobody else is using, measured from the
kernel's CPU counters between batches (:class:`Rebalancer`, called by the runner on the thread
that computes), within the CPUs the process may use (affinity and cgroup quota); it takes a core
only when at least three quarters of it are free, so two engines on one machine settle on a core
each instead of chasing each other. OpenMP keeps its own wait policy: making idle threads sleep
(``OMP_WAIT_POLICY=PASSIVE``) was measured too, and it made a job alone 1.6-1.9x slower (every
one of the engine's many small operations then waits for its threads to wake up) for no gain
once the pool fits the free cores. A fixed count (``--threads N``, ``FRAMELOOM_THREADS=N``, or the CPUs a
Ray task was given) turns the measuring off.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass

from .errors import UserError

log = logging.getLogger(__name__)

ENV = "FRAMELOOM_THREADS"
#: Seconds between two re-measurements of the load (shorter spans are noise).
MEASURE_EVERY_S = 0.5
#: The first measurement, which ends the cautious start (one thread), comes sooner.
FIRST_LOOK_S = 0.1
#: A core is taken only when this much of it is free.
FREE_ENOUGH = 0.75


@dataclass(frozen=True)
class ThreadPolicy:
    cpus: int                 # CPUs this process may run on
    fixed: int | None         # a count that was asked for; None: fit to the free cores
    source: str               # where the decision came from, for `frameloom info`

    def describe(self) -> str:
        if self.fixed is not None:
            return f"{self.fixed} (fixed by {self.source}; {self.cpus} CPUs available)"
        return f"adaptive: the free cores of {self.cpus} available, re-measured between batches"


def available_cpus() -> int:
    """CPUs this process may use: its affinity set, capped by a cgroup v2 CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # not Linux
        cpus = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period) + 0.5)))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def parse_threads(value: str | int | None, source: str) -> int | None:
    if value is None or value == "" or value == "auto":
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise UserError(f"{source} must be a number of threads or 'auto', got {value!r}") from None
    if n < 1:
        raise UserError(f"{source} must be at least 1, got {n}")
    return n


_policy: ThreadPolicy | None = None   # set once at start-up, read-only afterwards


def configure(threads: int | str | None = None, *, cpus: int | None = None,
              source: str = "--threads") -> ThreadPolicy:
    """Decide the engine's threads, once, at start-up (the CLI, the server, a farm or Ray
    worker). ``threads``: an explicit count (beats the environment); ``cpus``: the CPUs this
    worker was given (a Ray task's), which also fixes the count."""
    global _policy
    fixed = parse_threads(threads, source)
    if fixed is None and os.environ.get(ENV):
        fixed, source = parse_threads(os.environ[ENV], ENV), ENV
    if fixed is None and cpus is not None:
        fixed, source = max(1, int(cpus)), "the CPUs this worker was given"
    _policy = ThreadPolicy(cpus=available_cpus() if cpus is None else max(1, int(cpus)),
                           fixed=fixed, source=source if fixed is not None else "auto")
    return _policy


def policy() -> ThreadPolicy:
    """The policy :func:`configure` set, or the default (from the environment) if none was."""
    return _policy if _policy is not None else configure()


def set_threads(n: int) -> None:
    """torch's and OpenCV's pools to ``n`` threads, for the calling thread's work."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    try:
        import cv2
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        return
    if cv2.getNumThreads() != n:
        cv2.setNumThreads(n)


#: How much lower than the serving threads a server's CPU engine threads run (nice steps).
ENGINE_NICE = 5


def yield_to_serving_threads() -> None:
    """Lower the calling thread's scheduling priority (Linux: per thread; the OpenMP threads
    it starts inherit it), so a server's I/O threads (gRPC, uploads) get a core at once while
    a CPU job computes, and the job still gets every core they leave idle."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import threading

        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + ENGINE_NICE)
    except (AttributeError, OSError) as exc:   # pragma: no cover - containers may refuse
        log.debug("could not lower the engine thread's priority: %s", exc)


class _CpuCounters:
    """Busy time of the CPUs in our affinity set and of this process, in seconds (Linux)."""

    def __init__(self):
        try:
            self._cpus = {f"cpu{i}" for i in os.sched_getaffinity(0)}
        except (AttributeError, OSError):
            self._cpus = set()
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def read(self) -> tuple[float, float] | None:
        """(busy seconds of those CPUs, CPU seconds of this process), or None off Linux."""
        try:
            with open("/proc/stat") as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        busy = 0
        for line in lines:
            name, _, rest = line.partition(" ")
            if name in self._cpus:
                v = [int(x) for x in rest.split()]
                # user nice system idle iowait irq softirq steal: all but idle and iowait
                busy += v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
        if not busy:
            return None
        return busy / self._hz, time.process_time()


class Rebalancer:
    """Fits the calling thread's pools to the free cores; :meth:`apply` between batches.

    One per job, on the thread that computes: OpenMP's thread count belongs to the thread that
    sets it, so the runner calls this where the work happens."""

    def __init__(self, policy_: ThreadPolicy | None = None):
        self.policy = policy_ or policy()
        self._counters = _CpuCounters() if self.policy.fixed is None else None
        reading = self._counters.read() if self._counters is not None else None
        self._last: tuple[float, float, float] | None = (
            None if reading is None else (time.monotonic(), *reading))
        # A cautious start: one thread until the first measurement says the cores are free, so
        # jobs started together (or beside a busy process) never run a batch oversubscribed.
        self.threads = self.policy.fixed or (1 if reading is not None else self.policy.cpus)
        self._measured = False

    def apply(self) -> int:
        """Set and return the thread count for the next batch (or step of one: cheap when
        called more often than the load is measured)."""
        if self._counters is not None:
            self.threads = self._measure()
        set_threads(self.threads)
        return self.threads

    def _measure(self) -> int:
        if self._last is None:
            return self.threads
        now = time.monotonic()
        if now - self._last[0] < (MEASURE_EVERY_S if self._measured else FIRST_LOOK_S):
            return self.threads   # not due: /proc/stat is read only when a measurement is
        reading = self._counters.read()
        if reading is None:
            return self.threads
        self._measured = True
        t0, busy0, own0 = self._last
        self._last = (now, *reading)
        busy, own = reading
        others = max(0.0, (busy - busy0) - (own - own0)) / max(1e-3, now - t0)
        threads = max(1, min(self.policy.cpus, int(self.policy.cpus - others + 1.0 - FREE_ENOUGH)))
        if threads != self.threads:
            log.debug("others keep %.1f of %d cores busy: computing on %d threads",
                      others, self.policy.cpus, threads)
        return threads
