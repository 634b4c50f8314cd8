"""A job's chunks on a Ray cluster: one actor per worker slot, models kept loaded between chunks.

Each worker is a Ray actor holding one CPU (``num_cpus``; its engine computes on exactly those
threads) or, when the cluster has GPUs, one GPU (``num_gpus=1``; it renders on that device).
The driver hands the next chunk to whichever worker is free, so a slow node never holds the job
back. A worker killed mid-chunk is restarted by Ray and its chunk run again
(``max_restarts``/``max_task_retries``): a chunk's output appears whole or not at all
(:mod:`.chunk`), so the result is the same. Outputs go to the chunks folder, which every node
must see under the same path (shared storage); the stitch runs where the driver is.

Ray is the optional extra ``frameloom[ray]``; nothing imports it until a job asks for Ray.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

from ..errors import Cancelled, UserError
from .chunk import ChunkResult
from .plan import Chunk

log = logging.getLogger(__name__)

#: How often the driver looks at progress and cancellation while chunks render (seconds).
POLL_S = 0.5


class FarmError(UserError):
    """A chunk could not be rendered (after Ray's retries)."""

    code = "ABORTED"


@dataclass
class RayOptions:
    address: str | None = None      # None: a local cluster; "auto": the one `ray start` made
    workers: int | None = None      # None: one per GPU of the cluster, else one per worker's CPUs
    cpus_per_worker: int = 1
    gpus: bool | None = None        # None: GPUs when the cluster has them
    retries: int = 3                # restarts of a killed worker, and re-runs of its chunk
    num_cpus: int | None = None     # a local cluster's CPUs (default: this machine's)


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("Ray is not installed: python -m pip install 'frameloom[ray]'") from None
    return ray


def connect(options: RayOptions):
    """Ray, initialised for ``options`` (an already initialised Ray is used as it is)."""
    ray = _ray()
    if not ray.is_initialized():
        kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if options.address:
            try:
                ray.init(address=options.address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UserError(f"cannot join the Ray cluster at {options.address}: {exc}") from None
        else:
            from ..threads import available_cpus

            ray.init(num_cpus=options.num_cpus or available_cpus(), **kwargs)
    return ray


def disconnect() -> None:
    """Leave the cluster (a local one this process started stops with it)."""
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()


class ChunkWorker:
    """A Ray actor (see :func:`_worker_class`): renders chunks with models kept loaded."""

    def __init__(self, device: str):
        import ray

        from .. import allocator, threads

        allocator.configure_in_process()   # a Ray worker starts without the command line
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        threads.configure(cpus=max(1, int(cpus)))
        self.device = device
        self._cache = None

    def pid(self) -> int:
        return os.getpid()

    def render(self, spec_bytes: bytes, chunk: Chunk, root: str, fps, board, key: str, confine):
        from frameloom_client.v1 import frameloom_pb2 as pb

        from ..stylize import make_stylizer
        from .chunk import render_chunk

        spec = pb.JobSpec.FromString(spec_bytes)
        cache = None
        if (spec.style.kind or "identity") == "diffusion":
            if self._cache is None:
                from ..stylize.diffusion.cache import ModelCache

                self._cache = ModelCache(1)
            cache = self._cache
        board.set.remote(key, 0)
        stylizer = make_stylizer(spec, device=self.device, model_cache=cache)
        try:
            result = render_chunk(spec, chunk, root, fps=fps, stylizer=stylizer, confine=confine,
                                  progress=lambda done, total, stage: board.set.remote(key, done))
        finally:
            stylizer.close()
        board.set.remote(key, result.frames_written)
        return result


class ProgressBoard:
    """A Ray actor: frames each chunk has written so far (a re-run chunk starts again at 0)."""

    def __init__(self):
        self.done: dict[str, int] = {}

    def set(self, key: str, frames: int) -> None:
        self.done[key] = frames

    def total(self) -> int:
        return sum(self.done.values())


def _worker_resources(ray, options: RayOptions) -> tuple[dict, str, int]:
    """(actor options, device, how many workers) for the cluster."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    use_gpu = options.gpus if options.gpus is not None else gpus > 0
    if use_gpu:
        if gpus < 1:
            raise UserError("the Ray cluster has no GPU")
        return {"num_gpus": 1, "num_cpus": options.cpus_per_worker}, "cuda", gpus
    cpus = int(resources.get("CPU", 1))
    per = max(1, options.cpus_per_worker)
    return {"num_cpus": per}, "cpu", max(1, cpus // per)


def render_on_ray(spec, chunks: list[Chunk], root: str | os.PathLike, options: RayOptions, *,
                  fps: Fraction | None = None,
                  progress: Callable[[int, int | None, str], None] | None = None,
                  is_cancelled: Callable[[], bool] | None = None, confine=None) -> list[ChunkResult]:
    """Render ``chunks`` of ``spec`` (paths absolute, on storage every node sees) into
    ``root`` on Ray. ``progress(frames written, None, "rendering")`` while they run. A cancel
    (``is_cancelled()`` or Ctrl-C) kills every worker and raises :class:`Cancelled`; chunks
    already complete stay complete. ``confine``: a server's check of every file read (it
    travels to the workers)."""
    if not chunks:
        return []
    ray = connect(options)
    actor_options, device, slots = _worker_resources(ray, options)
    count = max(1, min(len(chunks), options.workers or slots))
    Worker = ray.remote(max_restarts=options.retries, max_task_retries=options.retries,
                        **actor_options)(ChunkWorker)
    board = ray.remote(num_cpus=0)(ProgressBoard).remote()
    workers = [Worker.remote(device) for _ in range(count)]
    log.info("rendering %d chunks on %d Ray workers (%s)", len(chunks), count, device)
    spec_bytes = spec.SerializeToString()
    waiting = deque(chunks)
    running: dict = {}     # ObjectRef -> (worker, chunk)
    results: list[ChunkResult] = []

    def give(worker) -> None:
        if waiting:
            chunk = waiting.popleft()
            ref = worker.render.remote(spec_bytes, chunk, str(Path(root)), fps, board, chunk.name,
                                       confine)
            running[ref] = (worker, chunk)

    try:
        for worker in workers:
            give(worker)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            if is_cancelled is not None and is_cancelled():
                raise Cancelled()
            for ref in ready:
                worker, chunk = running.pop(ref)
                results.append(_result(ray, ref, chunk))
                give(worker)
            if progress is not None:
                progress(ray.get(board.total.remote()), None, "rendering")
    except KeyboardInterrupt:
        raise Cancelled() from None
    finally:
        for actor in [*workers, board]:
            ray.kill(actor, no_restart=True)
    return sorted(results, key=lambda r: r.chunk.owned)


def _result(ray, ref, chunk: Chunk) -> ChunkResult:
    from ray.exceptions import RayActorError, RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, UserError):
            raise cause from None
        raise FarmError(f"chunk {chunk.frames} failed on its Ray worker: "
                        f"{type(cause).__name__ if cause else 'error'}: {cause}") from None
    except RayActorError as exc:
        raise FarmError(f"chunk {chunk.frames}: its Ray worker died and was not brought back "
                        f"({str(exc).splitlines()[0]})") from None
