"""A streamed job's finished frames: persisted off the runner's path, served from memory.

The runner hands each finished frame to :class:`StreamResults`. The frame goes to the job store on
a writer thread (a bounded queue, so a slow disk slows the runner instead of filling memory) and
stays in a small in-memory window from which the service sends it to the client, instead of
writing it and reading it straight back. Every frame is in the store (file and row) before the job
is marked finished and before its clip goes into the cache, so the cache and ``FetchFrames`` see
the whole clip; a server killed mid-stream loses the queued frames with the stream itself, which
a restart cancels anyway.
"""
from __future__ import annotations

import queue
import threading
from collections import OrderedDict

import numpy as np

from ..errors import UserError
from .store import JobStore

_STOP = object()


class StreamResults:
    def __init__(self, store: JobStore, job_id: str, *, keep: int = 16, queue_size: int = 4):
        self.store, self.job_id = store, job_id
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self._lock = threading.Lock()
        self._recent: OrderedDict[int, tuple[int, np.ndarray]] = OrderedDict()   # index -> (seq, image)
        self._keep = max(1, keep)
        self._seq = 0          # frames handed in
        self._written = 0      # frames persisted (the writer takes them in order)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_loop, daemon=True,
                                        name=f"frameloom-results-{job_id[:8]}")
        self._thread.start()

    def put(self, index: int, time_s: float, image: np.ndarray) -> None:
        """Queue frame ``index`` for the store (blocks while the writer is behind) and keep it
        in memory for the sender. Raises what the writer failed with, if it did."""
        self._raise_if_failed()
        self._queue.put((index, time_s, image))
        with self._lock:
            self._recent[index] = (self._seq, image)
            self._seq += 1
            # Let frames go only once they are on disk: the sender falls back to the store.
            while len(self._recent) > self._keep:
                oldest, (seq, _) = next(iter(self._recent.items()))
                if seq >= self._written:
                    break
                del self._recent[oldest]

    def get(self, index: int) -> np.ndarray:
        with self._lock:
            item = self._recent.get(index)
        return item[1] if item is not None else self.store.load_result(self.job_id, index)

    def close(self, *, raise_errors: bool = True) -> None:
        """Wait until every frame handed in is persisted."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if raise_errors:
            self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if isinstance(self._error, UserError):   # a full disk: RESOURCE_EXHAUSTED, as it says
            raise self._error
        if self._error is not None:
            raise RuntimeError(f"could not store a finished frame: {self._error}") from self._error

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is None:   # after a failure keep draining so put() never blocks
                try:
                    self.store.save_result(self.job_id, *item)
                except BaseException as exc:  # disk full, permissions: the job fails with it
                    self._error = exc
            with self._lock:
                self._written += 1
