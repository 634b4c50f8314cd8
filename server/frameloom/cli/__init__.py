"""The ``frameloom`` command: one module per command family, shared options in :mod:`.args`.

Every subcommand builds a JobSpec with :func:`frameloom_client.jobspec.build_spec` (the builder
job files and every bridge share) and runs it through the one runner. A user mistake prints one
line and exits 2; Ctrl-C stops cleanly, keeps the frames already written and exits 130. Nothing
below the CLI imports it.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__, threads
from ..errors import Cancelled, UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

#: Command families, each a module with ``add_parsers(sub)``; a module that is missing (an
#: optional part not installed) is left out of the command.
COMMAND_MODULES = ("core", "temporal", "service", "farm", "report", "blender", "resolve")

LOG_FORMAT = "%(asctime)s frameloom %(levelname)s %(name)s: %(message)s"
LOG_DATE = "%Y-%m-%d %H:%M:%S"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, like every other frameloom error."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Subcommands:
    """``sub.add_parser`` that gives every subcommand the options all of them take, so
    ``frameloom stylize ... -v`` works as well as ``frameloom -v stylize ...``."""

    def __init__(self, sub, common: argparse.ArgumentParser):
        self._sub, self._common = sub, common

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        kwargs.setdefault("parents", []).append(self._common)
        return self._sub.add_parser(name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="frameloom", description="Temporally consistent video stylization.")
    parser.add_argument("--version", action="version", version=f"frameloom {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log details, and tracebacks of errors")
    parser.add_argument("--threads", metavar="N", default=None,
                        help="CPU threads to compute with (default auto; or FRAMELOOM_THREADS)")
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own -v must not reset one given before the subcommand.
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log details, and tracebacks of errors")
    common.add_argument("--threads", metavar="N", default=argparse.SUPPRESS,
                        help="CPU threads to compute with (default auto: the cores no other "
                             "process is using; or FRAMELOOM_THREADS)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    commands = _Subcommands(sub, common)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.add_parsers(commands)
    return parser


def setup_logging(level: int) -> None:
    """Timestamped lines on stderr. A process calls ``main`` once; a second call (tests) keeps
    the first handler and only changes the level."""
    logging.basicConfig(level=level, format=LOG_FORMAT, datefmt=LOG_DATE)
    logging.getLogger().setLevel(level)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = getattr(args, "log_level", None)
    setup_logging(logging.INFO if args.verbose else
                  getattr(logging, level.upper()) if level else logging.WARNING)
    try:
        threads.configure(args.threads)   # before anything imports torch
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
