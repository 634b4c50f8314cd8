"""A priority queue of jobs with one worker thread per device (GPU): one job at a time each.

Higher priority first, then submission order. Waiting jobs are never refused while there is room
(``max_queued``); they learn their position from :meth:`JobQueue.position`.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from ..errors import LimitExceeded

log = logging.getLogger(__name__)


class JobQueue:
    """``run(job_id, device)`` is called on the device's worker thread; ``on_change()`` after the
    queue's order changes (so watchers can be told their new position)."""

    def __init__(self, devices: list[str], run: Callable[[str, str], None], *,
                 max_queued: int = 1000, on_change: Callable[[], None] | None = None):
        self.devices = list(devices) or ["cpu"]
        self._run, self._on_change = run, on_change or (lambda: None)
        self.max_queued = max_queued
        self._cond = threading.Condition()
        self._waiting: list[tuple[int, int, str]] = []   # (-priority, seq, job_id), kept sorted
        self._running: dict[str, str] = {}               # job_id -> device
        self._stopped = False
        self._threads = [threading.Thread(target=self._work, args=(d,), daemon=True,
                                          name=f"frameloom-worker-{d}") for d in self.devices]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout)

    def put(self, job_id: str, priority: int, seq: int, *, force: bool = False) -> None:
        """Queue a job. ``force`` skips the size limit (jobs recovered after a restart)."""
        with self._cond:
            if not force and len(self._waiting) >= self.max_queued:
                raise LimitExceeded(f"the queue is full ({self.max_queued} jobs waiting); "
                                    "try again later")
            self._waiting.append((-priority, seq, job_id))
            self._waiting.sort()
            self._cond.notify()
        self._on_change()

    def remove(self, job_id: str) -> bool:
        """Take a job out of the queue before it starts; False when it is not waiting."""
        with self._cond:
            before = len(self._waiting)
            self._waiting = [w for w in self._waiting if w[2] != job_id]
            removed = len(self._waiting) != before
        if removed:
            self._on_change()
        return removed

    def position(self, job_id: str) -> int | None:
        """Jobs ahead of this one (0: next to start); None when it is not waiting."""
        with self._cond:
            for pos, (_, _, jid) in enumerate(self._waiting):
                if jid == job_id:
                    return pos
        return None

    def running(self) -> dict[str, str]:
        with self._cond:
            return dict(self._running)

    def _work(self, device: str) -> None:
        if device == "cpu":   # this thread computes: serving threads come first
            from ..threads import yield_to_serving_threads

            yield_to_serving_threads()
        while True:
            with self._cond:
                while not self._waiting and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                _, _, job_id = self._waiting.pop(0)
                self._running[job_id] = device
            self._on_change()
            try:
                self._run(job_id, device)
            except Exception:  # the runner records failures itself; never lose the worker
                log.exception("job %s crashed its worker", job_id)
            finally:
                with self._cond:
                    self._running.pop(job_id, None)
