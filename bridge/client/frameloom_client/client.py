"""The frameloom client: capabilities, streaming a clip through the engine, headless jobs.

grpcio, protobuf and numpy only, so it imports inside Blender's and Resolve's Python.

    with FrameloomClient("127.0.0.1:50051", token=...) as client:
        call = client.stylize(spec, frames, progress=print)
        for index, image in call:          # finished frames, as soon as they are ready
            ...
        # from another thread: call.cancel()

A client survives a server that restarts: every call first waits (up to ``ready_timeout``) for
the channel to connect, and calls that are safe to repeat are retried by gRPC itself (a service
config retry policy) when the server answers UNAVAILABLE, for example while it is starting.
``SubmitJob`` is made safe to repeat by a request id the server deduplicates on; ``Stylize`` is
retried only before the server accepted the clip, when nothing but its StreamStart was sent.
"""
from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from fractions import Fraction
from typing import Callable, Iterable, Iterator

import grpc
import numpy as np

from . import wire
from .frames import PNG, RAW, FrameAssembler, as_wire_image, chunk_fields, clip_hash
from .v1 import frameloom_pb2 as pb
from .v1 import frameloom_pb2_grpc as pb_grpc

ProgressCallback = Callable[[pb.Progress], None]
SERVICE = "frameloom.v1.Frameloom"
#: Methods gRPC may retry on UNAVAILABLE: reads, cancels, id-deduplicated submissions, and the
#: editors' stream (a retry can only happen before its first response, i.e. before any frame).
RETRIED_METHODS = ("GetCapabilities", "GetJob", "ListJobs", "WatchJob", "CancelJob",
                   "FetchFrames", "SubmitJob", "Stylize")
DEFAULT_TIMEOUT = 60.0
DEFAULT_READY_TIMEOUT = 10.0


def service_config() -> str:
    """The channel's service config: wait for a connection, retry UNAVAILABLE with backoff
    (4 retries over about 8 s at worst: a restarting server has time to come back)."""
    return json.dumps({"methodConfig": [{
        "name": [{"service": SERVICE, "method": m} for m in RETRIED_METHODS],
        "waitForReady": True,
        "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.5s", "maxBackoff": "4s",
                        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
    }]})
_ENCODINGS = {"raw": RAW, "png": PNG, None: pb.FRAME_ENCODING_UNSPECIFIED}
_TERMINAL = (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)


class FrameloomError(Exception):
    """A call failed. ``code`` is the gRPC status name; ``str()`` is the server's message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code

    @classmethod
    def from_rpc(cls, err: grpc.RpcError) -> "FrameloomError":
        code = err.code() if hasattr(err, "code") else None
        details = err.details() if hasattr(err, "details") else str(err)
        name = code.name if code is not None else "UNKNOWN"
        if name == "UNAVAILABLE":
            details = f"server unavailable: {details}"
        return (Cancelled if name == "CANCELLED" else cls)(name, details or name)


class Cancelled(FrameloomError):
    pass


class JobFailed(FrameloomError):
    def __init__(self, job: pb.Job):
        state = pb.JobState.Name(job.state)
        super().__init__(job.error_code or ("CANCELLED" if job.state == pb.JOB_STATE_CANCELLED
                                            else "UNKNOWN"),
                         job.error or f"job {job.id} ended {state}")
        self.job = job


def _encoding(value) -> int:
    return _ENCODINGS[value] if value in _ENCODINGS else int(value)


class StylizeCall:
    """One streamed clip. Iterate for ``(index, image)`` of finished frames in order of completion;
    ``cancel()`` from any thread stops the job on the server. After iteration: ``job`` (the final
    Job), ``cached`` (results came from the server's cache)."""

    def __init__(self, channel, start: pb.StreamStart, frames: Iterable[np.ndarray],
                 encoding: int, progress: ProgressCallback | None, metadata, timeout: float | None):
        self._frames, self._encoding, self._progress = frames, encoding, progress
        self._start = start
        self._accepted = threading.Event()
        self._stop = threading.Event()
        self._ended = threading.Event()     # the call is over (cancelled, failed or done)
        self.job_id = ""
        self.cached = False
        self.clip_id = ""
        self.job: pb.Job | None = None
        self.frames_sent = 0
        # Chunks go out and come back in their hand-made wire form (see .wire): no protobuf copies.
        method = channel.stream_stream(
            f"/{SERVICE}/Stylize", request_serializer=wire.serialize,
            response_deserializer=lambda b: wire.parse_carrier(b, pb.StylizeResponse, wire.RESPONSE_CHUNK))
        self._call = method(self._requests(), metadata=metadata, timeout=timeout, wait_for_ready=True)

    def _requests(self) -> Iterator[pb.StylizeRequest]:
        # Runs on gRPC's sending thread, so results are read while frames are still going out;
        # gRPC's flow control blocks this thread when the server stops reading (backpressure).
        yield pb.StylizeRequest(start=self._start)
        # Wait for JobAccepted: the server may answer from its cache and want no frames at all.
        while not self._accepted.wait(0.1):
            if self._stop.is_set():
                return self._until_ended()
        if self.cached:
            return
        if self._stop.is_set():
            return self._until_ended()
        index = self._start.first_index
        fps = self._start.fps_num / max(self._start.fps_den, 1) if self._start.fps_num else 24.0
        for image in self._frames:
            if self._stop.is_set():
                return self._until_ended()
            for fields in chunk_fields(index, image, self._encoding,
                                       time=(index - self._start.first_index) / fps):
                yield wire.encode_chunk(fields, field=wire.REQUEST_CHUNK)
            index += 1
            self.frames_sent += 1

    def _until_ended(self) -> None:
        """Stop sending without closing the request side: a half-close would tell the server
        "that was the whole clip", which it could read (and fail the job short of frames)
        before the cancel that follows it arrives."""
        self._ended.wait(30)

    def cancel(self) -> None:
        self._stop.set()
        self._call.cancel()
        self._ended.set()

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        assembler = FrameAssembler()
        try:
            for response in self._call:
                if isinstance(response, wire.WireChunk):
                    frame = assembler.feed(response, response.data)
                    if frame is not None:
                        yield frame.index, frame.image
                    continue
                kind = response.WhichOneof("item")
                if kind == "chunk":
                    frame = assembler.feed(response.chunk)   # reads the chunk's data once
                    if frame is not None:
                        yield frame.index, frame.image
                elif kind == "progress":
                    if self._progress is not None:
                        self._progress(response.progress)
                elif kind == "accepted":
                    a = response.accepted
                    self.job_id, self.cached, self.clip_id = a.job_id, a.cached, a.clip_id
                    self._accepted.set()
                elif kind == "finished":
                    self.job = response.finished
        except grpc.RpcError as err:
            if self._stop.is_set() and err.code() == grpc.StatusCode.CANCELLED:
                raise Cancelled("CANCELLED", "cancelled") from None
            raise FrameloomError.from_rpc(err) from None
        finally:
            self._stop.set()
            self._accepted.set()
            self._ended.set()


class FrameloomClient:
    """A connection to a frameloom server. ``token``: the server's bearer token; TLS when
    ``root_certificates`` (PEM bytes) or ``tls=True`` (system roots) is given.

    ``timeout``: the deadline of each unary call (seconds; None: none). ``ready_timeout``: how
    long a call waits for the server to be reachable before it fails with UNAVAILABLE ("no
    frameloom server at ..."); a server that restarts within it is ridden out."""

    def __init__(self, target: str, *, token: str | None = None, tls: bool = False,
                 root_certificates: bytes | None = None, timeout: float | None = DEFAULT_TIMEOUT,
                 ready_timeout: float = DEFAULT_READY_TIMEOUT,
                 options: Sequence[tuple[str, object]] = ()):
        self.target, self.timeout, self.ready_timeout = target, timeout, ready_timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options = [("grpc.service_config", service_config()), ("grpc.enable_retries", 1),
                   *options]
        if tls or root_certificates:
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._state = grpc.ChannelConnectivity.IDLE
        self._channel.subscribe(self._on_state, try_to_connect=False)
        self._stub = pb_grpc.FrameloomStub(self._channel)

    def _on_state(self, state: grpc.ChannelConnectivity) -> None:
        self._state = state

    def close(self) -> None:
        self._channel.unsubscribe(self._on_state)
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _unary(self, method, request, timeout=None):
        self._ensure_ready()
        try:
            return method(request, metadata=self._metadata, timeout=timeout or self.timeout,
                          wait_for_ready=True)
        except grpc.RpcError as err:
            raise FrameloomError.from_rpc(err) from None

    def _ensure_ready(self) -> None:
        if self._state != grpc.ChannelConnectivity.READY:
            self.wait_ready(self.ready_timeout)

    def wait_ready(self, timeout: float = DEFAULT_READY_TIMEOUT) -> None:
        """Block until the server is reachable; UNAVAILABLE after ``timeout`` seconds."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise FrameloomError("UNAVAILABLE", f"no frameloom server at {self.target} "
                                 f"(nothing answered within {timeout:g} s)") from None

    def capabilities(self) -> pb.Capabilities:
        return self._unary(self._stub.GetCapabilities, pb.GetCapabilitiesRequest())

    # ---- editors: streaming ----------------------------------------------------------------

    def stylize(self, spec: pb.JobSpec, frames: Iterable[np.ndarray], *, first_index: int = 0,
                frame_count: int | None = None, fps: Fraction | float | None = None,
                encoding: str = "raw", result_encoding: str | None = None,
                result_bit_depth: int = 0, cache: bool = True, clip_hash_hex: str = "",
                progress: ProgressCallback | None = None,
                timeout: float | None = None) -> StylizeCall:
        """Stream ``frames`` ((H, W, 3|4) uint8/uint16 or float in [0, 1]) through ``spec``.

        With a sequence of frames and ``cache=True`` the clip is hashed first so that a repeat
        request is answered from the server's cache; pass ``clip_hash_hex`` when the frames come
        from an iterator and you know their hash. ``frame_count`` is needed for iterators.
        ``timeout``: a deadline for the whole call, in seconds (None: none)."""
        if isinstance(frames, (Sequence, np.ndarray)):
            frame_count = len(frames) if frame_count is None else frame_count
            if cache and not clip_hash_hex:
                clip_hash_hex = clip_hash(frames, first_index)
        if frame_count is None:
            raise ValueError("frame_count is required when frames is an iterator")
        fps = Fraction(fps).limit_denominator(1001 * 1000) if fps else Fraction(0)
        start = pb.StreamStart(spec=spec, frame_count=frame_count, first_index=first_index,
                               fps_num=fps.numerator, fps_den=fps.denominator,
                               result_encoding=_encoding(result_encoding),
                               result_bit_depth=result_bit_depth,
                               clip_hash=clip_hash_hex if cache else "")
        self._ensure_ready()
        return StylizeCall(self._channel, start, frames, _encoding(encoding), progress,
                           self._metadata, timeout)

    def stylize_all(self, spec: pb.JobSpec, frames: Sequence[np.ndarray], **kwargs) -> list[np.ndarray]:
        """Stream a whole clip and return the stylized frames in clip order."""
        first = kwargs.get("first_index", 0)
        out: list[np.ndarray | None] = [None] * len(frames)
        for index, image in self.stylize(spec, frames, **kwargs):
            out[index - first] = image
        if any(o is None for o in out):
            raise FrameloomError("DATA_LOSS", "the server ended the stream before every frame came back")
        return out

    # ---- headless --------------------------------------------------------------------------

    def submit(self, spec: pb.JobSpec, *, request_id: str | None = None) -> pb.Job:
        """Queue a headless job. ``request_id`` (default: a fresh random one) makes repeating
        the call safe: the server returns the job it already made for that id."""
        request = pb.SubmitJobRequest(spec=spec, request_id=request_id or uuid.uuid4().hex)
        return self._unary(self._stub.SubmitJob, request)

    def get_job(self, job_id: str) -> pb.Job:
        return self._unary(self._stub.GetJob, pb.GetJobRequest(job_id=job_id))

    def cancel_job(self, job_id: str) -> pb.Job:
        return self._unary(self._stub.CancelJob, pb.CancelJobRequest(job_id=job_id))

    def list_jobs(self, states: Iterable[int] = (), limit: int = 0) -> list[pb.Job]:
        return list(self._unary(self._stub.ListJobs,
                                pb.ListJobsRequest(states=list(states), limit=limit)).jobs)

    def watch(self, job_id: str) -> Iterator[pb.Job]:
        """The job now and after each change, until it ends."""
        self._ensure_ready()
        try:
            yield from self._stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=self._metadata,
                                           wait_for_ready=True)
        except grpc.RpcError as err:
            raise FrameloomError.from_rpc(err) from None

    def wait(self, job_id: str, progress: Callable[[pb.Job], None] | None = None) -> pb.Job:
        """Block until the job ends; raises :class:`JobFailed` unless it succeeded. A server
        that restarts meanwhile (it resumes headless jobs) is waited for and watched again."""
        last = None
        while last is None or last.state not in _TERMINAL:
            try:
                for job in self.watch(job_id):
                    last = job
                    if progress is not None:
                        progress(job)
            except FrameloomError as exc:
                if exc.code != "UNAVAILABLE":
                    raise
                self.wait_ready(self.ready_timeout)   # UNAVAILABLE again when it stays away
                continue
            if last is None or last.state not in _TERMINAL:
                last = self.get_job(job_id)
        if last.state != pb.JOB_STATE_SUCCEEDED:
            raise JobFailed(last)
        return last

    def fetch(self, job_id: str, *, encoding: str = "raw", bit_depth: int = 0
              ) -> Iterator[tuple[int, np.ndarray]]:
        """The finished frames of a job as ``(index, image)``, in index order."""
        request = pb.FetchFramesRequest(job_id=job_id, encoding=_encoding(encoding), bit_depth=bit_depth)
        assembler = FrameAssembler()
        self._ensure_ready()
        method = self._channel.unary_stream(f"/{SERVICE}/FetchFrames", request_serializer=wire.serialize,
                                            response_deserializer=wire.parse_chunk)
        try:
            for chunk in method(request, metadata=self._metadata, wait_for_ready=True):
                frame = assembler.feed(chunk, chunk.data)
                if frame is not None:
                    yield frame.index, frame.image
        except grpc.RpcError as err:
            raise FrameloomError.from_rpc(err) from None


__all__ = ["Cancelled", "FrameloomClient", "FrameloomError", "JobFailed", "StylizeCall",
           "as_wire_image"]
