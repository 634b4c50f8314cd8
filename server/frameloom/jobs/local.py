"""Run a JobSpec on this machine, media paths in the spec: what the CLI and farm chunks use."""
from __future__ import annotations

import sys
import time
from fractions import Fraction

from ..errors import UserError
from ..media import FrameSelection, check_output, open_sink, open_source
from .runner import JobResult, run_job


def open_job_media(spec, *, fps: Fraction | None = None, output: str | None = None,
                   confine=None):
    """(source, sink) for a spec whose ``input`` and ``output`` are paths on this machine.
    ``output``: write there instead (a temporary name the caller renames); ``confine``: a
    server's check of every file the source reads."""
    if not spec.input:
        raise UserError("the job has no input")
    if not spec.output:
        raise UserError("the job has no output")
    check_output(spec.output, [spec.input])
    selection = FrameSelection.from_proto(spec.frames) if spec.HasField("frames") else None
    source = open_source(spec.input, selection, fps=fps, confine=confine)
    step = selection.step if selection else 1
    sink = open_sink(output or spec.output, source.info, spec.output_options,
                     audio_from=spec.input if source.info.kind == "video" and step == 1 else None,
                     fps=source.info.fps / step)
    return source, sink


def _bar(total, desc: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=desc, disable=quiet, file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5)


def progress_bar(total: int | None, desc: str, *, quiet: bool = False):
    """A tqdm bar on stderr, and the runner's progress callback that moves it."""
    bar = _bar(total, desc, quiet)

    def progress(done: int, total, stage: str) -> None:
        bar.update(done - bar.n)

    return bar, progress


def run_local(spec, *, fps: Fraction | None = None, quiet: bool = False, stylizer=None,
              span: tuple[int, int] | None = None) -> JobResult:
    """Run ``spec`` with a progress bar on stderr. Ctrl-C keeps finished frames. With
    ``output_options.report`` the flicker report is written beside the output afterwards.
    ``span``: only the job's frames in that range (numbered as in the whole job)."""
    source, sink = open_job_media(spec, fps=fps)
    indices = source.indices
    if span is not None and indices is not None:
        indices = [i for i in indices if span[0] <= i <= span[1]]
    bar, progress = progress_bar(len(indices) if indices is not None else None,
                                 spec.name or "stylize", quiet=quiet)
    started = time.monotonic()
    try:
        with source:
            result = run_job(spec, source, sink, stylizer=stylizer, progress=progress, span=span)
    finally:
        bar.close()
    if spec.output_options.report:
        result.report = _report(spec, result, time.monotonic() - started, fps, quiet)
    return result


def _report(spec, result: JobResult, seconds: float, fps, quiet: bool):
    from .report import write_job_report

    bar = _bar(result.frames_written, "report", quiet)
    try:
        report = write_job_report(spec, seconds=seconds, frames_done=result.frames_written,
                                  fps=fps, progress=lambda done, total: bar.update(done - bar.n))
    except UserError as exc:
        raise type(exc)(f"wrote {result.frames_written} frames to {spec.output}, but not the "
                        f"report: {exc}") from None
    finally:
        bar.close()
    return report.html
