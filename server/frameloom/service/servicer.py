"""frameloom.v1.Frameloom over grpc.aio: translate messages, delegate to the Engine.

The engine is synchronous and thread-based; calls into it that can touch the disk or block run
on threads, so one slow client never stalls the event loop for the others. Every error a person
can fix is a :class:`~frameloom.errors.UserError` (or a frame error from the client package) whose
``code`` names the gRPC status; anything else is a bug, logged with its traceback and answered
INTERNAL, and the server keeps serving.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import cv2
import grpc
import numpy as np
from google.protobuf.message import DecodeError

from frameloom_client.frames import PNG, RAW, FrameAssembler, chunk_fields
from frameloom_client.png import PngError
from frameloom_client.v1 import frameloom_pb2 as pb
from frameloom_client.v1 import frameloom_pb2_grpc as pb_grpc

from ..errors import UserError
from ..jobs.store import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, TERMINAL, JobRecord
from ..jobs.engine import Engine
from ..jobs.stream import UploadClosed

log = logging.getLogger(__name__)

_STATES = {QUEUED: pb.JOB_STATE_QUEUED, RUNNING: pb.JOB_STATE_RUNNING,
           SUCCEEDED: pb.JOB_STATE_SUCCEEDED, FAILED: pb.JOB_STATE_FAILED,
           CANCELLED: pb.JOB_STATE_CANCELLED}
_STATE_NAMES = {v: k for k, v in _STATES.items()}
_POLL_S = 1.0   # re-read job state this often even without events (belt and braces)


def decode_png_cv2(data: bytes) -> np.ndarray:
    """The server decodes client PNGs with OpenCV (fast, every filter); RGB(A) out."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise PngError("corrupt PNG (OpenCV cannot decode it)")
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def _status(code_name: str) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, code_name or "UNKNOWN", grpc.StatusCode.UNKNOWN)


class FrameloomServicer(pb_grpc.FrameloomServicer):
    def __init__(self, engine: Engine, *, auth_required: bool = False):
        self.engine = engine
        self.auth_required = auth_required

    # ---- helpers -----------------------------------------------------------------------------

    async def _call(self, context, fn, *args):
        """Run an engine call on a thread; user errors become their status code."""
        if not self.engine.ready:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the server is still starting; retry")
        try:
            return await asyncio.to_thread(fn, *args)
        except Exception as exc:
            await self._abort(context, exc)

    async def _abort(self, context, exc: BaseException):
        code = getattr(exc, "code", None)
        if isinstance(code, str) and isinstance(exc, (UserError, ValueError)):
            await context.abort(_status(code), str(exc))
        log.error("internal error", exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")

    def _job(self, rec: JobRecord, with_spec: bool = False) -> pb.Job:
        done, stage = self.engine.progress_of(rec)
        job = pb.Job(id=rec.id, name=rec.name, state=_STATES[rec.state], priority=rec.priority,
                     queue_position=max(0, self.engine.queue_position(rec.id)), done=done,
                     total=rec.total, stage=stage, error=rec.error, error_code=rec.error_code,
                     created=rec.created, started=rec.started, ended=rec.ended, device=rec.device,
                     streamed=rec.kind == "stream")
        if with_spec:
            job.spec.ParseFromString(rec.spec)
        return job

    def _progress(self, rec: JobRecord) -> pb.Progress:
        done, stage = self.engine.progress_of(rec)
        return pb.Progress(state=_STATES[rec.state], done=done, total=rec.total, stage=stage,
                           queue_position=max(0, self.engine.queue_position(rec.id)))

    async def _end_with(self, context, rec: JobRecord):
        """Abort the call with the status of a job that did not succeed."""
        if rec.state == FAILED:
            await context.abort(_status(rec.error_code or "INTERNAL"), rec.error or "job failed")
        await context.abort(grpc.StatusCode.CANCELLED, rec.error or "job cancelled")

    # ---- unary calls -------------------------------------------------------------------------

    async def GetCapabilities(self, request, context):
        caps = await self._call(context, self.engine.capabilities)
        lim = caps["limits"]
        return pb.Capabilities(
            engine_version=caps["engine_version"], protocol="frameloom.v1",
            devices=[pb.Device(name=d, description=d) for d in caps["devices"]],
            styles=caps["styles"], temporal_modes=caps["temporal_modes"],
            models=[pb.ModelInfo(name=n, kind=k, size_bytes=s) for n, k, s in caps["models"]],
            limits=pb.Limits(max_width=lim.max_width, max_height=lim.max_height,
                             max_frames=lim.max_frames, max_message_bytes=lim.max_message_bytes,
                             max_in_flight=lim.max_in_flight, max_queued_jobs=lim.max_queued_jobs),
            auth_required=self.auth_required, media_roots=caps["media_roots"])

    async def SubmitJob(self, request, context):
        return self._job(await self._call(context, self.engine.submit, request.spec))

    async def GetJob(self, request, context):
        return self._job(await self._call(context, self.engine.get, request.job_id), with_spec=True)

    async def CancelJob(self, request, context):
        return self._job(await self._call(context, self.engine.cancel, request.job_id))

    async def ListJobs(self, request, context):
        for s in request.states:
            if s not in _STATE_NAMES:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown job state {s}")
        recs = await self._call(context, self.engine.list,
                                [_STATE_NAMES[s] for s in request.states], request.limit)
        return pb.ListJobsResponse(jobs=[self._job(r) for r in recs])

    # ---- streams out -------------------------------------------------------------------------

    def _subscribe(self, job_id: str):
        loop, events = asyncio.get_running_loop(), asyncio.Queue()
        unsubscribe = self.engine.watch(job_id, lambda kind, index: loop.call_soon_threadsafe(
            events.put_nowait, (kind, index)))
        return events, unsubscribe

    async def WatchJob(self, request, context):
        await self._call(context, self.engine.get, request.job_id)
        events, unsubscribe = self._subscribe(request.job_id)
        try:
            last = None
            while True:
                job = self._job(self.engine.get(request.job_id))
                if job != last:
                    yield job
                    last = job
                if job.state in (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED):
                    return
                try:
                    await asyncio.wait_for(events.get(), _POLL_S)
                except asyncio.TimeoutError:
                    pass
                while not events.empty():   # coalesce bursts: only the latest state matters
                    events.get_nowait()
        finally:
            unsubscribe()

    async def FetchFrames(self, request, context):
        await self._call(context, self.engine.get, request.job_id)
        if request.bit_depth not in (0, 8, 16):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"bit depth must be 8 or 16, got {request.bit_depth}")
        encoding = PNG if request.encoding == PNG else RAW
        frames = self.engine.results(request.job_id, request.bit_depth)
        while True:
            item = await asyncio.to_thread(_next_chunks, frames, encoding)
            if item is None:
                return
            for chunk in item:
                yield chunk

    # ---- the editors' stream -----------------------------------------------------------------

    async def Stylize(self, request_iterator, context):
        if not self.engine.ready:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the server is still starting; retry")
        requests = request_iterator.__aiter__()
        try:
            first = await requests.__anext__()
        except StopAsyncIteration:
            first = None
        except DecodeError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "malformed StylizeRequest")
        if first is None or first.WhichOneof("item") != "start":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "the first message of Stylize must be a StreamStart")
        start = first.start
        # On the loop, not a thread: a client cancelling mid-call must never leave behind a job
        # that waits for frames nobody will send. It is a few milliseconds of SQLite.
        try:
            rec, upload, clip_id = self.engine.open_stream(start)
        except Exception as exc:
            await self._abort(context, exc)
        state = {"encoding": start.result_encoding, "depth": start.result_bit_depth}

        if upload is None:   # the cache has this clip: no frames needed
            yield pb.StylizeResponse(accepted=pb.JobAccepted(job_id=rec.id, cached=True,
                                                             clip_id=clip_id))
            async for response in self._results(rec.id, sorted(self.engine.store.finished(rec.id)), state):
                yield response
            yield pb.StylizeResponse(finished=self._job(rec))
            return

        # However the call ends (client gone, deadline, abort), the job must not outlive it: the
        # generator's own `finally` does not run when gRPC drops a generator parked at a yield.
        job_id = rec.id
        context.add_done_callback(lambda _ctx: self.engine.cancel(job_id, "the client disconnected"))
        events, unsubscribe = self._subscribe(rec.id)
        reader = asyncio.create_task(self._receive(requests, upload, state))
        finished_ok = False
        getter = None
        try:
            yield pb.StylizeResponse(accepted=pb.JobAccepted(
                job_id=rec.id, clip_id=clip_id, max_in_flight=upload.max_in_flight))
            last_progress = self._progress(rec)
            yield pb.StylizeResponse(progress=last_progress)
            sent: set[int] = set()
            while True:
                getter = asyncio.ensure_future(events.get())
                waiting = {getter} if reader.done() else {getter, reader}
                done, _ = await asyncio.wait(waiting, timeout=_POLL_S,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                if reader.done() and not reader.cancelled() and reader.exception() is not None:
                    exc = reader.exception()
                    code = getattr(exc, "code", "INTERNAL")
                    self.engine.cancel(rec.id, str(exc), code=code if isinstance(code, str) else "INTERNAL")
                    await self._abort(context, exc)
                batch = [getter.result()] if getter in done else []
                while not events.empty():
                    batch.append(events.get_nowait())
                frames = sorted(i for kind, i in batch if kind == "frame" and i not in sent)
                if frames:
                    sent.update(frames)
                    async for response in self._results(rec.id, frames, state):
                        yield response
                rec = self.engine.get(rec.id)
                if rec.state in TERMINAL:
                    missing = sorted(set(self.engine.store.finished(rec.id)) - sent)
                    async for response in self._results(rec.id, missing, state):
                        yield response
                    if rec.state != SUCCEEDED:
                        await self._end_with(context, rec)
                    finished_ok = True
                    yield pb.StylizeResponse(progress=self._progress(rec))
                    yield pb.StylizeResponse(finished=self._job(rec))
                    return
                progress = self._progress(rec)
                if progress != last_progress:
                    last_progress = progress
                    yield pb.StylizeResponse(progress=progress)
        finally:
            unsubscribe()
            if getter is not None and not getter.done():
                getter.cancel()
            if not reader.done():
                reader.cancel()
            else:
                reader.exception()   # retrieved, so asyncio does not log it as lost
            if not finished_ok:
                # The client went away (or the call failed): stop the job and free the device.
                self.engine.cancel(rec.id, "the client disconnected")

    async def _receive(self, requests, upload, state) -> None:
        """Read frames off the call into the upload. Runs as its own task so results flow back
        while frames still arrive; each frame's work runs on this stream's own thread, and while
        it is blocked by backpressure nothing more is read from the call."""
        lim = self.engine.limits
        assembler = FrameAssembler(max_width=lim.max_width, max_height=lim.max_height,
                                   decode_png=decode_png_cv2)
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(1, thread_name_prefix="frameloom-upload")
        try:
            async for request in requests:
                if request.WhichOneof("item") != "chunk":
                    raise UserError("Stylize takes one StreamStart, then only frame chunks")
                chunk = request.chunk
                if chunk.HasField("header") and not state.get("in_encoding"):
                    state["in_encoding"] = chunk.header.encoding or RAW
                data = chunk.data
                if assembler.completes(chunk, data):   # join, decode, hand over (may block)
                    await loop.run_in_executor(pool, _take, assembler, upload, chunk, data)
                else:                                  # only checked and kept: no thread hop
                    assembler.feed(chunk, data)
            if assembler.pending:
                raise UserError("the stream ended in the middle of a frame")
            upload.end()
        except UploadClosed:
            return
        except DecodeError:
            raise UserError("malformed StylizeRequest (not a frameloom.v1 message)") from None
        finally:
            # Never wait for the thread here: it may sit in backpressure until the job is
            # aborted, and blocking the event loop would freeze every call on the server.
            pool.shutdown(wait=False)

    async def _results(self, job_id: str, indices, state):
        """StylizeResponses carrying the frames ``indices``, built on a thread."""
        encoding = state["encoding"] or state.get("in_encoding") or RAW
        frames = self.engine.results_at(job_id, indices, state["depth"])
        while True:
            item = await asyncio.to_thread(_next_chunks, frames, encoding, _as_response)
            if item is None:
                return
            for chunk in item:
                yield chunk


def _take(assembler: FrameAssembler, upload, chunk: pb.FrameChunk, data: bytes) -> None:
    frame = assembler.feed(chunk, data)
    if frame is not None:
        upload.put(frame.index, frame.image)


def _as_response(fields: dict) -> pb.StylizeResponse:
    return pb.StylizeResponse(chunk=fields)


def _next_chunks(frames, encoding, wrap=None) -> list | None:
    """Load and encode the next frame on a worker thread (disk, PNG and the copies into
    messages stay off the loop)."""
    try:
        index, t, image = next(frames)
    except StopIteration:
        return None
    return [(wrap or _as_chunk)(f) for f in chunk_fields(index, image, encoding, time=t)]


def _as_chunk(fields: dict) -> pb.FrameChunk:
    return pb.FrameChunk(**fields)
