"""A job cut into chunks, and the task list a farm manager submits.

A chunk *owns* a run of the job's frames (the frames it delivers) and *renders* them with
``overlap`` handle frames on each side, clamped to the job's frames, so its temporal state is warm
by the time its owned frames come and the stitch has both neighbours' frames to blend across each
seam. Chunks are cut by ordinal in the job (a stepped job's chunks hold every step-th frame).

The plan's JSON shape is public and fixed::

    {"tasks": [{"frames": "0-47", "command": [argv...]}, ...], "stitch": [argv...]}

Every command names the job file by its absolute path (its own paths are relative to it), so it
runs from any working directory on any node that sees the same storage.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import UserError

DEFAULT_CHUNK = 48
DEFAULT_OVERLAP = 8


@dataclass(frozen=True)
class Chunk:
    """One task: ``owned`` and ``rendered`` are (first, last) frame indices of the clip."""

    owned: tuple[int, int]
    rendered: tuple[int, int]

    @property
    def frames(self) -> str:
        """The owned range as the command line and the plan write it."""
        return f"{self.owned[0]}-{self.owned[1]}"

    @property
    def name(self) -> str:
        """The chunk's folder name (sorts in clip order)."""
        return f"{self.owned[0]:06d}-{self.owned[1]:06d}"

    def to_json(self) -> dict:
        return {"owned": list(self.owned), "rendered": list(self.rendered)}


def check_sizes(chunk: int, overlap: int) -> None:
    if chunk < 1:
        raise UserError(f"--chunk must be at least 1 frame, got {chunk}")
    if overlap < 0:
        raise UserError(f"--overlap must be 0 or more frames, got {overlap}")


def plan_chunks(indices: list[int], chunk: int, overlap: int) -> list[Chunk]:
    """The job's frames ``indices`` cut into chunks of ``chunk`` owned frames with ``overlap``
    handle frames on each side."""
    check_sizes(chunk, overlap)
    if not indices:
        raise UserError("the job has no frames to cut into chunks")
    n = len(indices)
    out = []
    for a in range(0, n, chunk):
        b = min(n, a + chunk) - 1
        lo, hi = max(0, a - overlap), min(n - 1, b + overlap)
        out.append(Chunk((indices[a], indices[b]), (indices[lo], indices[hi])))
    return out


def chunk_of(indices: list[int], first: int, last: int, overlap: int) -> Chunk:
    """The chunk owning frames ``first``-``last`` of the job (a task's ``--frames``)."""
    check_sizes(1, overlap)
    if not indices:
        raise UserError("the job has no frames")
    owned = [i for i in indices if first <= i <= last]
    if not owned or first < indices[0] or last > indices[-1]:
        raise UserError(f"frames {first}-{last} are not all among the job's frames "
                        f"({describe(indices)}); render a part of the job, or change its [frames]")
    a, b = indices.index(owned[0]), indices.index(owned[-1])
    lo, hi = max(0, a - overlap), min(len(indices) - 1, b + overlap)
    return Chunk((owned[0], owned[-1]), (indices[lo], indices[hi]))


def describe(indices: list[int]) -> str:
    step = indices[1] - indices[0] if len(indices) > 1 else 1
    return f"{indices[0]}-{indices[-1]}" + (f"/{step}" if step > 1 else "")


def job_indices(spec, *, fps: Fraction | None = None, confine=None) -> list[int]:
    """The clip frame indices a job renders. A video whose container does not say how many
    frames it has is counted by decoding it once. ``confine``: a server's check of every file
    read (see :func:`~frameloom.media.open_source`)."""
    from ..media import FrameSelection, open_source

    if not spec.input:
        raise UserError("the job has no input")
    selection = FrameSelection.from_proto(spec.frames) if spec.HasField("frames") else None
    with open_source(spec.input, selection, fps=fps, confine=confine) as source:
        indices = source.indices
        if indices is None:
            indices = [frame.index for frame in source]
    return list(indices)


def chunks_dir(spec, override: str | None = None) -> Path:
    """Where a job's chunks go: ``--chunks-dir``, else beside the output as ``<output>.chunks``
    (storage every node that renders or stitches must see)."""
    if override:
        return Path(os.path.abspath(override))
    if not spec.output:
        raise UserError("the job has no output (set output in the job file, or give -o)")
    from ..media.sequence import is_pattern

    base = os.path.abspath(spec.output).rstrip(os.sep)
    if is_pattern(base):
        base = os.path.dirname(base)
    return Path(f"{base}.chunks")


def farm_plan(job_path: str, chunks: list[Chunk], chunk: int, overlap: int, *,
              program: list[str], output: str | None = None, chunk_root: str | None = None,
              fps: Fraction | None = None) -> dict:
    """The task list (the public JSON shape) for ``chunks`` of the job file ``job_path``."""
    job = os.path.abspath(job_path)
    extra: list[str] = []
    if output:
        extra += ["-o", os.path.abspath(output)]
    if chunk_root:
        extra += ["--chunks-dir", os.path.abspath(chunk_root)]
    if fps:
        extra += ["--fps", f"{fps.numerator}/{fps.denominator}"]
    tasks = [{"frames": c.frames,
              "command": [*program, "render", job, "--frames", c.frames, "--overlap", str(overlap),
                          *extra]} for c in chunks]
    stitch = [*program, "stitch", job, "--chunk", str(chunk), "--overlap", str(overlap), *extra]
    return {"tasks": tasks, "stitch": stitch}


def split_program(text: str | None) -> list[str]:
    """``--program``: the command that starts frameloom on the farm's nodes (default
    ``frameloom``), e.g. ``/opt/frameloom/bin/frameloom`` or ``python -m frameloom.cli``."""
    words = shlex.split(text) if text else ["frameloom"]
    if not words:
        raise UserError("--program is empty")
    return words
