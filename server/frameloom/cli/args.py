"""Options several commands share, and the one step from parsed options to a JobSpec.

Options are named after the :func:`~frameloom_client.jobspec.build_spec` settings they set, so
``settings_from_args`` is a lookup, not a second builder. Defaults are ``None`` ("not given"), and
the help says what not giving one means.
"""
from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction

from frameloom_client.jobspec import SPEC_SETTINGS, build_spec, load_keyframes



def fps_arg(text: str) -> Fraction:
    try:
        value = Fraction(text) if "/" in text else Fraction(text).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"bad frame rate {text!r}; e.g. 24, 30000/1001") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("frame rate must be positive")
    return value


def key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def add_media_args(p: argparse.ArgumentParser, *, output: bool = True) -> None:
    """Options every job that reads and writes media shares."""
    p.add_argument("--frames", metavar="START-END[/STEP]", help="frame range, e.g. 100-219 or 0-99/2")
    p.add_argument("--fps", type=fps_arg, help="frame rate of image-sequence inputs (default 24)")
    if output:
        p.add_argument("-o", "--output", required=True,
                       help="output video (.mp4 H.264, .mov ProRes 422 HQ) or image-sequence folder")
        p.add_argument("--codec", choices=["auto", "h264", "prores", "png", "tiff"], default=None,
                       help="default auto: from the output path")
        p.add_argument("--crf", type=int, help="H.264 quality, 0-51, lower is better (default 18)")
        p.add_argument("--bit-depth", type=int, choices=[8, 16],
                       help="image-sequence bit depth (default: the source's; 16 for TIFF)")
        p.add_argument("--no-audio", action="store_true", help="do not copy the source audio")
        add_report_arg(p)


def add_report_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report", action="store_true", default=None,
                   help="also write a flicker report beside the output (OUT.report.html and "
                        "OUT.report.png: the warp error of every frame, the worst frames)")


def print_written(result, output) -> None:
    """What a finished job wrote, on stderr (stdout stays free for pipes)."""
    print(f"wrote {result.frames_written} frames to {output}", file=sys.stderr)
    if result.report is not None:
        print(f"wrote {result.report} and {result.report.with_suffix('.png')}", file=sys.stderr)


def add_temporal_args(p: argparse.ArgumentParser, *, default_on: bool = True) -> None:
    if default_on:
        p.add_argument("--no-deflicker", action="store_true",
                       help="skip the temporal deflicker (faster, flickers)")
    p.add_argument("--deflicker-mode", choices=["window", "fast"], default="window",
                   help="window: every neighbour in the window; fast: wide windows in "
                        "O(log w) matches per frame (default window)")
    p.add_argument("--window", type=int, help="deflicker window, +-frames (default 3; fast: 15)")
    p.add_argument("--guide-weight", type=float,
                   help="weight of the original frames in matching (default 10)")
    p.add_argument("--patch-size", type=int, help="PatchMatch patch size, odd (default 5)")
    p.add_argument("--iterations", type=int, help="PatchMatch iterations per level (default 4)")
    p.add_argument("--compensate", action="store_true",
                   help="restore contrast and sharpness lost to blending")


def settings_from_args(args: argparse.Namespace, **extra) -> dict:
    """The :func:`build_spec` settings that ``args`` hold (absent options are left out),
    with ``extra`` on top. Options whose shape differs from the setting are converted here."""
    s = {name: getattr(args, name) for name in SPEC_SETTINGS if getattr(args, name, None) is not None}
    if getattr(args, "param", None):
        s["params"] = dict(args.param)
    if getattr(args, "annotator", None):
        s["annotators"] = dict(args.annotator)
    for option, setting in (("controlnet", "controlnets"), ("lora", "loras"),
                            ("embedding", "embeddings")):
        if getattr(args, option, None):
            s[setting] = list(getattr(args, option))
    if getattr(args, "no_cross_frame", False):
        s["cross_frame"] = False
    if getattr(args, "deflicker_mode", None):
        s["deflicker"] = "none" if getattr(args, "no_deflicker", False) else args.deflicker_mode
    if getattr(args, "keyframes", None):
        s["keyframes"] = load_keyframes(args.keyframes)
    s.update(extra)
    return s


def spec_from_args(args: argparse.Namespace, **extra):
    """The JobSpec of a command line; its relative paths are made absolute from the current
    directory (job files saved from it hold them relative to themselves)."""
    return build_spec(settings_from_args(args, **extra), base_dir=os.getcwd())

