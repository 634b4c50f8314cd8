"""The ``frameloom`` command.

Every subcommand builds a JobSpec (the same message a job file or a gRPC client sends) and runs it
through the one runner. A user mistake prints one line and exits 2; Ctrl-C stops cleanly, keeps
the frames already written and exits 130.
"""
from __future__ import annotations

import argparse
import logging
import sys
from fractions import Fraction

from . import __version__
from .errors import Cancelled, UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, like every other frameloom error."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _fps(text: str) -> Fraction:
    try:
        value = Fraction(text) if "/" in text else Fraction(text).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"bad frame rate {text!r}; e.g. 24, 30000/1001") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("frame rate must be positive")
    return value


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def add_media_args(p: argparse.ArgumentParser, *, output: bool = True) -> None:
    """Options every job that reads and writes media shares."""
    p.add_argument("--frames", metavar="START-END[/STEP]", help="frame range, e.g. 100-219 or 0-99/2")
    p.add_argument("--fps", type=_fps, help="frame rate of image-sequence inputs (default 24)")
    if output:
        p.add_argument("-o", "--output", required=True,
                       help="output video (.mp4 H.264, .mov ProRes 422 HQ) or image-sequence folder")
        p.add_argument("--codec", choices=["auto", "h264", "prores", "png", "tiff"], default="auto")
        p.add_argument("--crf", type=int, default=0, help="H.264 quality (default 18; lower is better)")
        p.add_argument("--bit-depth", type=int, choices=[8, 16], help="image-sequence bit depth")
        p.add_argument("--no-audio", action="store_true", help="do not copy the source audio")


def add_temporal_args(p: argparse.ArgumentParser, *, default_on: bool = True) -> None:
    if default_on:
        p.add_argument("--no-deflicker", action="store_true",
                       help="skip the temporal deflicker (faster, flickers)")
    p.add_argument("--deflicker-mode", choices=["window", "fast"], default="window")
    p.add_argument("--window", type=int, default=0, help="deflicker window, +-frames")
    p.add_argument("--guide-weight", type=float, help="weight of the original frames in matching")
    p.add_argument("--patch-size", type=int, default=0)
    p.add_argument("--iterations", type=int, default=0, help="PatchMatch iterations per level")
    p.add_argument("--compensate", action="store_true",
                   help="restore contrast and sharpness lost to blending")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="frameloom", description="Temporally consistent video stylization.")
    parser.add_argument("--version", action="version", version=f"frameloom {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (and tracebacks)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    from . import commands

    commands.add_parsers(sub)
    for module in ("frameloom.temporal.cli", "frameloom.service.cli"):
        try:
            mod = __import__(module, fromlist=["add_parsers"])
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="frameloom: %(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        if args.verbose:
            raise
        print(f"frameloom: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Cancelled as exc:
        kept = exc.args[0] if exc.args else 0
        print(f"frameloom: interrupted; kept {kept} finished frames", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("frameloom: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
