"""A streamed clip on its way in: frames held in memory, read by the runner.

The upload and the runner meet here. The receiving side (:meth:`StreamUpload.put`, called per
frame by the service) blocks while it is more than ``max_in_flight`` frames ahead of what the runner
has asked for; that stops the service reading the call, and gRPC's flow control then stops the
client. The runner's side (:class:`SpoolSource`) blocks until the frame it wants has arrived.

Frames wait in memory, not on disk: a streamed job does not outlive its client (a restarted server
cancels it, and the client sends the clip again), so the source frames need no durability, and a
write plus a re-read per frame was most of what the server added to a cheap job. Memory stays
bounded whatever the clip length: the runner's in-order pass drops each frame once it has it, and
when a stylizer reads ahead at random (``frame_at`` in ``prepare``, e.g. pose smoothing over the
whole clip) the frames beyond ``max_in_flight + 2`` spill to the job store and are read back from
there.
"""
from __future__ import annotations

import threading
import time
from fractions import Fraction
from typing import Callable, Iterator

import numpy as np

from frameloom_client.frames import ClipHasher

from ..errors import Cancelled, LimitExceeded, UserError
from ..frames import Frame, to_float
from .store import JobStore
from ..media import ClipInfo
from ..media.info import Closing


class MemoryBudget:
    """Bytes of streamed frames all uploads together may hold in memory. Each stream is bounded
    by its read-ahead already; this bounds many queued streams at once."""

    def __init__(self, limit_bytes: int):
        self.limit = int(limit_bytes)
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        with self._lock:
            if self.limit and self.used + n > self.limit:
                raise LimitExceeded(
                    f"the server holds {self.used / 2**20:.0f} MiB of streamed frames already (its "
                    f"limit is {self.limit / 2**20:.0f} MiB); try again when other streams finish")
            self.used += n

    def give_back(self, n: int) -> None:
        with self._lock:
            self.used = max(0, self.used - n)


class UploadStalled(UserError):
    code = "DEADLINE_EXCEEDED"


class UploadClosed(Exception):
    """The job no longer takes frames (cancelled, failed or finished)."""


class StreamUpload:
    def __init__(self, store: JobStore, job_id: str, first_index: int, frame_count: int,
                 fps: Fraction, limits, *, cache_key: Callable[[str], str] | None = None,
                 budget: MemoryBudget | None = None):
        self.store, self.job_id = store, job_id
        self._budget = budget or MemoryBudget(0)
        self._holding = 0      # bytes of this upload's frames in memory (held and alphas)
        self.first, self.count, self.fps = first_index, frame_count, fps
        self.max_in_flight = max(1, limits.max_in_flight)
        self.idle_timeout = float(getattr(limits, "upload_idle_s", 60.0))
        self._cache_key = cache_key
        self._hasher = ClipHasher() if cache_key else None
        self._cond = threading.Condition()
        self.received = 0
        self._requested = first_index - 1     # highest frame the runner has asked for
        self._shape: tuple[int, int, int] | None = None
        self._dtype = None
        self._held: dict[int, np.ndarray] = {}      # arrived, not yet taken by the in-order pass
        self._spilled: set[int] = set()             # pushed out of memory to the store
        self._alphas: dict[int, np.ndarray] = {}    # RGBA: alpha kept until the sink asks for it
        self._max_held = self.max_in_flight + 2
        self._ended_short = ""                # the client closed early: why the job fails
        self.abort_reason = ""
        self.abort_code = ""
        self.cancel_event: threading.Event | None = None

    # ---- the receiving side (service) ------------------------------------------------------

    def put(self, index: int, image: np.ndarray) -> None:
        """Take frame ``index``. Raises UserError for a frame that does not fit the clip and
        UploadClosed when the job stopped taking frames."""
        expected = self.first + self.received
        if index != expected:
            raise UserError(f"frame {index} arrived, expected frame {expected} (frames must be "
                            "sent in order, without gaps)")
        if self.received >= self.count:
            raise UserError(f"more frames than the {self.count} announced in frame_count")
        if self._shape is None:
            self._shape, self._dtype = image.shape, image.dtype
        elif image.shape != self._shape or image.dtype != self._dtype:
            h, w, c = self._shape
            raise UserError(
                f"frame {index} is {image.shape[1]}x{image.shape[0]}x{image.shape[2]} "
                f"{image.itemsize * 8}-bit but frame {self.first} was {w}x{h}x{c} "
                f"{np.dtype(self._dtype).itemsize * 8}-bit; all frames of a clip must agree")
        with self._cond:
            while index > self._requested + self.max_in_flight and not self.abort_reason:
                self._cond.wait()
            if self.abort_reason:
                raise UploadClosed(self.abort_reason)
        if self._hasher is not None:
            self._hasher.update(index, image)
        self._budget.take(image.nbytes)   # RESOURCE_EXHAUSTED when all streams hold too much
        with self._cond:
            self._holding += image.nbytes
            self._held[index] = image
            spill = sorted(self._held)[:-self._max_held] if len(self._held) > self._max_held else []
        for old in spill:   # the runner reads ahead at random: keep memory bounded
            with self._cond:
                frame = self._held.get(old)
            if frame is None:
                continue
            self.store.save_source(self.job_id, old, frame)
            with self._cond:
                self._spilled.add(old)
                if self._held.pop(old, None) is not None:
                    self._let_go(frame.nbytes)
        with self._cond:
            self.received += 1
            self._cond.notify_all()

    def end(self) -> None:
        """The client closed its side of the call. Raises UserError when frames are missing."""
        with self._cond:
            if self.received < self.count:
                self._ended_short = (f"the client sent {self.received} of the {self.count} frames "
                                     "announced in frame_count")
            self._cond.notify_all()
        if self._ended_short:
            raise UserError(self._ended_short)

    def _let_go(self, nbytes: int) -> None:
        """Under ``_cond``: a held frame left memory."""
        self._holding -= nbytes
        self._budget.give_back(nbytes)

    def close(self) -> None:
        """The job is over: whatever is still held leaves memory and the budget."""
        with self._cond:
            self._held.clear()
            self._alphas.clear()
            self._budget.give_back(self._holding)
            self._holding = 0

    def abort(self, reason: str, code: str = "CANCELLED") -> None:
        with self._cond:
            if not self.abort_reason:
                self.abort_reason, self.abort_code = reason, code
            self._cond.notify_all()

    # ---- the runner's side -----------------------------------------------------------------

    def wait_for(self, index: int) -> None:
        with self._cond:
            if index > self._requested:
                self._requested = index
                self._cond.notify_all()
            # A client that stops sending must not hold the device: give up after a quiet spell.
            received, deadline = self.received, time.monotonic() + self.idle_timeout
            while self.first + self.received <= index:
                if self.abort_reason or (self.cancel_event is not None and self.cancel_event.is_set()):
                    raise Cancelled()
                if self._ended_short:
                    raise UserError(self._ended_short)
                if self.received != received:
                    received, deadline = self.received, time.monotonic() + self.idle_timeout
                elif time.monotonic() > deadline:
                    raise UploadStalled(f"no frame arrived for {self.idle_timeout:g} s; the job "
                                        "gave up waiting for the client")
                self._cond.wait(0.5)

    def info(self) -> ClipInfo:
        self.wait_for(self.first)
        h, w, _ = self._shape
        return ClipInfo(path="<stream>", width=w, height=h, fps=self.fps, frame_count=self.count,
                        duration=self.count / float(self.fps),
                        bit_depth=16 if self._dtype == np.uint16 else 8, kind="sequence")

    def alpha(self, index: int) -> np.ndarray | None:
        if self._shape is None or self._shape[2] != 4:
            return None
        with self._cond:
            alpha = self._alphas.pop(index, None)
        if alpha is None:
            alpha = np.array(self.image(index)[:, :, 3])
        return alpha

    def image(self, index: int, *, release: bool = False) -> np.ndarray:
        """Frame ``index`` as it arrived (it must have arrived). ``release``: the runner's
        in-order pass has it now and will not ask again, so memory can let it go."""
        with self._cond:
            image = self._held.pop(index, None) if release else self._held.get(index)
            if release and image is not None:
                self._let_go(image.nbytes)
            spilled = index in self._spilled
        if image is None:
            if not spilled:
                raise UserError(f"frame {index} of the streamed clip was already consumed; "
                                "a stream is read once, in order")
            image = self.store.load_source(self.job_id, index)
        if release and image.shape[2] == 4:
            with self._cond:
                self._alphas[index] = np.array(image[:, :, 3])
        return image

    def source(self) -> "SpoolSource":
        return SpoolSource(self)

    def finish_check(self) -> None:
        if self.received < self.count:
            raise UserError(self._ended_short or "the clip ended before all frames arrived")

    def cache_key_final(self) -> str:
        """The cache key from the hash of what actually arrived (never from the client's claim,
        so a client cannot plant results under another clip's identity)."""
        if self._hasher is None or self.received < self.count:
            return ""
        return self._cache_key(self._hasher.hexdigest())


class SpoolSource(Closing):
    """The runner's FrameSource for a streamed clip."""

    def __init__(self, upload: StreamUpload):
        self._up = upload
        self._info: ClipInfo | None = None

    @property
    def info(self) -> ClipInfo:
        if self._info is None:
            self._info = self._up.info()
        return self._info

    @property
    def indices(self) -> list[int]:
        return list(range(self._up.first, self._up.first + self._up.count))

    def frame_at(self, index: int, *, _release: bool = False) -> Frame:
        up = self._up
        if not up.first <= index < up.first + up.count:
            raise UserError(f"frame {index} is not part of the streamed clip")
        up.wait_for(index)
        image = up.image(index, release=_release)
        return Frame(index, (index - up.first) / float(up.fps), to_float(image))

    def __iter__(self) -> Iterator[Frame]:
        for index in self.indices:
            yield self.frame_at(index, _release=True)
