"""The one runner: source -> stylizer -> temporal filter -> sink, in bounded windows.

The CLI, the gRPC server and render-farm chunks all run jobs through :func:`run_job`, so a frame
comes out the same whichever way it was asked for. Memory is bounded by the stylizer's batch and
the temporal window, never by the clip's length.

A farm chunk or a resumed job renders only part of a job's frames, yet what makes frames agree is
numbered within the whole job, never from where this run starts: the temporal filter's positions
(its PatchMatch seeds and fast-mode blocks) are the frames' ordinals in the job, the stylizer's
batches fall on a grid of ordinals counted from the job's first frame, and the stylizer sees the
job's frame list (its anchor frame, look-ahead and pose smoothing are the job's).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import Cancelled, InputNotFound, UserError
from ..frames import Frame
from ..spec import JobSpec, Schedule, validate
from ..stylize import Stylizer, make_stylizer
from ..stylize.base import CancelCheck, check_not_cancelled
from ..threads import Rebalancer

log = logging.getLogger(__name__)

Progress = Callable[[int, "int | None", str], None]


@dataclass
class JobResult:
    frames_written: int
    total: int | None
    report: "Path | None" = None     # the flicker report, when the job asked for one


def make_temporal(spec: JobSpec, device=None, *, fps=None, confine=None):
    """The streaming deflicker a job asks for, or None ("none", or an identity/propagate job
    without a guide, whose frames need none). ``device``: where it runs (None: the default).
    With ``temporal.guide`` the original frames come from that clip (``fps`` for a sequence)."""
    mode = spec.temporal.mode or "window"
    guide = spec.temporal.guide
    if mode == "none" or (spec.style.kind in ("identity", "propagate") and not guide):
        return None
    from ..temporal.blend import make_temporal_filter

    temporal = make_temporal_filter(spec.temporal, device=device)
    if not guide:
        return temporal
    from ..media import FrameSelection, open_source
    from .guide import GuidedFilter

    selection = FrameSelection.from_proto(spec.frames) if spec.HasField("frames") else None
    try:
        source = open_source(guide, selection, fps=fps, confine=confine)
    except InputNotFound:
        raise InputNotFound(f"the deflicker's guide clip not found: {guide}") from None
    return GuidedFilter(temporal, source)


def _context_frames(temporal) -> int:
    """How many frames before a resume point the temporal filter needs to see again."""
    return 0 if temporal is None else int(getattr(temporal, "context_frames", 0))


def run_job(spec: JobSpec, source, sink, *, stylizer: Stylizer | None = None,
            temporal="auto", progress: Progress | None = None,
            is_cancelled: CancelCheck | None = None, skip: Iterable[int] = (),
            on_frame: Callable[[Frame], None] | None = None, device=None,
            confine=None, span: tuple[int, int] | None = None) -> JobResult:
    """Run ``spec`` over ``source`` into ``sink``.

    ``source`` holds the job's frames. ``span`` (first, last frame index; None: all of them)
    renders only the job's frames in that range, as a farm chunk does; they come out as that
    part of an uninterrupted run would make them, except near the span's ends, where the
    temporal filter and the stylizer have no frames outside it to look at.

    ``skip`` holds frame indices already finished (a resumed job): they are not written again,
    and frames well before the first unfinished one are not even decoded. A cancel (or Ctrl-C)
    stops within one batch; the sink is closed either way, so what was written stays valid.
    Raises :class:`Cancelled` after closing the sink when the job was cancelled. ``device``
    (e.g. a server worker's "cuda:1"; None: the default) is where the stylizer the runner builds
    and the temporal filter run; a ``stylizer`` passed in was placed by its maker.
    ``confine``: the check every file read for the job (a guide's) must pass (a server's roots).
    """
    validate(spec)
    schedule = Schedule(spec)
    own_stylizer = stylizer is None
    stylizer = stylizer or make_stylizer(spec, device=device)
    own_temporal = isinstance(temporal, str) and temporal == "auto"
    temporal = make_temporal(spec, device=device, confine=confine) if own_temporal else temporal
    skip = set(skip)
    job_indices = source.indices
    indices = _span_indices(job_indices, span)
    total = None if indices is None else len([i for i in indices if i not in skip])
    start_at = _resume_point(indices, skip, _context_frames(temporal))
    if start_at is None and span is not None:
        start_at = indices[0]
    nothing_left = start_at is not None and start_at > indices[-1]
    first_ordinal = 0 if start_at is None or nothing_left else job_indices.index(start_at)
    if temporal is not None and first_ordinal:
        # The temporal filter numbers frames by their ordinal in the job; a stream that starts
        # later (resumed, or a farm chunk) must start at the number an uninterrupted one reaches.
        temporal.resume_from(first_ordinal)

    threads = Rebalancer()   # on this thread: OpenMP's pool size belongs to the caller
    written = 0
    times: dict[int, float] = {}  # frames inside the temporal window, waiting for their output

    def emit(index: int, image: np.ndarray) -> None:
        nonlocal written
        t = times.pop(index)
        if index in skip:
            return
        frame = Frame(index, t, image)
        sink.write(frame)
        written += 1
        if on_frame is not None:
            on_frame(frame)
        if progress is not None:
            progress(written, total, "frames")

    def finish(frames: list[Frame]) -> None:
        check_not_cancelled(is_cancelled)
        threads.apply()
        styled = stylizer.stylize(frames, [schedule.at(f.index) for f in frames], is_cancelled)
        for frame, image in zip(frames, styled):
            times[frame.index] = frame.time
            if temporal is None:
                emit(frame.index, image)
            else:
                threads.apply()
                for index, out in temporal.push(frame.index, image, frame.image):
                    emit(index, out)

    try:
        stylizer.prepare(source.frame_at, job_indices if job_indices is not None else [],
                         span=None if span is None else (indices[0], indices[-1]))
        batch: list[Frame] = []
        size = max(1, stylizer.batch_size)
        frames = () if nothing_left else frames_from(source, start_at,
                                                     None if span is None else indices[-1])
        for ordinal, frame in enumerate(frames, first_ordinal):
            batch.append(frame)
            # Batches end on the job's grid of ordinals, wherever this run began, so a chunk's
            # or a resumed job's windows are the ones an uninterrupted run denoises together.
            if (ordinal + 1) % size == 0 or len(batch) >= size:
                finish(batch)
                batch = []
        if batch:
            finish(batch)
        if temporal is not None:
            for index, out in temporal.flush():
                emit(index, out)
    except (Cancelled, KeyboardInterrupt):
        log.info("stopped after %d frames", written)
        raise Cancelled(written) from None
    finally:
        try:
            sink.close()
        finally:
            if own_stylizer:
                stylizer.close()
            if own_temporal and hasattr(temporal, "close"):
                temporal.close()   # a guide clip's decoder
    return JobResult(written, total)


def _span_indices(indices, span: tuple[int, int] | None):
    """The job's frame indices inside ``span`` (all of them when None)."""
    if span is None:
        return indices
    if indices is None:
        raise UserError("rendering part of a job needs a clip whose frame count is known")
    lo, hi = span
    inside = [i for i in indices if lo <= i <= hi]
    if not inside:
        raise UserError(f"frames {lo}-{hi} hold none of the job's frames "
                        f"({indices[0]}-{indices[-1]})" if indices else "the job has no frames")
    return inside


def _resume_point(indices, skip: set[int], context: int) -> int | None:
    """The first frame index to decode: ``context`` frames before the first unfinished one."""
    if not skip or indices is None:
        return None
    pending = [i for i in indices if i not in skip]
    if not pending:
        return indices[-1] + 1
    pos = indices.index(pending[0])
    return indices[max(0, pos - context)]


def frames_from(source, start_at: int | None, stop_after: int | None = None):
    """The source's frames from index ``start_at`` on (None: all) up to ``stop_after``
    (None: the end), decoding none before or after them where the source can seek."""
    if start_at is None and stop_after is None:
        yield from source
        return
    selection = getattr(source, "selection", None)
    if selection is not None:
        from dataclasses import replace

        # Re-aim the source at the range so the frames outside it are never decoded.
        start = selection.start if start_at is None else max(selection.start, start_at)
        # Keep the selection's own grid: a new start must be one of its frames.
        start += (selection.start - start) % selection.step
        end = selection.end if stop_after is None else (
            stop_after if selection.end is None else min(selection.end, stop_after))
        source.selection = replace(selection, start=start, end=end)
        try:
            if end is None or start <= end:
                yield from source
        finally:
            source.selection = selection
        return
    for frame in source:
        if stop_after is not None and frame.index > stop_after:
            return
        if start_at is None or frame.index >= start_at:
            yield frame
