"""The ``frameloom`` command's entry point: set the process up before anything heavy is imported.

The allocator settings are read only when a process starts, so this re-runs the command with
them first (:mod:`.allocator`); importing the CLI (numpy, gRPC) and torch comes after.
"""
from __future__ import annotations


def main() -> int:
    from . import allocator

    allocator.reexec_with_tunables()
    from .cli import main as cli_main

    return cli_main()
