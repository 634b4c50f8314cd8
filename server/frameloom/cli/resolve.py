"""`frameloom resolve install` and `frameloom resolve uninstall`: the DaVinci Resolve panel."""
from __future__ import annotations

import sys

from ..errors import UserError


def add_parsers(sub) -> None:
    p = sub.add_parser("resolve", help="install the DaVinci Resolve panel",
                       description="The DaVinci Resolve bridge: a Workspace > Scripts panel that "
                                   "stylizes timeline clips on a frameloom server.")
    actions = p.add_subparsers(dest="resolve_command", metavar="ACTION", parser_class=type(p))
    actions.required = True
    i = actions.add_parser("install", help="install the panel for this user")
    i.add_argument("--scripts-dir", help="Resolve's Scripts folder (default: the per-user folder "
                                         "for this platform)")
    i.add_argument("--site-dir", help="folder for the bridge and its dependencies (default: "
                                      "frameloom's per-user data folder)")
    i.add_argument("--python", help="the Python Resolve runs scripts with, whose pip installs "
                                    "the dependencies (default: this Python)")
    i.add_argument("--no-deps", action="store_true",
                   help="do not install grpcio, protobuf, numpy and PyAV (Resolve's Python has them)")
    i.add_argument("--find-links", metavar="DIR", help="wheels folder for offline installs")
    i.add_argument("--no-index", action="store_true", help="do not use a package index")
    i.set_defaults(func=cmd_install)
    u = actions.add_parser("uninstall", help="remove the panel and its site folder")
    u.add_argument("--scripts-dir")
    u.add_argument("--site-dir")
    u.set_defaults(func=cmd_uninstall)


def _bridge():
    try:
        from frameloom_resolve import install
    except ImportError:
        raise UserError("the Resolve bridge is not installed: python -m pip install bridge/resolve "
                        "(frameloom-resolve)") from None
    return install


def cmd_install(args) -> int:
    install = _bridge()
    pip_args = (["--find-links", args.find_links] if args.find_links else []) + \
        (["--no-index"] if args.no_index else [])
    for line in install.install(args.scripts_dir, args.site_dir, python=args.python,
                                deps=not args.no_deps, pip_args=pip_args):
        print(line, file=sys.stderr)
    return 0


def cmd_uninstall(args) -> int:
    for line in _bridge().uninstall(args.scripts_dir, args.site_dir):
        print(line, file=sys.stderr)
    return 0
