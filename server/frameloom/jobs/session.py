"""One editor's streamed clip, from its StreamStart to its final Job: a plain object.

The service's ``Stylize`` call drives a :class:`StylizeSession` and only moves messages: frame
chunks in through :meth:`StylizeSession.feed` (which blocks while the engine is far enough
behind, so the call stops reading and gRPC's flow control stops the client), and responses out
through :meth:`StylizeSession.collect`, which never blocks; ``on_event`` (called from the
engine's threads) says when there is something new to collect. The session decides everything
else: the cache answer, which finished frames the client has not had yet, when the job is over,
and how it ended. It knows nothing of gRPC.
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from frameloom_client.frames import PNG, RAW, FrameAssembler, chunk_fields
from frameloom_client.wire import RESPONSE_CHUNK, encode_chunk
from frameloom_client.v1 import frameloom_pb2 as pb

from ..errors import UserError
from ..images import decode_image
from .store import FAILED, SUCCEEDED, TERMINAL

#: Frames one :meth:`StylizeSession.collect` builds at most (bounds the memory of a batch).
FRAMES_PER_COLLECT = 4


class JobEnded(UserError):
    """The job ended without succeeding; ``code`` is its status (CANCELLED, INVALID_ARGUMENT...)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _decode_wire_png(data: bytes) -> np.ndarray:
    return decode_image(data, what="PNG frame")


class StylizeSession:
    """``engine.open_stream(start)`` plus everything the call needs until the job ends.

    Raises :class:`UserError` from the constructor when the clip is refused (nothing is left
    behind then). ``on_event()`` may be called from any thread, often; it must be cheap."""

    def __init__(self, engine, start: pb.StreamStart, *, on_event: Callable[[], None] = lambda: None):
        self.engine = engine
        self.record, self.upload, clip_id = engine.open_stream(start)
        self.job_id = self.record.id
        self.cached = self.upload is None
        self._encoding = start.result_encoding or RAW
        self._depth = start.result_bit_depth
        lim = engine.limits
        self._assembler = FrameAssembler(max_width=lim.max_width, max_height=lim.max_height,
                                         decode_png=_decode_wire_png)
        self._lock = threading.Lock()
        self._ready: list[int] = []         # finished frames not yet sent
        self._sent: set[int] = set()
        self._last_progress: pb.Progress | None = None
        self._opening: list[pb.StylizeResponse] = [pb.StylizeResponse(accepted=pb.JobAccepted(
            job_id=self.job_id, cached=self.cached, clip_id=clip_id,
            max_in_flight=0 if self.cached else self.upload.max_in_flight))]
        self.finished = False    # the last response has been collected
        self._ended: tuple[str, str] | None = None
        self._unsubscribe = lambda: None
        if self.cached:
            self._ready = sorted(engine.store.finished(self.job_id))
            self._terminal = True
        else:
            self._terminal = False
            self._encoding = start.result_encoding   # unspecified: that of the frames sent

            def event(kind: str, index: int | None) -> None:
                if kind == "frame":
                    with self._lock:
                        self._ready.append(index)
                on_event()
            self._unsubscribe = engine.watch(self.job_id, event)

    # ---- frames in ---------------------------------------------------------------------------

    def completes(self, chunk: pb.FrameChunk, data: bytes) -> bool:
        """Whether :meth:`feed` of this chunk finishes a frame (the costly, maybe blocking
        step: join, decode, hand to the engine); other chunks are only checked and kept."""
        return self._assembler.completes(chunk, data)

    def feed(self, chunk: pb.FrameChunk, data: bytes | None = None) -> None:
        """Take one chunk of the upload. Raises UserError (FrameError) for a malformed one and
        :class:`~frameloom.jobs.stream.UploadClosed` once the job takes no more frames."""
        if self.cached:
            raise UserError("this clip is answered from the cache: send no frames")
        if chunk.HasField("header") and not self._encoding:
            self._encoding = chunk.header.encoding or RAW
        frame = self._assembler.feed(chunk, data)
        if frame is not None:
            self.upload.put(frame.index, frame.image)

    def end_upload(self) -> None:
        """The client closed its side. Raises UserError when it stopped mid-frame or early."""
        if self.cached:
            return
        if self._assembler.pending:
            raise UserError("the stream ended in the middle of a frame")
        self.upload.end()

    def fail(self, exc: BaseException) -> None:
        """The upload failed (a bad frame, a broken call): the job fails with its code."""
        code = getattr(exc, "code", "INTERNAL")
        self.engine.cancel(self.job_id, str(exc), code=code if isinstance(code, str) else "INTERNAL")

    # ---- responses out -----------------------------------------------------------------------

    def collect(self) -> list[pb.StylizeResponse | bytes]:
        """The responses ready now (never blocks long: at most :data:`FRAMES_PER_COLLECT`
        frames; call again while :attr:`more` is true). After the job ended unsuccessfully the
        frames it finished come first, then :class:`JobEnded` is raised."""
        out, self._opening = self._opening, []
        if self.finished:
            return out
        if not self._terminal:
            rec = self.engine.get(self.job_id)
            self.record = rec
            if rec.state in TERMINAL:
                self._terminal = True
                # Frames whose event raced the end still count: take them from the store.
                with self._lock:
                    self._ready.extend(sorted(set(self.engine.store.finished(rec.id)) - self._sent))
        with self._lock:
            batch = sorted(set(i for i in self._ready if i not in self._sent))[:FRAMES_PER_COLLECT]
            self._sent.update(batch)
            self._ready = [i for i in self._ready if i not in self._sent]
        out.extend(self._frames(batch))
        if self.more:
            return out
        if not self._terminal:
            progress = self.engine.progress_message(self.record)
            if progress != self._last_progress:
                self._last_progress = progress
                out.append(pb.StylizeResponse(progress=progress))
        if self._terminal:
            self.finished = True
            self.close()
            rec = self.record
            if not self.cached and rec.state != SUCCEEDED:
                code = rec.error_code or ("INTERNAL" if rec.state == FAILED else "CANCELLED")
                self._ended = (code, rec.error or f"job {rec.state}")
                raise JobEnded(*self._ended)
            if not self.cached:
                out.append(pb.StylizeResponse(progress=self.engine.progress_message(rec)))
            out.append(pb.StylizeResponse(finished=self.engine.job_message(rec)))
        return out

    @property
    def more(self) -> bool:
        """Finished frames are waiting for :meth:`collect` (call it again without waiting)."""
        with self._lock:
            return any(i not in self._sent for i in self._ready)

    def _frames(self, indices: list[int]) -> list[pb.StylizeResponse]:
        encoding = PNG if self._encoding == PNG else RAW
        out = []
        for index, _t, image in self.engine.results_at(self.job_id, indices, self._depth):
            # Ready wire bytes: the pixels are copied once, not three times (frameloom_client.wire).
            out.extend(encode_chunk(f, field=RESPONSE_CHUNK) for f in chunk_fields(index, image, encoding))
        return out

    # ---- the end -----------------------------------------------------------------------------

    def close(self, reason: str = "the client disconnected") -> None:
        """However the call ends: stop watching, and cancel the job unless it already ended
        (the client went away: free the device). Safe to call more than once."""
        self._unsubscribe()
        self._unsubscribe = lambda: None
        if not self.cached and not self._terminal:
            self.engine.cancel(self.job_id, reason)
