"""Reaching Resolve: the live ``resolve`` of a Workspace > Scripts script, or Studio's external
scripting through ``fusionscript``.

The stock ``DaVinciResolveScript`` module loads ``fusionscript`` with ``imp.load_dynamic``, and
``imp`` is gone from Python 3.12; this loader uses ``importlib`` and works on 3.9 and later. Every
way of not getting a Resolve ends in :class:`ResolveUnavailable` with what to do about it, never
in an ``'NoneType' object has no attribute`` later on.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Mapping
from typing import Any

from .errors import ResolveUnavailable

#: Where Resolve installs ``fusionscript`` (the README's RESOLVE_SCRIPT_LIB values).
DEFAULT_LIBRARIES = {
    "darwin": ["/Applications/DaVinci Resolve/DaVinci Resolve.app/Contents/Libraries/Fusion/"
               "fusionscript.so"],
    "win32": [r"C:\Program Files\Blackmagic Design\DaVinci Resolve\fusionscript.dll"],
    "linux": ["/opt/resolve/libs/Fusion/fusionscript.so",
              "/home/resolve/libs/Fusion/fusionscript.so"],
}

EXTERNAL_HINT = ("start DaVinci Resolve Studio and set Preferences > System > General > "
                 "External scripting using to Local (the free edition only runs scripts from "
                 "Workspace > Scripts)")


def library_candidates(env: Mapping[str, str] | None = None, platform: str | None = None) -> list[str]:
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if env.get("RESOLVE_SCRIPT_LIB"):
        return [env["RESOLVE_SCRIPT_LIB"]]
    key = "linux" if platform.startswith("linux") else platform
    return list(DEFAULT_LIBRARIES.get(key, []))


def load_fusionscript(env: Mapping[str, str] | None = None, platform: str | None = None):
    """The ``fusionscript`` extension module, loaded with importlib (no ``imp``)."""
    candidates = library_candidates(env, platform)
    present = [p for p in candidates if os.path.isfile(p)]
    if not present:
        where = ", ".join(candidates) or "(no default for this platform)"
        raise ResolveUnavailable(f"DaVinci Resolve's scripting library was not found ({where}); "
                                 "install Resolve or set RESOLVE_SCRIPT_LIB to its fusionscript "
                                 "library")
    path = present[0]
    loader = importlib.machinery.ExtensionFileLoader("fusionscript", path)
    spec = importlib.util.spec_from_file_location("fusionscript", path, loader=loader)
    try:
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    except (ImportError, OSError) as exc:
        raise ResolveUnavailable(f"cannot load Resolve's scripting library {path}: {exc} (a 64-bit "
                                 "Python of a version Resolve supports is needed)") from None
    return module


def resolve_from_module(module) -> Any:
    """``module.scriptapp("Resolve")`` or a clear error: it answers None when Resolve is not
    running or does not allow external scripts."""
    scriptapp = getattr(module, "scriptapp", None)
    if scriptapp is None:
        raise ResolveUnavailable(f"{getattr(module, '__file__', module)} is not Resolve's scripting "
                                 "library (it has no scriptapp)")
    resolve = scriptapp("Resolve")
    if resolve is None:
        raise ResolveUnavailable(f"DaVinci Resolve did not answer: {EXTERNAL_HINT}")
    return resolve


def resolve_from_globals(namespace: Mapping[str, Any]) -> Any:
    """The Resolve a Workspace > Scripts script was started with: its ``resolve`` global, else
    ``app.GetResolve()`` or ``bmd.scriptapp("Resolve")``. Resolve may put these in the script's
    globals or in builtins; both are looked at."""
    import builtins

    namespace = {name: namespace.get(name, getattr(builtins, name, None))
                 for name in ("resolve", "app", "bmd")}
    resolve = namespace.get("resolve")
    if resolve is None and namespace.get("app") is not None:
        getter = getattr(namespace["app"], "GetResolve", None)
        resolve = getter() if callable(getter) else None
    if resolve is None and namespace.get("bmd") is not None:
        resolve = namespace["bmd"].scriptapp("Resolve")
    if resolve is None:
        raise ResolveUnavailable("this script was not started by DaVinci Resolve (no resolve, app "
                                 "or bmd global); run it from Workspace > Scripts")
    return resolve


def connect(resolve=None) -> Any:
    """``resolve`` itself when given, else Resolve through external scripting."""
    if resolve is not None:
        return resolve
    return resolve_from_module(load_fusionscript())


def current_project_and_timeline(resolve) -> tuple[Any, Any]:
    manager = resolve.GetProjectManager()
    if manager is None:
        raise ResolveUnavailable("Resolve has no project manager open (is a database connected?)")
    project = manager.GetCurrentProject()
    if project is None:
        raise ResolveUnavailable("no project is open in Resolve")
    timeline = project.GetCurrentTimeline()
    if timeline is None:
        raise ResolveUnavailable("the project has no current timeline; open one on the Edit page")
    return project, timeline
