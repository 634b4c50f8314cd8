"""The report as one self-contained HTML page: images inline as data URIs, styles inline, no
script, nothing fetched, so it opens offline in any browser and survives being mailed around.

The numbers are in the page twice: for people (the table), and as JSON in a
``<script type="application/json" id="frameloom-report">`` block (never executed) for tools that
read reports (a farm comparing chunks, the tests).
"""
from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass, field
from html import escape

import cv2
import numpy as np

from .. import __version__
from .measure import Measurements
from .plot import SCALE, SOURCE_COLOUR, UNIT, colour
from .warp import FLOW_MAX_SIDE, KNOWN_FLOW_TOLERANCE

DATA_ID = "frameloom-report"


@dataclass
class ReportContext:
    """What the report says about where the clips came from, beside the measurements."""

    paths: list[str] = field(default_factory=list)     # source, then each version
    fps: float | None = None
    seams: list[int] = field(default_factory=list)
    job_toml: str | None = None          # the job's settings
    job_name: str = ""
    seconds: float | None = None         # how long the job took
    frames_done: int | None = None       # frames it made
    device: str = ""


def data_uri(png_or_jpeg: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64,{base64.b64encode(png_or_jpeg).decode('ascii')}"


def _jpeg(image: np.ndarray) -> str:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 88])
    assert ok
    return data_uri(buf.tobytes(), "jpeg")


def _num(x: float) -> str:
    return "–" if x != x else f"{x * SCALE:.2f}"


def _summary(m: Measurements) -> list[str]:
    """One plain sentence per version: its mean, against the first version and the floor."""
    floor = m.stats(0)["mean"]
    base_name, base = m.versions[0], m.stats(1)["mean"]
    lines = []
    for v, name in enumerate(m.versions):
        mean = m.stats(v + 1)["mean"]
        parts = [f"<b style='color:{colour(v)}'>{escape(name)}</b>: mean warp error "
                 f"<b>{_num(mean)}</b> {UNIT}"]
        if floor > 0 and mean == mean:
            parts.append(f"{mean / floor:.1f}× the source's own")
        if v > 0 and base > 0 and mean == mean:
            change = (mean - base) / base * 100
            parts.append(f"{abs(change):.0f}% {'less' if change < 0 else 'more'} flicker than "
                         f"{escape(base_name)}")
        lines.append(", ".join(parts))
    return lines


def _table(m: Measurements, ctx: ReportContext) -> str:
    rows = []
    for row, name in enumerate(m.names):
        s = m.stats(row)
        worst = ", ".join(f"{f} ({_num(e)})" for f, e in s["worst"])
        swatch = SOURCE_COLOUR if row == 0 else colour(row - 1)
        label = f"{escape(name)}" + (" <small>itself (the floor)</small>" if row == 0 else "")
        path = escape(ctx.paths[row]) if row < len(ctx.paths) else ""
        rows.append(f"<tr><td><span class=sw style='background:{swatch}'></span>{label}"
                    f"<div class=path>{path}</div></td><td class=n>{_num(s['mean'])}</td>"
                    f"<td class=n>{_num(s['median'])}</td><td>{worst}</td></tr>")
    return ("<table class=stats><thead><tr><th>clip</th><th>mean</th><th>median</th>"
            f"<th>worst frames (error)</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<p class=note>Warp error in {UNIT} (mean squared error of RGB in [0, 1]); frame t "
            "stands for the pair t−1 → t.</p>")


def _seams(m: Measurements, seams: list[int]) -> str:
    if not seams:
        return ""
    cells = []
    for seam in seams:
        hit = np.nonzero(m.frames == seam)[0]
        values = []
        for v in range(len(m.versions)):
            e = m.errors[v + 1]
            if hit.size:
                median = np.nanmedian(e)
                ratio = e[hit[0]] / median if median > 0 else float("nan")
                values.append(f"{_num(e[hit[0]])} ({ratio:.1f}× median)")
            else:
                values.append("outside the clip")
        cells.append(f"<tr><td>{seam}</td>{''.join(f'<td>{x}</td>' for x in values)}</tr>")
    head = "".join(f"<th>{escape(n)}</th>" for n in m.versions)
    return (f"<h2>Seams</h2><table class=stats><thead><tr><th>seam (first frame of a chunk)</th>"
            f"{head}</tr></thead><tbody>{''.join(cells)}</tbody></table>"
            "<p class=note>The error of the pair that crosses each seam, against the version's "
            "median: well above 1× means the seam pops.</p>")


def _strip(m: Measurements, frames: list[int], caption, title: str, fill: bool = False) -> str:
    if not frames:
        return ""
    head = "".join(f"<th>{caption(f)}</th>" for f in frames)
    body = []
    for row, name in enumerate(m.names):
        cells = "".join(f"<td><img src='{_jpeg(m.thumbs[f][row])}' alt='{escape(name)}, frame {f}'></td>"
                        for f in frames if f in m.thumbs)
        body.append(f"<tr><th class=rowname>{escape(name)}</th>{cells}</tr>")
    kind = "strip fill" if fill else "strip"
    return (f"<h2>{title}</h2><div class=scroll><table class='{kind}'><thead><tr><th></th>{head}"
            f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _worst_caption(m: Measurements):
    by_frame: dict[int, list[str]] = {}
    for v, name in enumerate(m.versions):
        for f, e in m.stats(v + 1)["worst"]:
            by_frame.setdefault(f, []).append(f"<span style='color:{colour(v)}'>{escape(name)} "
                                              f"{_num(e)}</span>")
    return lambda f: f"frame {f}<br><small>{'<br>'.join(by_frame.get(f, []))}</small>"


def _job(ctx: ReportContext) -> str:
    if not ctx.job_toml and ctx.seconds is None:
        return ""
    out = ["<h2>The job</h2>"]
    if ctx.seconds is not None and ctx.frames_done:
        device = f" on {escape(ctx.device)}" if ctx.device else ""
        out.append(f"<p><b>{ctx.seconds / ctx.frames_done:.3f} s per frame</b> ({ctx.frames_done} "
                   f"frames in {ctx.seconds:.1f} s{device}).</p>")
    if ctx.job_toml:
        out.append(f"<pre>{escape(ctx.job_toml, quote=False)}</pre>")
    return "".join(out)


def _data(m: Measurements, ctx: ReportContext) -> str:
    data = {
        "frameloom": __version__, "measure": "warp error", "unit": "MSE of RGB in [0, 1]",
        "names": m.names, "paths": ctx.paths, "frames": m.frames.tolist(),
        "errors": [[None if x != x else round(float(x), 8) for x in row] for row in m.errors],
        "kept": [round(float(x), 4) for x in m.kept],
        "stats": [{"name": n, **m.stats(i)} for i, n in enumerate(m.names)],
        "seams": ctx.seams, "width": m.width, "height": m.height, "frame_count": m.frame_count,
        "seconds_per_frame": (ctx.seconds / ctx.frames_done
                              if ctx.seconds is not None and ctx.frames_done else None),
    }
    # No "<" at all inside the script element ("</script>" would end it, "<!--" confuse it);
    # JSON reads the escape back as the same character.
    return json.dumps(data, allow_nan=False).replace("<", "\\u003c")


_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d1d1f;
margin:0;background:#f5f5f7}
main{max-width:1160px;margin:0 auto;padding:24px 28px 40px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:30px 0 10px;border-bottom:1px solid #ddd;
padding-bottom:4px}
.sub{color:#555;margin:0 0 16px}.glance{background:#f0f4fa;border-left:4px solid #1f77b4;
padding:10px 14px;margin:14px 0}.glance p{margin:4px 0}
img.plot{width:100%;height:auto;display:block}
table.stats{border-collapse:collapse;margin:6px 0}table.stats td,table.stats th{padding:6px 12px;
border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}td.n{text-align:right;
font-variant-numeric:tabular-nums;font-weight:600}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:7px;
vertical-align:-1px}.path{color:#777;font-size:12px;word-break:break-all}
.note{color:#555;font-size:13px}.scroll{overflow-x:auto}
table.strip{border-collapse:collapse}table.strip th{font-weight:600;font-size:13px;
padding:2px 4px;text-align:left;vertical-align:bottom}table.strip td{padding:2px}
table.strip img{display:block;width:176px;height:auto}
table.fill{width:100%;table-layout:fixed}table.fill img{width:100%;max-width:176px}table.fill th.rowname{width:84px}
th.rowname{font-size:13px;padding-right:8px;text-align:right;vertical-align:middle;
overflow-wrap:anywhere}
pre{background:#f6f6f6;padding:10px 12px;overflow-x:auto;font-size:13px}
footer{color:#777;font-size:12px;margin-top:30px}
"""


def render_html(m: Measurements, plot_png: bytes, heat_png: bytes | None,
                ctx: ReportContext) -> str:
    """The page. ``plot_png``/``heat_png``: the figures of :mod:`.plot`."""
    source = m.names[0]
    span = f"frames {m.first_frame}–{int(m.frames[-1])}" if len(m.frames) else ""
    fps = f" · {ctx.fps:.3f} fps" if ctx.fps else ""
    title = f"Flicker report: {escape(ctx.job_name or ', '.join(m.versions))}"
    glance = "".join(f"<p>{line}</p>" for line in _summary(m))
    kept = float(np.mean(m.kept)) * 100 if len(m.kept) else 0.0
    worst = m.worst_frames()
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>{title}</title><style>{_STYLE}</style></head><body><main>",
        f"<h1>{title}</h1>",
        f"<p class=sub>Source <b>{escape(source)}</b> · {m.frame_count} frames ({span}) · "
        f"{m.width}×{m.height}{fps}</p>",
        f"<div class=glance>{glance}</div>",
        f"<img class=plot src='{data_uri(plot_png)}' alt='warp error per frame, one line per "
        "version'>",
        _table(m, ctx),
        _seams(m, ctx.seams),
        _strip(m, worst, _worst_caption(m), "The worst frames"),
        _strip(m, m.regular, lambda f: f"frame {f}", "Across the clip", fill=True),
    ]
    if heat_png is not None:
        parts.append("<h2>Where the worst pair flickers</h2>"
                     f"<img class=plot src='{data_uri(heat_png)}' alt='frames t-1 and t of each "
                     "version at its worst pair, and the residual between them'>"
                     "<p class=note>Bright: the pixel changed although the source's motion says it "
                     "should have stayed (flicker, or a detail the stylizer redrew). Grey: no "
                     "trustworthy motion there (occluded or leaving the frame), not counted.</p>")
    parts.append(
        "<h2>How this is measured</h2><p>For every pair of consecutive frames (t−1, t) the "
        "optical flow of the <b>source</b> says where each pixel of frame t was in frame t−1 "
        f"(OpenCV's DIS flow, estimated at up to {FLOW_MAX_SIDE} pixels on the long side). Each "
        "version's frame t−1 is warped along that flow onto frame t, and the warp error is the "
        "mean squared difference to its frame t, RGB in [0, 1], over the pixels where the flow "
        "is trustworthy: pixels whose forward and backward flows disagree (occlusions) or that "
        f"leave the frame are masked out; on average {kept:.0f}% of the pixels were compared. This "
        "is the definition frameloom's tests use on clips with known motion (Lai et al. 2018), "
        "with the flow estimated instead of known.</p>"
        f"<p><b>Accuracy.</b> On clips with known motion (photographs moved along known paths) "
        f"a clip's mean here is within {KNOWN_FLOW_TOLERANCE * SCALE:.2f} {UNIT} of the warp "
        "error computed with the exact flow (frameloom's test suite checks it). Errors in the "
        "flow add a small floor, which the source's own line shows: the source measured against "
        "its own motion. Differences smaller than that tolerance are not meaningful; a version "
        "close to the floor has no flicker left that this measure can see.</p>")
    parts.append(_job(ctx))
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    parts.append(f"<footer>Made by frameloom {escape(__version__)} on {stamp}.</footer>")
    parts.append(f"<script type='application/json' id='{DATA_ID}'>{_data(m, ctx)}</script>")
    parts.append("</main></body></html>")
    return "\n".join(p for p in parts if p)
