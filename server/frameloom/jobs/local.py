"""Run a JobSpec on this machine, media paths in the spec: what the CLI and farm chunks use."""
from __future__ import annotations

import sys
from fractions import Fraction

from ..errors import UserError
from ..media import FrameSelection, check_output, open_sink, open_source
from .runner import JobResult, run_job


def open_job_media(spec, *, fps: Fraction | None = None):
    """(source, sink) for a spec whose ``input`` and ``output`` are paths on this machine."""
    if not spec.input:
        raise UserError("the job has no input")
    if not spec.output:
        raise UserError("the job has no output")
    check_output(spec.output, [spec.input])
    selection = FrameSelection.from_proto(spec.frames) if spec.HasField("frames") else None
    source = open_source(spec.input, selection, fps=fps)
    step = selection.step if selection else 1
    sink = open_sink(spec.output, source.info, spec.output_options,
                     audio_from=spec.input if source.info.kind == "video" and step == 1 else None,
                     fps=source.info.fps / step)
    return source, sink


def run_local(spec, *, fps: Fraction | None = None, quiet: bool = False, stylizer=None) -> JobResult:
    """Run ``spec`` with a progress bar on stderr. Ctrl-C keeps finished frames."""
    from tqdm import tqdm

    source, sink = open_job_media(spec, fps=fps)
    indices = source.indices
    bar = tqdm(total=len(indices) if indices is not None else None, unit="frame",
               desc=spec.name or "stylize", disable=quiet, file=sys.stderr, dynamic_ncols=True,
               mininterval=0.5)

    def progress(done: int, total, stage: str) -> None:
        bar.update(done - bar.n)

    try:
        with source:
            return run_job(spec, source, sink, stylizer=stylizer, progress=progress)
    finally:
        bar.close()
