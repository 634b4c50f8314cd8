"""A job's own flicker report (``output_options.report``): which clips it compares, and where
the page goes.

- A job with an output file (the CLI, farm chunks, a server's headless jobs) is measured after
  it finished, from its files, exactly as ``frameloom report`` would measure them: the source
  against the output, or for a deflicker job (``temporal.guide``) the original against the
  stylized input (before) and the output (after). The page goes beside the output.
- A streamed job has no files: :class:`StreamReport` taps the runner's source and sink and
  measures each frame as the runner hands it back, holding only the frames the runner itself
  still holds.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import UserError
from ..frames import Frame, from_float, to_float
from ..report import Report, ReportContext, report_beside, report_clips, version_names, write_report
from ..report.measure import Measurer

log = logging.getLogger(__name__)


def _settings_text(spec) -> str:
    """The job as a TOML job file, without embedded images (a page is no place for them)."""
    from ..spec import JobSpec, spec_to_toml

    shown = JobSpec()
    shown.CopyFrom(spec)
    for images in (shown.style.keyframe_images, shown.style.diffusion.reference_images):
        for image in images:
            if image.png:
                image.png = b""
                image.path = image.path or "(image sent with the job)"
    return spec_to_toml(shown)


def job_context(spec, *, seconds: float | None = None, frames_done: int | None = None,
                device: str = "") -> ReportContext:
    return ReportContext(job_toml=_settings_text(spec), job_name=spec.name, seconds=seconds,
                         frames_done=frames_done, device=device)


def job_clips(spec) -> tuple[str, list[str]]:
    """(the original footage, [the versions to measure]) of a job with media paths."""
    if spec.temporal.guide:
        return spec.temporal.guide, [spec.input, spec.output]
    return spec.input, [spec.output]


def write_job_report(spec, *, seconds: float | None = None, frames_done: int | None = None,
                     device: str = "", fps=None, confine=None, check_path=None,
                     progress=None) -> Report:
    """Measure a finished job's files and write its report beside its output. ``check_path``
    (a server's media-root check) vets where the page goes; ``confine`` every file read."""
    from ..media import FrameSelection

    html = report_beside(spec.output)
    if check_path is not None:
        html = Path(check_path(str(html)))
    source, versions = job_clips(spec)
    names = version_names([source, *versions])
    if spec.temporal.guide:
        names[1] += " (before)"
        names[2] += " (after)"
    selection = FrameSelection.from_proto(spec.frames) if spec.HasField("frames") else None
    return report_clips(source, versions, html, names=names, selection=selection, fps=fps,
                        context=job_context(spec, seconds=seconds, frames_done=frames_done,
                                            device=device),
                        progress=progress, confine=confine, title=None)


class StreamReport:
    """Measures a streamed job while it runs: wrap the runner's source with :meth:`source` and
    its sink with :meth:`sink`, then :meth:`write`. A frame the runner emits is paired with the
    source frame it came from (and the guide's, for a deflicker job); a failure here never fails
    the job, it only leaves the report out (:attr:`error`)."""

    def __init__(self, spec, *, first_index: int = 0, dtype=np.uint8, confine=None):
        self.spec = spec
        self._dtype = dtype   # what the client gets back: the report measures that
        self.error = ""
        self._pending: dict[int, Frame] = {}
        self._guide_frames: Iterator[Frame] | None = None
        self._guide = None
        names = ["sent frames", "stylized"]
        if spec.temporal.guide:
            from ..media import open_source
            from .runner import frames_from

            self._guide = open_source(spec.temporal.guide, confine=confine)
            self._guide_frames = iter(frames_from(self._guide, first_index))
            names = [version_names([spec.temporal.guide])[0], "sent frames (before)",
                     "deflickered (after)"]
        self._measurer = Measurer(names)

    def source(self, source) -> "_TappedSource":
        return _TappedSource(source, self)

    def sink(self, sink) -> "_TappedSink":
        return _TappedSink(sink, self)

    def _fail(self, exc: BaseException) -> None:
        if not self.error:
            self.error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            log.warning("the job's report is left out: %s", self.error)
        self._pending.clear()

    def _taken(self, frame: Frame) -> None:
        if not self.error:
            self._pending[frame.index] = frame

    def _made(self, frame: Frame) -> None:
        if self.error:
            return
        try:
            source = self._pending.pop(frame.index, None)
            if source is None:
                raise UserError(f"frame {frame.index} came back without its source frame")
            frames = [source, frame.with_image(to_float(from_float(frame.image, self._dtype)))]
            if self._guide_frames is not None:
                guide = next((g for g in self._guide_frames if g.index >= frame.index), None)
                if guide is None or guide.index != frame.index:
                    raise UserError(f"the guide clip has no frame {frame.index}")
                frames.insert(0, guide)
            self._measurer.add(frames)
        except Exception as exc:   # the frames are what matters: never fail the job for this
            self._fail(exc)

    def write(self, path: str | os.PathLike, context: ReportContext) -> Report | None:
        """Write the page (None, with :attr:`error` set, when it could not be made)."""
        self.close()
        if self.error:
            return None
        try:
            return write_report(self._measurer.result(), path, context)
        except Exception as exc:
            self._fail(exc)
            return None

    def close(self) -> None:
        if self._guide is not None:
            self._guide.close()
            self._guide = None


class _TappedSource:
    """The runner's source, telling the report about each frame as the runner takes it."""

    def __init__(self, inner, report: StreamReport):
        self._inner, self._report = inner, report

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __iter__(self) -> Iterator[Frame]:
        for frame in self._inner:
            self._report._taken(frame)
            yield frame


class _TappedSink:
    def __init__(self, inner, report: StreamReport):
        self._inner, self._report = inner, report

    def write(self, frame: Frame) -> None:
        self._inner.write(frame)
        self._report._made(frame)

    def close(self) -> None:
        self._inner.close()
