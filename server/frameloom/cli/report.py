"""``frameloom report SOURCE STYLED [OTHER ...] -o report.html``: how much each version flickers."""
from __future__ import annotations

import argparse
import sys

from ..errors import UserError
from .args import fps_arg

REPORT_HELP = ("Measure the flicker of stylized versions of a clip: for every pair of consecutive "
               "frames, the warp error of each version along the motion of SOURCE (OpenCV DIS "
               "flow, occlusions masked), as one self-contained HTML page with a plot, a table of "
               "the mean, median and worst frames, thumbnails and heat maps, and the plot as a "
               "PNG beside it.")


def seams_arg(text: str) -> list[int]:
    try:
        seams = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected frame numbers like 48,96, got {text!r}") from None
    if any(s < 0 for s in seams):
        raise argparse.ArgumentTypeError("seam frames are 0 or more")
    return seams


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="a flicker report: warp error per frame of stylized versions",
                       description=REPORT_HELP)
    p.add_argument("source", help="the original clip (video, image-sequence folder or pattern)")
    p.add_argument("versions", nargs="+", metavar="STYLED",
                   help="stylized versions of it, frame for frame (e.g. before and after "
                        "deflicker, or two settings)")
    p.add_argument("-o", "--output", required=True, metavar="REPORT.html",
                   help="the page to write; the plot goes beside it as REPORT.png")
    p.add_argument("--name", action="append", default=[], metavar="NAME",
                   help="what to call each STYLED on the plot, in order (default: file names)")
    p.add_argument("--frames", metavar="START-END[/STEP]",
                   help="the source frames to compare (a version as long as the source is "
                        "trimmed the same way; one as long as the range is taken whole)")
    p.add_argument("--fps", type=fps_arg, help="frame rate of image-sequence inputs (default 24)")
    p.add_argument("--seams", type=seams_arg, default=[], metavar="F,F,...",
                   help="frames where a new render chunk starts, marked on the plot (farm stitching)")
    p.add_argument("--job", metavar="JOB.toml", help="show this job file's settings in the report")
    p.add_argument("--title", help="the plot's title")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from tqdm import tqdm

    from ..media import parse_frame_range
    from ..report import ReportContext, report_clips, version_names
    from ..report.plot import SCALE, UNIT

    paths = [args.source, *args.versions]
    names = version_names(paths)
    if args.name:
        if len(args.name) != len(args.versions):
            raise UserError(f"{len(args.name)} --name for {len(args.versions)} stylized clips; "
                            "give one per STYLED, in order")
        names[1:] = args.name
    context = ReportContext()
    if args.job:
        from frameloom_client.jobspec import load_spec

        from ..jobs.report import job_context

        context = job_context(load_spec(args.job))
    selection = parse_frame_range(args.frames) if args.frames else None
    bars = []   # made at the first frame, once the inputs passed their checks

    def progress(done: int, total) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="frame", desc="report", disable=args.quiet,
                             file=sys.stderr, dynamic_ncols=True, mininterval=0.5))
        bars[0].update(done - bars[0].n)

    try:
        report = report_clips(args.source, args.versions, args.output, names=names,
                              selection=selection, fps=args.fps, seams=args.seams,
                              context=context, progress=progress, title=args.title)
    finally:
        for bar in bars:
            bar.close()
    m = report.measurements
    width = max(len(n) for n in m.names) + 10
    print(f"{'clip':{width}} {'mean':>7} {'median':>7}  worst frames")
    for row, name in enumerate(m.names):
        s = m.stats(row)
        label = f"{name} (source)" if row == 0 else name
        worst = ", ".join(f"{f} ({e * SCALE:.2f})" for f, e in s["worst"])
        print(f"{label:{width}} {s['mean'] * SCALE:7.2f} {s['median'] * SCALE:7.2f}  {worst}")
    print(f"warp error {UNIT}, lower is steadier; frame t is the pair t-1 -> t")
    print(f"wrote {report.html} and {report.png}", file=sys.stderr)
    return 0
