"""Flicker reports: how much temporal flicker each stylized version of a clip has, and where.

::

    from frameloom.report import report_clips
    report = report_clips("shot.mov", ["styled.mov", "deflickered.mov"], "report.html",
                          seams=[48, 96])          # a farm's chunk boundaries, marked on the plot
    report.html, report.png, report.measurements.stats(1)

For every pair of consecutive frames the warp error of each version is measured along the
source's own motion (:mod:`.warp`), in one streamed pass (:mod:`.measure`), drawn with matplotlib
(:mod:`.plot`) and written as one self-contained HTML page (:mod:`.html`) with the plot beside it
as a PNG. Nothing here speaks gRPC or runs a job: the CLI, the runner and the server call it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..errors import OutputError, UserError
from ..frames import Frame
from .html import DATA_ID, ReportContext, render_html
from .measure import Measurements, check_same_shape, measure
from .plot import error_plot, heat_maps

__all__ = ["DATA_ID", "Report", "ReportContext", "Measurements", "measure", "report_clips",
           "report_paths", "report_beside", "version_names", "write_report"]


@dataclass
class Report:
    html: Path
    png: Path
    measurements: Measurements


def report_paths(output: str | os.PathLike) -> tuple[Path, Path]:
    """(the HTML page, the plot PNG beside it) for ``-o report.html``."""
    html = Path(output)
    if html.suffix.lower() not in (".html", ".htm"):
        raise OutputError(f"a report is an HTML page: give -o NAME.html, not {output}")
    return html, html.with_suffix(".png")


def report_beside(output: str | os.PathLike) -> Path:
    """Where a job's report goes: beside its output, never inside an image-sequence folder
    (whose readers would take the PNG for a frame). ``out.mov`` -> ``out.report.html``,
    ``renders/sh010/`` or ``renders/sh010/f_%04d.png`` -> ``renders/sh010.report.html``."""
    from ..media import is_video_path
    from ..media.sequence import is_pattern

    path = Path(os.path.abspath(output))
    if is_video_path(str(path)):
        return path.with_name(f"{path.stem}.report.html")
    folder = path.parent if is_pattern(str(path)) else path
    return folder.with_name(f"{folder.name}.report.html")


def version_names(paths: Sequence[str], names: Sequence[str] = ()) -> list[str]:
    """Names for the plot: those given, else each path's file name, with as much of its folder
    as it takes to tell equal file names apart."""
    if names:
        if len(names) != len(paths):
            raise UserError(f"{len(names)} names for {len(paths)} clips; give one --name per clip")
        return list(names)
    parts = [Path(os.path.abspath(p)).parts for p in paths]
    depth = 1
    while True:
        out = [os.path.join(*p[-depth:]) for p in parts]
        if len(set(out)) == len(out) or depth >= max(len(p) for p in parts):
            return out
        depth += 1


def _write_new(path: Path, data: bytes) -> None:
    from ..media.info import create_new_file

    with create_new_file(str(path)) as f:
        f.write(data)


def write_report(m: Measurements, output: str | os.PathLike, context: ReportContext | None = None,
                 *, title: str | None = None) -> Report:
    """Draw ``m`` and write the page and its plot. Whatever sat at those paths is replaced (a
    planted link is removed, never written through)."""
    context = context or ReportContext()
    html, png = report_paths(output)
    if not html.parent.is_dir():
        html.parent.mkdir(parents=True, exist_ok=True)
    plot = error_plot(m, seams=context.seams, title=title)
    page = render_html(m, plot, heat_maps(m), context)
    try:
        _write_new(png, plot)
        _write_new(html, page.encode("utf-8"))
    except OSError as exc:
        raise OutputError(f"cannot write the report {html}: {exc.strerror or exc}") from None
    return Report(html, png, m)


def _open_versions(source, paths: Sequence[str], names: Sequence[str], selection, fps, confine):
    """Each version, frame for frame with the selected source frames: a version as long as the
    selection is read whole; one as long as the whole source takes the same selection."""
    from ..media import open_source

    selected, full = _count(source), source.info.frame_count
    opened = []
    try:
        for path, name in zip(paths, names):
            clip = open_source(path, fps=fps, confine=confine)
            opened.append(clip)
            count = _count(clip)
            if selection is None or count is None or count == selected:
                continue
            if count != full:
                raise UserError(f"{name} has {count} frames: neither the {full} of {names[0]} nor "
                                f"the {selected} of the frame range")
            clip.close()
            opened[-1] = open_source(path, selection, fps=fps, confine=confine)
    except BaseException:
        for clip in opened:
            clip.close()
        raise
    return opened


def report_clips(source: str, versions: Sequence[str], output: str | os.PathLike, *,
                 names: Sequence[str] = (), selection=None, fps: Fraction | None = None,
                 seams: Iterable[int] = (), context: ReportContext | None = None,
                 progress: Callable[[int, "int | None"], None] | None = None,
                 confine=None, title: str | None = None) -> Report:
    """Measure ``versions`` (paths of stylized clips) against ``source`` (the original) and write
    the report at ``output`` (``NAME.html``; the plot goes to ``NAME.png``).

    ``selection``: a :class:`~frameloom.media.FrameSelection` of the source (the plot keeps the
    source's numbering). ``seams``: frames where a new chunk starts (farm stitching), marked on
    the plot and tabled. ``fps``: the rate of image sequences. ``confine``: the check every file
    read must pass (a server's media roots)."""
    from ..media import open_source
    from ..threads import Rebalancer

    if not versions:
        raise UserError("a report needs at least one stylized version of the source")
    html, _ = report_paths(output)
    names = version_names([source, *versions], names)
    context = context or ReportContext()
    context.seams = sorted({int(s) for s in (*context.seams, *seams)})
    context.paths = context.paths or [os.path.abspath(p) for p in (source, *versions)]
    with open_source(source, selection, fps=fps, confine=confine) as src:
        clips = _open_versions(src, versions, names, selection, fps, confine)
        try:
            infos = [(n, c.info.width, c.info.height, _count(c)) for n, c in zip(names, [src, *clips])]
            check_same_shape(infos)
            context.fps = context.fps or float(src.info.fps)
            threads = Rebalancer()
            m = measure(src, clips, names, total=infos[0][3], progress=progress,
                        between_pairs=threads.apply)
        finally:
            for clip in clips:
                clip.close()
    return write_report(m, html, context, title=title)


def _count(clip) -> int | None:
    indices = clip.indices
    return None if indices is None else len(indices)


def frames_of(images: Iterable, first: int = 0, fps: float = 24.0) -> Iterable[Frame]:
    """Frames numbered from ``first`` for in-memory images (``(H, W, 3)`` uint8/uint16/float)."""
    from ..frames import to_float

    for i, image in enumerate(images):
        yield Frame(first + i, (first + i) / fps, to_float(image))
