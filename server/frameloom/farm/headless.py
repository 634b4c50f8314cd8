"""A server's headless job on a Ray cluster instead of its local device queue.

The job engine (:mod:`frameloom.jobs.engine`) keeps the job's state in its store as for a local
job; this renders the job: planned into chunks beside its output (under the server's media
roots, which the cluster's nodes must see at the same paths), the chunks that are not complete
yet rendered on Ray, then stitched into the output. A job stopped half-way (cancelled, a server
restart) resumes from the chunks already complete.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .plan import DEFAULT_CHUNK, DEFAULT_OVERLAP, chunks_dir, job_indices, plan_chunks
from .ray_executor import RayOptions


@dataclass
class FarmConfig:
    """How a server cuts headless jobs for Ray (``frameloom serve --ray``)."""

    ray: RayOptions = field(default_factory=RayOptions)
    chunk: int = DEFAULT_CHUNK
    overlap: int = DEFAULT_OVERLAP


def run_on_ray(spec, config: FarmConfig, *, progress: Callable[[int, str], None],
               is_cancelled: Callable[[], bool], confine=None) -> int:
    """Render ``spec`` (paths checked and absolute) on Ray and stitch it; returns the frames
    written. ``progress(frames, stage)``: frames of the job finished so far, the chunks'
    handle frames counted pro rata, so it never passes the job's frame count. ``confine``: the
    server's check of every file read, on the workers too."""
    from .chunk import chunk_bit_depth
    from .ray_executor import render_on_ray
    from .stitch import missing_chunks, stitch
    from ..media import probe

    indices = job_indices(spec, confine=confine)
    total = len(indices)
    chunks = plan_chunks(indices, config.chunk, config.overlap)
    root = chunks_dir(spec)
    todo = missing_chunks(spec, chunks, root, chunk_bit_depth(spec, probe(spec.input)))
    rendered = sum(sum(1 for i in indices if c.rendered[0] <= i <= c.rendered[1]) for c in chunks)
    already = sum(sum(1 for i in indices if c.rendered[0] <= i <= c.rendered[1])
                  for c in chunks if c not in todo)
    stage = f"rendering {len(todo)} of {len(chunks)} chunks on Ray"

    def rendering(done: int, _total, _stage) -> None:
        progress(min(total, (already + done) * total // max(1, rendered)), stage)

    rendering(0, None, stage)
    render_on_ray(spec, todo, root, config.ray, progress=rendering, is_cancelled=is_cancelled,
                  confine=confine)
    progress(total, "stitching")
    result = stitch(spec, chunks, root, overlap=config.overlap, is_cancelled=is_cancelled,
                    progress=lambda done, _t, _s: progress(total, f"stitching {done}/{total}"),
                    clean=True, confine=confine)
    return result.frames_written
