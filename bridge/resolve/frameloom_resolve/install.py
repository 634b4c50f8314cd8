"""Installing the panel for a user: the script in Resolve's per-user Scripts folder, and the bridge
with the client (and their dependencies, for the Python Resolve runs) in a site folder of its own.

Resolve runs scripts with a Python installed on the machine (3.6+; bundled from 21.1), not with
the environment ``frameloom`` is installed in, so the panel script puts its own site folder first
on ``sys.path``. frameloom's two pure-Python packages are copied there; grpcio, protobuf, numpy
and PyAV are compiled, so they are installed by that Python's own pip (``--python``) with
``--target``. ``--no-deps`` skips that when Resolve's Python already has them.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import BridgeError

PANEL_FILE = "frameloom.py"
MARKER_FILE = ".frameloom-resolve.json"
PACKAGES = ("frameloom_client", "frameloom_resolve")
#: Beyond the client's own requirements: PyAV decodes source frames for streamed clips.
EXTRA_REQUIREMENTS = ("av>=12",)
PANEL_TAG = "# frameloom panel for DaVinci Resolve"

PANEL_SCRIPT = '''{tag} (Workspace > Scripts > frameloom).
# Written by `frameloom resolve install`; `frameloom resolve uninstall` removes it.
import sys

SITE = {site!r}
if SITE not in sys.path:
    sys.path.insert(0, SITE)
try:
    from frameloom_resolve.ui import run_panel
except ImportError as exc:
    print("frameloom: cannot load the bridge from %s: %s (run `frameloom resolve install` "
          "again, with --python set to the Python Resolve uses)" % (SITE, exc))
else:
    run_panel(globals())
'''


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())


def scripts_dir(platform: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Resolve's per-user Scripts folder, as its scripting README gives it. (The README writes
    ``%APPDATA%\\Roaming\\...`` on Windows; %APPDATA% already ends in Roaming.)"""
    platform, env = platform or sys.platform, os.environ if env is None else env
    if platform == "darwin":
        return _home(env) / "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts"
    if platform == "win32":
        appdata = env.get("APPDATA") or str(_home(env) / "AppData" / "Roaming")
        return Path(appdata) / "Blackmagic Design" / "DaVinci Resolve" / "Support" / "Fusion" / "Scripts"
    return _home(env) / ".local/share/DaVinciResolve/Fusion/Scripts"


def site_dir(platform: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """frameloom's own per-user folder for the bridge and its dependencies."""
    platform, env = platform or sys.platform, os.environ if env is None else env
    if platform == "darwin":
        return _home(env) / "Library/Application Support/frameloom/resolve/site"
    if platform == "win32":
        appdata = env.get("APPDATA") or str(_home(env) / "AppData" / "Roaming")
        return Path(appdata) / "frameloom" / "resolve" / "site"
    data = env.get("XDG_DATA_HOME") or str(_home(env) / ".local" / "share")
    return Path(data) / "frameloom" / "resolve" / "site"


def requirements() -> list[str]:
    """What the copied packages need, with their environment markers, for the target's pip."""
    reqs = [r for r in (importlib.metadata.requires("frameloom-client") or [])
            if "extra ==" not in r]
    return reqs + [r for r in EXTRA_REQUIREMENTS if r not in reqs]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise BridgeError(f"{name} is not installed here (pip install bridge/client bridge/resolve)")
    return Path(list(spec.submodule_search_locations)[0])


def install(scripts: Path | None = None, site: Path | None = None, *, python: str | None = None,
            deps: bool = True, pip_args: Sequence[str] = ()) -> list[str]:
    """Install the panel; returns what was done, line by line. Nothing is written to the
    Scripts folder unless the site folder is complete."""
    scripts = Path(scripts) if scripts else scripts_dir()
    site = Path(site) if site else site_dir()
    python = python or sys.executable
    done = []
    site.mkdir(parents=True, exist_ok=True)
    if deps:
        command = [python, "-m", "pip", "install", "--upgrade", "--target", str(site),
                   "--no-user", *pip_args, *requirements()]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BridgeError(f"{python} -m pip could not install the dependencies into {site}: "
                              f"{tail[0]} (--no-deps if Resolve's Python has them already)")
        done.append(f"installed {', '.join(requirements())} for {python} into {site}")
    for name in PACKAGES:
        target = site / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(_package_dir(name), target,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    done.append(f"copied {', '.join(PACKAGES)} into {site}")
    (site / MARKER_FILE).write_text(json.dumps({
        "frameloom_resolve": importlib.metadata.version("frameloom-resolve"),
        "python": python, "dependencies": requirements() if deps else []}, indent=2))
    utility = scripts / "Utility"
    utility.mkdir(parents=True, exist_ok=True)
    panel = utility / PANEL_FILE
    panel.write_text(PANEL_SCRIPT.format(tag=PANEL_TAG, site=str(site)), encoding="utf-8")
    done.append(f"wrote {panel}")
    done.append("restart Resolve (it lists scripts at startup), then open Workspace > Scripts > "
                "frameloom; the free edition runs Python scripts up to 21.0, Studio always")
    return done


def uninstall(scripts: Path | None = None, site: Path | None = None) -> list[str]:
    scripts = Path(scripts) if scripts else scripts_dir()
    site = Path(site) if site else site_dir()
    done = []
    panel = scripts / "Utility" / PANEL_FILE
    if panel.is_file() and panel.read_text(encoding="utf-8", errors="replace").startswith(PANEL_TAG):
        panel.unlink()
        done.append(f"removed {panel}")
    if (site / MARKER_FILE).is_file():
        shutil.rmtree(site)
        done.append(f"removed {site}")
    return done or ["nothing to remove: the panel is not installed there"]
