"""The engine behind the service: jobs in, frames out. Plain Python; knows nothing of gRPC.

Every job, streamed or headless, is a row in the :class:`~frameloom.jobs.store.JobStore` and runs
through the one runner on a device's worker thread. Every finished frame goes to the store, so a
streamed clip can be fetched again (the clip cache) and a headless job killed mid-way resumes
without redoing them; a headless job's output file is written from the store once all frames are
done. A headless frame is stored before the runner moves on (that is what resume counts on); a
streamed job's frames are stored by a writer thread (:mod:`.results`) and sent to the client from
memory, and all of them are in the store before the job is marked done or cached. Callers follow a
job through :meth:`Engine.watch` callbacks, from worker threads.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterator

import numpy as np

from frameloom_client.v1 import frameloom_pb2 as pb

from .. import __version__
from ..devices import check_device, detect_devices
from ..errors import Cancelled, InputNotFound, LimitExceeded, PermissionDenied, UserError
from ..frames import Frame, from_float, to_float
from .queue import JobQueue
from .store import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, TERMINAL, JobRecord, JobStore
from ..spec import spec_hash, validate
from .paths import PathPolicy
from .results import StreamResults
from .stream import MemoryBudget, StreamUpload

log = logging.getLogger(__name__)

#: Models made by code, not loaded from files: the only ``builtin:`` names a job may use.
BUILTIN_MODELS = ("builtin:tiny",)

#: Store states as the contract's JobState, and back.
JOB_STATES = {QUEUED: pb.JOB_STATE_QUEUED, RUNNING: pb.JOB_STATE_RUNNING,
              SUCCEEDED: pb.JOB_STATE_SUCCEEDED, FAILED: pb.JOB_STATE_FAILED,
              CANCELLED: pb.JOB_STATE_CANCELLED}
STATE_NAMES = {v: k for k, v in JOB_STATES.items()}


@dataclass
class Limits:
    max_width: int = 8192
    max_height: int = 8192
    max_frames: int = 100_000
    max_message_bytes: int = 4 * 1024 * 1024
    max_in_flight: int = 16
    max_queued_jobs: int = 256
    upload_idle_s: float = 60.0     # a running streamed job fails when its client goes quiet
    max_stream_memory: int = 4 * 2**30   # bytes of streamed frames held by all streams; 0: none


@dataclass
class EngineConfig:
    store_dir: str
    media_roots: list[str] = field(default_factory=list)
    model_dirs: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)   # empty: every CUDA device, else "cpu"
    limits: Limits = field(default_factory=Limits)
    model_cache: int = 1     # diffusion models kept loaded per device between jobs; 0: none
    allow_pickle: bool = False   # jobs may ask for pickle checkpoints (they can run code)
    farm: "object | None" = None   # a farm.headless.FarmConfig: headless jobs go to Ray


def convert_depth(image: np.ndarray, bit_depth: int) -> np.ndarray:
    if bit_depth == 16 and image.dtype == np.uint8:
        return image.astype(np.uint16) * 257
    if bit_depth == 8 and image.dtype == np.uint16:
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return image


class StoreSink:
    """The runner's sink: every finished frame into the store, then ``on_frame(index)``.
    With ``results`` (a streamed job) the store write happens on its writer thread."""

    def __init__(self, store: JobStore, job_id: str, dtype, on_frame: Callable[[int], None],
                 alpha: Callable[[int], np.ndarray | None] = lambda i: None,
                 results: StreamResults | None = None):
        self.store, self.job_id, self.dtype = store, job_id, dtype
        self.on_frame, self.alpha, self.results = on_frame, alpha, results

    def write(self, frame: Frame) -> None:
        image = from_float(frame.image, self.dtype)
        alpha = self.alpha(frame.index)
        if alpha is not None:
            image = np.concatenate([image, convert_depth(alpha, image.itemsize * 8)[:, :, None]], axis=2)
        if self.results is not None:
            self.results.put(frame.index, frame.time, image)
        else:
            self.store.save_result(self.job_id, frame.index, frame.time, image)
        self.on_frame(frame.index)

    def close(self) -> None:
        pass


class Engine:
    """``make_stylizer(spec, *, device, model_cache)`` builds each job's stylizer (default: the
    registry's); ``model_cache`` is the diffusion :class:`~frameloom.stylize.diffusion.cache.
    ModelCache` shared by all jobs (default: one of ``config.model_cache`` entries per device,
    made when the first diffusion job runs). ``runner`` replaces :func:`~frameloom.jobs.runner.
    run_job` (tests)."""

    def __init__(self, config: EngineConfig, *, runner=None, make_stylizer=None, model_cache=None):
        self.config, self.limits = config, config.limits
        self.store = JobStore(config.store_dir)
        self.media = PathPolicy(config.media_roots, "media roots")
        self.models = PathPolicy(config.model_dirs, "model folders")
        self._runner, self._make_stylizer = runner, make_stylizer
        self._model_cache = model_cache
        self._lock = threading.Lock()
        self._submit_lock = threading.Lock()
        self._watchers: dict[str, list[Callable]] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._uploads: dict[str, StreamUpload] = {}
        self._results: dict[str, StreamResults] = {}
        self._progress: dict[str, tuple[int, str]] = {}
        self._ended: dict[str, dict] = {}   # ends the store could not record (full disk)
        self._stream_memory = MemoryBudget(self.limits.max_stream_memory)
        self.queue: JobQueue | None = None
        self.farm_queue: JobQueue | None = None   # headless jobs, when they run on Ray
        self.ready = False
        self._stopping = False

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Find devices and models, then requeue what a previous run left unfinished."""
        devices = [check_device(d) for d in self.config.devices] or detect_devices()
        twice = sorted({d for d in devices if devices.count(d) > 1})
        if twice:   # two workers on one device would share its cached model mid-job
            raise UserError(f"device {twice[0]} is given twice; each device runs one job at a time")
        self.queue = JobQueue(devices, self._run, max_queued=self.limits.max_queued_jobs,
                              on_change=self._queue_changed)
        if self.config.farm is not None:
            from ..farm.ray_executor import connect

            connect(self.config.farm.ray)   # a missing Ray or cluster fails the start, not a job
            # One job at a time on the cluster: its chunks already fill every worker.
            self.farm_queue = JobQueue(["ray"], self._run, max_queued=self.limits.max_queued_jobs,
                                       on_change=self._queue_changed)
        for rec in sorted(self.store.list((QUEUED, RUNNING), limit=1_000_000), key=lambda r: r.seq):
            if rec.kind == "stream":   # its client went away with the old process
                self.store.update(rec.id, state=CANCELLED, ended=time.time(),
                                  error="the server restarted while the clip was streaming",
                                  error_code="CANCELLED")
                continue
            self.store.update(rec.id, state=QUEUED)
            self._cancel[rec.id] = threading.Event()
            self._queue_for(rec.kind).put(rec.id, rec.priority, rec.seq, force=True)
            log.info("resuming job %s (%d/%d frames done)", rec.id, rec.done, rec.total)
        for queue in self._queues():
            queue.start()
        self.ready = True

    def _queues(self) -> list[JobQueue]:
        return [q for q in (self.queue, self.farm_queue) if q is not None]

    def _queue_for(self, kind: str) -> JobQueue:
        return self.farm_queue if kind == "headless" and self.farm_queue is not None else self.queue

    def stop(self) -> None:
        """Shut down: streams are cancelled (their clients must send again); headless jobs
        stop where they are and stay queued, so the next start resumes them as after a crash."""
        self._stopping = True
        for ev in list(self._cancel.values()):
            ev.set()
        for up in list(self._uploads.values()):
            up.abort("the server is shutting down")
        for queue in self._queues():
            queue.stop()
        if self.farm_queue is not None:
            from ..farm.ray_executor import disconnect

            disconnect()
        if self._model_cache is not None:
            self._model_cache.clear()

    def close(self) -> None:
        """After :meth:`stop` and once no caller reads it any more: close the store."""
        self.store.close()

    # ---- what clients see --------------------------------------------------------------------

    def capabilities(self) -> pb.Capabilities:
        """What this engine offers (the caller adds what only it knows, such as auth)."""
        from ..spec import TEMPORAL_MODES
        from ..stylize import available_styles
        from ..stylize.registry import style_parameters

        lim = self.limits
        info = [pb.StyleInfo(kind=kind, params=[
            pb.StyleParam(name=n, default_value=p.default, min=p.low, max=p.high,
                          description=p.help) for n, p in params.items()])
            for kind, params in style_parameters().items()]
        models = [*((name, "builtin", 0) for name in BUILTIN_MODELS), *self.models.scan_models()]
        return pb.Capabilities(
            engine_version=__version__, protocol="frameloom.v1",
            devices=[pb.Device(name=d, description=d) for d in (self.queue.devices if self.queue else [])],
            styles=available_styles(), temporal_modes=list(TEMPORAL_MODES),
            models=[pb.ModelInfo(name=n, kind=k, size_bytes=size) for n, k, size in models],
            limits=pb.Limits(max_width=lim.max_width, max_height=lim.max_height,
                             max_frames=lim.max_frames, max_message_bytes=lim.max_message_bytes,
                             max_in_flight=lim.max_in_flight, max_queued_jobs=lim.max_queued_jobs,
                             max_stream_memory_bytes=lim.max_stream_memory),
            media_roots=[str(r) for r in self.media.roots], style_info=info)

    def get(self, job_id: str) -> JobRecord:
        rec = self.store.get(job_id) if job_id else None
        if rec is None:
            raise InputNotFound(f"no job {job_id!r}")
        ended = self._ended.get(job_id)
        return dataclasses.replace(rec, **ended) if ended else rec

    def queue_position(self, job_id: str) -> int:
        for queue in self._queues():
            pos = queue.position(job_id)
            if pos is not None:
                return pos
        return -1

    def list(self, states=(), limit: int = 100) -> list[JobRecord]:
        return self.store.list(tuple(states), limit=max(1, min(limit or 100, 10_000)))

    def watch(self, job_id: str, callback: Callable[[str, int | None], None]) -> Callable[[], None]:
        """``callback("job", None)`` on every change of state or progress, ``callback("frame", i)``
        for each finished frame; from worker threads. Returns the unsubscribe function."""
        self.get(job_id)
        with self._lock:
            self._watchers.setdefault(job_id, []).append(callback)

        def unsubscribe():
            with self._lock:
                cbs = self._watchers.get(job_id, [])
                if callback in cbs:
                    cbs.remove(callback)
                if not cbs:
                    self._watchers.pop(job_id, None)
        return unsubscribe

    def _notify(self, job_id: str, kind: str, index: int | None = None) -> None:
        with self._lock:
            cbs = list(self._watchers.get(job_id, ()))
        for cb in cbs:
            try:
                cb(kind, index)
            except Exception:
                log.exception("watcher of job %s failed", job_id)

    def _queue_changed(self) -> None:
        with self._lock:
            ids = list(self._watchers)
        for job_id in ids:
            self._notify(job_id, "job")

    def progress_of(self, rec: JobRecord) -> tuple[int, str]:
        """(frames done, stage) of a job, live while it runs. A job rendered on Ray keeps no
        frames in the store; its count is in its meta."""
        return self._progress.get(rec.id, (max(rec.done, int(rec.meta.get("done", 0))), rec.stage))

    def job_message(self, rec: JobRecord, with_spec: bool = False) -> pb.Job:
        """A job as the contract shows it, with live progress and queue position."""
        done, stage = self.progress_of(rec)
        job = pb.Job(id=rec.id, name=rec.name, state=JOB_STATES[rec.state], priority=rec.priority,
                     queue_position=max(0, self.queue_position(rec.id)), done=done,
                     total=rec.total, stage=stage, error=rec.error, error_code=rec.error_code,
                     created=rec.created, started=rec.started, ended=rec.ended, device=rec.device,
                     streamed=rec.kind == "stream", report=rec.meta.get("report", ""),
                     report_error=rec.meta.get("report_error", ""))
        if with_spec:
            job.spec.ParseFromString(rec.spec)
        return job

    def progress_message(self, rec: JobRecord) -> pb.Progress:
        done, stage = self.progress_of(rec)
        return pb.Progress(state=JOB_STATES[rec.state], done=done, total=rec.total, stage=stage,
                           queue_position=max(0, self.queue_position(rec.id)))

    # ---- validation --------------------------------------------------------------------------

    def _check_models(self, spec: pb.JobSpec) -> None:
        """Models only from the model folders; names rewritten to real paths for the engine."""
        d = spec.style.diffusion
        if d.allow_pickle and not self.config.allow_pickle:
            raise PermissionDenied("this server does not load pickle files (.ckpt/.pt/.bin can run "
                                   "code); its operator can allow them with serve --allow-pickle")

        def fix(value: str, label: str) -> str:
            if not value:
                return value
            if value.startswith("builtin:"):
                if value not in BUILTIN_MODELS:
                    raise InputNotFound(f"{label} {value!r}: no such built-in model; this server "
                                        f"has {', '.join(BUILTIN_MODELS)}")
                return value
            return self.models.resolve(value, must_exist=True, label=label)

        d.model = fix(d.model, "model")
        d.tokenizer = fix(d.tokenizer, "tokenizer")
        for cn in d.controlnets:
            cn.model = fix(cn.model, f"controlnet {cn.kind} model")
            cn.annotator = fix(cn.annotator, f"controlnet {cn.kind} annotator")
        for lora in d.loras:
            lora.path = fix(lora.path, "lora")
        for i, emb in enumerate(d.embeddings):
            d.embeddings[i] = fix(emb, "embedding")

    def _check_spec(self, spec: pb.JobSpec) -> pb.JobSpec:
        spec = pb.JobSpec.FromString(spec.SerializeToString())
        validate(spec)
        lim, d = self.limits, spec.style.diffusion
        if d.width > lim.max_width or d.height > lim.max_height:
            raise LimitExceeded(f"diffusion size {d.width}x{d.height} is over this server's limit "
                                f"of {lim.max_width}x{lim.max_height}")
        kind = spec.style.kind or "identity"
        from ..stylize import available_styles

        if kind not in available_styles():
            raise UserError(f"unknown style {kind!r}; available: {', '.join(available_styles())}")
        if kind == "identity" or kind.startswith("filter:"):
            # Cheap to build: catches a bad filter parameter before any frame is sent.
            from ..stylize import make_stylizer

            make_stylizer(spec).close()
        self._check_models(spec)
        if spec.temporal.guide:
            spec.temporal.guide = self.media.resolve(spec.temporal.guide, must_exist=True,
                                                     label="temporal.guide")
            from ..media import open_source

            open_source(spec.temporal.guide, confine=self.media.confine).close()   # readable, inside
        for images, label in ((spec.style.keyframe_images, "keyframe image"),
                              (spec.style.diffusion.reference_images, "reference image")):
            for img in images:
                if img.path:
                    img.path = self.media.resolve(img.path, must_exist=True, label=label)
        return spec

    # ---- headless ----------------------------------------------------------------------------

    def submit(self, spec: pb.JobSpec, request_id: str = "") -> JobRecord:
        """Queue a headless job. A ``request_id`` seen before returns that request's job (a
        client retrying a call whose answer it lost must not run the job twice)."""
        if len(request_id) > 128:
            raise UserError("request_id is longer than 128 characters")
        if not request_id:
            return self._submit(spec)
        with self._submit_lock:
            earlier = self.store.submission(request_id)
            if earlier is not None and self.store.get(earlier) is not None:
                return self.store.get(earlier)
            rec = self._submit(spec)
            self.store.record_submission(request_id, rec.id)
            return rec

    def _submit(self, spec: pb.JobSpec) -> JobRecord:
        spec = self._check_spec(spec)
        if not spec.input:
            raise UserError("a headless job needs spec.input (a path under the media roots)")
        if not spec.output:
            raise UserError("a headless job needs spec.output (a path under the media roots)")
        spec.input = self.media.resolve(spec.input, must_exist=True, label="input")
        spec.output = self.media.resolve(spec.output, must_exist=False, label="output")
        from ..media import FrameSelection, check_output, open_source

        check_output(spec.output, [spec.input])
        selection = FrameSelection.from_proto(spec.frames) if spec.HasField("frames") else None
        with open_source(spec.input, selection, confine=self.media.confine) as source:
            info, indices = source.info, source.indices
        if info.width > self.limits.max_width or info.height > self.limits.max_height:
            raise LimitExceeded(f"input is {info.width}x{info.height}; this server accepts at most "
                                f"{self.limits.max_width}x{self.limits.max_height}")
        total = len(indices) if indices is not None else (info.frame_count or 0)
        if total > self.limits.max_frames:
            raise LimitExceeded(f"the job has {total} frames; this server accepts at most "
                                f"{self.limits.max_frames} per job")
        rec = self.store.create(kind="headless", name=spec.name, priority=spec.priority,
                                spec=spec.SerializeToString(), total=total)
        self._enqueue(rec)
        return self.store.get(rec.id)

    def _enqueue(self, rec: JobRecord) -> None:
        self._cancel[rec.id] = threading.Event()
        try:
            self._queue_for(rec.kind).put(rec.id, rec.priority, rec.seq)
        except LimitExceeded as exc:
            self.store.update(rec.id, state=FAILED, error=str(exc), error_code=exc.code,
                              ended=time.time())
            raise

    def cancel(self, job_id: str, reason: str = "cancelled by the client",
               code: str = "CANCELLED") -> JobRecord:
        """Stop a job: out of the queue, or its runner stops within one batch. ``code`` other
        than CANCELLED records it as failed (a stream whose client sent a bad frame)."""
        rec = self.get(job_id)
        if rec.state in TERMINAL:
            return rec
        state = CANCELLED if code == "CANCELLED" else FAILED
        queued = any(queue.remove(job_id) for queue in self._queues())
        if queued:   # it never ran, so nothing else will end it
            self._end(job_id, state=state, error=reason, error_code=code)
        up = self._uploads.pop(job_id, None) if queued else self._uploads.get(job_id)
        if up is not None:
            up.abort(reason, code)
            if queued:
                up.close()
        ev = self._cancel.get(job_id)
        if ev is not None:
            ev.set()
        self._notify(job_id, "job")
        return self.get(job_id)

    def results(self, job_id: str, bit_depth: int = 0) -> Iterator[tuple[int, float, np.ndarray]]:
        """(index, time, image) of a job's finished frames, in index order."""
        self.get(job_id)
        if bit_depth not in (0, 8, 16):
            raise UserError(f"bit depth must be 8 or 16, got {bit_depth}")
        for index, t in self.store.finished(job_id).items():
            image = self.store.load_result(job_id, index)
            yield index, t, convert_depth(image, bit_depth) if bit_depth else image

    def results_at(self, job_id: str, indices, bit_depth: int = 0
                   ) -> Iterator[tuple[int, float, np.ndarray]]:
        """Finished frames by index; a running stream's recent ones straight from memory."""
        live = self._results.get(job_id)
        for index in indices:
            image = live.get(index) if live is not None else self.store.load_result(job_id, index)
            yield index, 0.0, convert_depth(image, bit_depth) if bit_depth else image

    # ---- streaming ---------------------------------------------------------------------------

    def open_stream(self, start: pb.StreamStart) -> tuple[JobRecord, StreamUpload | None, str]:
        """A job for a streamed clip. Returns (job, upload, clip_id); upload is None when the
        results come from the cache (the job is then the cached one)."""
        spec = self._check_spec(start.spec)
        for name in ("input", "output", "frames"):
            spec.ClearField(name)
        if start.frame_count <= 0:
            raise UserError(f"frame_count must be positive, got {start.frame_count}")
        if start.frame_count > self.limits.max_frames:
            raise LimitExceeded(f"the clip has {start.frame_count} frames; this server accepts at "
                                f"most {self.limits.max_frames} per job")
        if start.first_index < 0:
            raise UserError(f"first_index must be >= 0, got {start.first_index}")
        if start.result_bit_depth not in (0, 8, 16):
            raise UserError(f"result_bit_depth must be 0, 8 or 16, got {start.result_bit_depth}")
        if start.fps_num < 0 or start.fps_den < 0:
            raise UserError("fps must be positive")
        fps = Fraction(start.fps_num, start.fps_den or 1) if start.fps_num else Fraction(24)
        shash = spec_hash(spec)
        key_of = lambda clip: hashlib.sha256(  # noqa: E731
            f"{__version__}|{clip}|{shash}|{start.first_index}|{start.result_bit_depth}".encode()
        ).hexdigest()
        if start.clip_hash:
            cached = self.store.cache_get(key_of(start.clip_hash))
            rec = self.store.get(cached) if cached else None
            if rec is not None and rec.state == SUCCEEDED and rec.done == rec.total:
                return rec, None, f"{start.clip_hash}:{shash}"
        meta = {"first_index": start.first_index, "fps": [fps.numerator, fps.denominator],
                "result_bit_depth": start.result_bit_depth, "spec_hash": shash}
        rec = self.store.create(kind="stream", name=spec.name, priority=spec.priority,
                                spec=spec.SerializeToString(), total=start.frame_count, meta=meta)
        # Only a client that hashed its clip can ever ask for it again: hash the arriving frames
        # (a SHA-256 pass per frame) only then.
        upload = StreamUpload(self.store, rec.id, start.first_index, start.frame_count, fps,
                              self.limits, cache_key=key_of if start.clip_hash else None,
                              budget=self._stream_memory)
        self._uploads[rec.id] = upload
        try:
            self._enqueue(rec)
        except LimitExceeded:
            self._uploads.pop(rec.id, None)
            raise
        return self.store.get(rec.id), upload, f"{start.clip_hash}:{shash}" if start.clip_hash else ""

    # ---- running (worker threads) ------------------------------------------------------------

    def _run(self, job_id: str, device: str) -> None:
        try:
            rec = self.store.get(job_id)
        except UserError as exc:    # the store cannot even be read: the job fails in memory
            self._end(job_id, state=FAILED, error=str(exc), error_code=exc.code)
            self._notify(job_id, "job")
            return
        cancel = self._cancel.setdefault(job_id, threading.Event())
        if rec is None or rec.state in TERMINAL:
            return
        try:
            self.store.update(job_id, state=RUNNING, started=time.time(), device=device)
            self._notify(job_id, "job")
            spec = pb.JobSpec.FromString(rec.spec)
            if cancel.is_set():
                raise Cancelled()
            if rec.kind == "stream":
                self._run_stream(rec, spec, cancel, device)
            else:
                self._run_headless(rec, spec, cancel, device)
            self._end(job_id, state=SUCCEEDED, stage="done")
        except Cancelled:
            up = self._uploads.get(job_id)
            if self._stopping and rec.kind == "headless":
                self._end(job_id, state=QUEUED, stage="interrupted by a server shutdown", ended=0.0)
                return
            reason, code = (up.abort_reason, up.abort_code) if up is not None else ("", "")
            self._end(job_id, state=FAILED if code not in ("", "CANCELLED") else CANCELLED,
                      error=reason or "cancelled", error_code=code or "CANCELLED")
        except UserError as exc:
            self._end(job_id, state=FAILED, error=str(exc), error_code=exc.code)
        except Exception as exc:  # a bug: keep the server up, tell the client, log the traceback
            log.exception("job %s failed", job_id)
            self._end(job_id, state=FAILED, error_code="INTERNAL",
                      error=f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._progress.pop(job_id, None)
            self._cancel.pop(job_id, None)
            up = self._uploads.pop(job_id, None)
            if up is not None:
                up.abort("the job ended")
                up.close()
            self._notify(job_id, "job")

    def _end(self, job_id: str, **fields) -> None:
        """Record how a job ended. When the store cannot take it (a full disk), the end is
        kept in memory and shown by :meth:`get`, so no job stays RUNNING for ever."""
        fields.setdefault("ended", time.time())
        try:
            self.store.update(job_id, **fields)
            self._ended.pop(job_id, None)
        except Exception as exc:
            log.error("could not record the end of job %s (%s); keeping it in memory", job_id, exc)
            self._ended[job_id] = fields

    @property
    def model_cache(self):
        """The diffusion model cache, made on first use (importing it loads torch)."""
        with self._lock:
            if self._model_cache is None:
                from ..stylize.diffusion.cache import ModelCache

                self._model_cache = ModelCache(self.config.model_cache)
            return self._model_cache

    def _run_job(self, rec, spec, source, sink, cancel, device, skip=()) -> None:
        already = len(skip)

        def progress(done: int, total, stage: str) -> None:
            self._progress[rec.id] = (already + done, stage)
            self._notify(rec.id, "job")

        runner = self._runner
        if runner is None:
            from .runner import run_job as runner
        make = self._make_stylizer
        if make is None:
            from ..stylize import make_stylizer as make
        cache = self.model_cache if (spec.style.kind or "identity") == "diffusion" else None
        stylizer = make(spec, device=device, model_cache=cache)
        try:
            runner(spec, source, sink, stylizer=stylizer, progress=progress,
                   is_cancelled=cancel.is_set, skip=set(skip), device=device,
                   confine=self.media.confine)
        finally:
            stylizer.close()

    def _run_stream(self, rec: JobRecord, spec: pb.JobSpec, cancel: threading.Event,
                    device: str) -> None:
        upload = self._uploads.get(rec.id)
        if upload is None:
            raise Cancelled()
        upload.cancel_event = cancel
        source = upload.source()
        depth = rec.meta.get("result_bit_depth") or source.info.bit_depth
        results = StreamResults(self.store, rec.id, keep=self.limits.max_in_flight)
        self._results[rec.id] = results
        sink = StoreSink(self.store, rec.id, np.uint16 if depth == 16 else np.uint8,
                         on_frame=lambda i: self._notify(rec.id, "frame", i), alpha=upload.alpha,
                         results=results)
        report = None
        if spec.output_options.report:
            report = self._stream_report(rec, spec, np.uint16 if depth == 16 else np.uint8)
            if report is not None:
                source, sink = report.source(source), report.sink(sink)
        try:
            self._run_job(rec, spec, source, sink, cancel, device)
            results.close()
        except BaseException:
            results.close(raise_errors=False)   # what finished stays finished
            if report is not None:
                report.close()
            raise
        finally:
            self._results.pop(rec.id, None)
        upload.finish_check()
        if report is not None:
            self._write_stream_report(rec, spec, report, device)
        key = upload.cache_key_final()
        if key:
            self.store.cache_put(key, rec.id)
        self.store.drop_sources(rec.id)

    def _run_headless(self, rec: JobRecord, spec: pb.JobSpec, cancel: threading.Event,
                      device: str) -> None:
        from .local import open_job_media
        from ..media import FrameSelection, open_source

        if device == "ray":
            return self._run_on_ray(rec, spec, cancel)
        selection = FrameSelection.from_proto(spec.frames) if spec.HasField("frames") else None
        done = self.store.finished(rec.id)
        with open_source(spec.input, selection, confine=self.media.confine) as source:
            pending = [i for i in (source.indices or []) if i not in done]
            if pending or source.indices is None:
                sink = StoreSink(self.store, rec.id, np.uint16,
                                 on_frame=lambda i: self._notify(rec.id, "frame", i))
                self._run_job(rec, spec, source, sink, cancel, device, skip=done.keys())
        # Every frame is in the store: write the output from there, in clip order, so a resumed
        # job writes exactly what an uninterrupted one would.
        self._progress[rec.id] = (len(self.store.finished(rec.id)), "writing output")
        self._notify(rec.id, "job")
        source, sink = open_job_media(spec)
        source.close()
        try:
            for index, t in self.store.finished(rec.id).items():
                if cancel.is_set():
                    raise Cancelled()
                sink.write(Frame(index, t, to_float(self.store.load_result(rec.id, index))))
        finally:
            sink.close()
        if spec.output_options.report:
            self._headless_report(rec, spec, cancel, device)

    # ---- flicker reports (output_options.report) -----------------------------------------------
    # A report that cannot be made leaves the job SUCCEEDED with every frame: Job.report_error
    # says why, and Job.report stays empty.

    def _note_report(self, job_id: str, *, path: str = "", error: str = "") -> None:
        meta = dict(self.store.get(job_id).meta)
        meta.update(report=path, report_error=error)
        self.store.update(job_id, meta=meta)

    def _headless_report(self, rec: JobRecord, spec: pb.JobSpec, cancel: threading.Event,
                         device: str) -> None:
        from .report import write_job_report

        total = len(self.store.finished(rec.id))
        started = self.store.get(rec.id).started

        def progress(done: int, _total) -> None:
            if cancel.is_set():
                raise Cancelled()
            self._progress[rec.id] = (total, f"writing the report ({done}/{total})")
            self._notify(rec.id, "job")

        try:
            report = write_job_report(
                spec, seconds=time.time() - started if started else None,
                frames_done=total, device=device, confine=self.media.confine,
                check_path=self._report_path,
                progress=progress)
        except UserError as exc:
            self._note_report(rec.id, error=str(exc))
        except Cancelled:
            raise
        except Exception as exc:   # a bug in the report must not lose a finished job
            log.exception("job %s: the report failed", rec.id)
            self._note_report(rec.id, error=f"internal error: {type(exc).__name__}: {exc}")
        else:
            self._note_report(rec.id, path=str(report.html))

    def _report_path(self, path: str) -> str:
        """The report's folder must lie inside the media roots (an image-sequence output that
        is a root itself has its report beside it, outside); the file itself is written in
        place, never through a link planted there."""
        folder = self.media.resolve(os.path.dirname(path), must_exist=True, label="report folder")
        return os.path.join(folder, os.path.basename(path))

    def _stream_report(self, rec: JobRecord, spec: pb.JobSpec, dtype):
        from .report import StreamReport

        try:
            return StreamReport(spec, first_index=int(rec.meta.get("first_index", 0)),
                                dtype=dtype, confine=self.media.confine)
        except UserError as exc:
            self._note_report(rec.id, error=str(exc))
            return None

    def _write_stream_report(self, rec: JobRecord, spec: pb.JobSpec, report, device: str) -> None:
        from .report import job_context

        self._progress[rec.id] = (rec.total, "writing the report")
        self._notify(rec.id, "job")
        started = self.store.get(rec.id).started
        context = job_context(spec, seconds=time.time() - started if started else None,
                              frames_done=rec.total, device=device)
        written = report.write(self.store.job_dir(rec.id) / "report.html", context)
        if written is None:
            self._note_report(rec.id, error=report.error)
        else:
            self._note_report(rec.id, path=str(written.html))

    def _run_on_ray(self, rec: JobRecord, spec: pb.JobSpec, cancel: threading.Event) -> None:
        """A headless job's frames rendered on the Ray cluster (``serve --ray``); the store
        holds its state, its chunks (beside the output) what is finished."""
        from ..farm.headless import run_on_ray

        def progress(done: int, stage: str) -> None:
            self._progress[rec.id] = (done, stage)
            self._notify(rec.id, "job")

        written = run_on_ray(spec, self.config.farm, progress=progress, is_cancelled=cancel.is_set,
                             confine=self.media.confine)
        self.store.update(rec.id, meta={**self.store.get(rec.id).meta, "done": written})
        if spec.output_options.report:
            self._note_report(rec.id, error="flicker reports are not made yet for jobs run on Ray")
