"""frameloom.v1.Frameloom over grpc.aio: translate messages, delegate to the engine.

The engine (:mod:`frameloom.jobs`) is synchronous and thread-based and knows nothing of gRPC;
calls into it that can touch the disk or block run on threads, so one slow client never stalls
the event loop for the others. Every error a person can fix is a
:class:`~frameloom.errors.UserError` (or a frame error from the client package) whose ``code``
names the gRPC status; anything else is a bug, logged with its traceback and answered INTERNAL,
and the server keeps serving.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import grpc
from google.protobuf.message import DecodeError

from frameloom_client.frames import PNG, RAW, chunk_fields
from frameloom_client.wire import WireChunk, encode_chunk
from frameloom_client.v1 import frameloom_pb2 as pb
from frameloom_client.v1 import frameloom_pb2_grpc as pb_grpc

from ..errors import UserError
from ..jobs.engine import STATE_NAMES, Engine
from ..jobs.session import StylizeSession
from ..jobs.stream import UploadClosed

log = logging.getLogger(__name__)

_POLL_S = 1.0        # re-read job state this often even without events (belt and braces)
_START_WAIT_S = 20.0  # how long a call waits for an engine that is still starting


def _status(code_name: str) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, code_name or "UNKNOWN", grpc.StatusCode.UNKNOWN)


class FrameloomServicer(pb_grpc.FrameloomServicer):
    def __init__(self, engine: Engine, *, auth_required: bool = False):
        self.engine = engine
        self.auth_required = auth_required

    # ---- helpers -----------------------------------------------------------------------------

    async def _wait_ready(self, context) -> None:
        """A call that arrives while the engine starts waits for it (within its deadline and
        :data:`_START_WAIT_S`) rather than failing; UNAVAILABLE only when it takes longer."""
        if self.engine.ready:
            return
        remaining = context.time_remaining()
        limit = _START_WAIT_S if remaining is None else max(0.0, min(_START_WAIT_S, remaining - 0.5))
        deadline = asyncio.get_running_loop().time() + limit
        while not self.engine.ready and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if not self.engine.ready:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the server is still starting; retry")

    async def _call(self, context, fn, *args):
        """Run an engine call on a thread; user errors become their status code."""
        await self._wait_ready(context)
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

    # ---- unary calls -------------------------------------------------------------------------

    async def GetCapabilities(self, request, context):
        caps = await self._call(context, self.engine.capabilities)
        caps.auth_required = self.auth_required
        return caps

    async def SubmitJob(self, request, context):
        rec = await self._call(context, self.engine.submit, request.spec, request.request_id)
        return self.engine.job_message(rec)

    async def GetJob(self, request, context):
        rec = await self._call(context, self.engine.get, request.job_id)
        return self.engine.job_message(rec, with_spec=True)

    async def CancelJob(self, request, context):
        return self.engine.job_message(await self._call(context, self.engine.cancel, request.job_id))

    async def ListJobs(self, request, context):
        for s in request.states:
            if s not in STATE_NAMES:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown job state {s}")
        recs = await self._call(context, self.engine.list,
                                [STATE_NAMES[s] for s in request.states], request.limit)
        return pb.ListJobsResponse(jobs=[self.engine.job_message(r) for r in recs])

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
                job = self.engine.job_message(self.engine.get(request.job_id))
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
        await self._wait_ready(context)
        requests = request_iterator.__aiter__()
        try:
            first = await requests.__anext__()
        except StopAsyncIteration:
            first = None
        except DecodeError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "malformed StylizeRequest")
        if first is None or isinstance(first, WireChunk) or first.WhichOneof("item") != "start":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "the first message of Stylize must be a StreamStart")
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        # Opened on the loop, not a thread: a client cancelling mid-call must never leave behind
        # a job that waits for frames nobody will send. It is a few milliseconds of SQLite.
        try:
            session = StylizeSession(self.engine, first.start,
                                     on_event=lambda: loop.call_soon_threadsafe(wake.set))
        except Exception as exc:
            await self._abort(context, exc)
        # However the call ends (client gone, deadline, abort), the job must not outlive it: the
        # generator's own `finally` does not run when gRPC drops a generator parked at a yield.
        context.add_done_callback(lambda _ctx: session.close())
        reader = None if session.cached else asyncio.create_task(self._receive(requests, session, context))
        waiter = None
        try:
            while True:
                try:
                    responses = await asyncio.to_thread(session.collect)
                except Exception as exc:
                    await self._abort(context, exc)
                for response in responses:
                    yield response
                if session.finished:
                    return
                if session.more:
                    continue
                waiter = asyncio.ensure_future(wake.wait())
                waiting = [waiter] if reader is None or reader.done() else [waiter, reader]
                await asyncio.wait(waiting, timeout=_POLL_S, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                wake.clear()
                if reader is not None and reader.done() and not reader.cancelled() \
                        and reader.exception() is not None:
                    exc = reader.exception()
                    session.fail(exc)
                    await self._abort(context, exc)
        finally:
            if waiter is not None:
                waiter.cancel()
            if reader is not None and not reader.done():
                reader.cancel()
            elif reader is not None and not reader.cancelled():
                reader.exception()   # retrieved, so asyncio does not log it as lost
            session.close()

    async def _receive(self, requests, session: StylizeSession, context) -> None:
        """Read frames off the call into the session. Its own task, so results flow back while
        frames still arrive; a frame's costly step (join, decode, backpressure) runs on this
        stream's own thread, and while it is blocked nothing more is read from the call."""
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(1, thread_name_prefix="frameloom-upload")
        try:
            async for request in requests:
                if isinstance(request, WireChunk):
                    chunk = request
                elif request.WhichOneof("item") == "chunk":
                    chunk = request.chunk
                else:
                    raise UserError("Stylize takes one StreamStart, then only frame chunks")
                data = chunk.data
                if session.completes(chunk, data):
                    await loop.run_in_executor(pool, session.feed, chunk, data)
                else:                   # only checked and kept: no thread hop
                    session.feed(chunk, data)
            if context.cancelled() or context.done():
                return   # the client cancelled: the request stream ended because of that
            session.end_upload()
        except UploadClosed:
            return
        except DecodeError:
            raise UserError("malformed StylizeRequest (not a frameloom.v1 message)") from None
        finally:
            # Never wait for the thread here: it may sit in backpressure until the job is
            # aborted, and blocking the event loop would freeze every call on the server.
            pool.shutdown(wait=False)


def _next_chunks(frames, encoding) -> list | None:
    """Load and encode the next frame on a worker thread (disk, PNG and the copies into
    messages stay off the loop)."""
    try:
        index, t, image = next(frames)
    except StopIteration:
        return None
    return [encode_chunk(f) for f in chunk_fields(index, image, encoding, time=t)]
