"""`frameloom blender build` and `frameloom blender install`: the Blender add-on's zips.

The add-on's source is the package ``frameloom_blender`` in ``bridge/blender/`` of a checkout
(an editable install finds it beside the engine); ``--source`` points elsewhere. The zips bundle
unmodified wheels downloaded with pip for each platform and CPython ABI Blender uses, cached under
``~/.cache/frameloom/wheels`` (``FRAMELOOM_CACHE``), plus the wheel of the client built from
``bridge/client``:

- ``frameloom_blender_legacy.zip`` (Blender 3.x-4.1, ``bl_info``): the wheels unpacked under
  ``frameloom_blender/_vendor/<abi>-<platform>/``; numpy too on Linux, for distributions'
  Blenders on a system Python without it (official builds bundle numpy).
- ``frameloom-<version>-<platform>-<abi>.zip`` (4.2+ extensions, id ``frameloom``): the manifest
  lists the wheels and Blender installs them; cp311 for Blender 4.2-5.0, cp313 for 5.1+.
"""
from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..errors import UserError

PLATFORMS = {   # Blender's platform name -> pip --platform tags (pip widens each to older ones)
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_11_0_arm64"],
    "macos-x64": ["macosx_11_0_x86_64"],
}
#: Pythons of legacy Blenders: 3.1-4.1 builds run 3.10; distributions' Linux packages run the
#: system Python (Debian 12: 3.11, Ubuntu 24.04: 3.12).
LEGACY_PYTHONS = {"linux-x64": ("3.10", "3.11", "3.12")}
LEGACY_DEFAULT_PYTHONS = ("3.10",)
#: Extension ABIs and the Blender versions that run them ([min, max)).
EXTENSION_PYTHONS = {"3.11": ("4.2.0", "5.1.0"), "3.13": ("5.1.0", None)}
LEGACY_NAME = "frameloom_blender_legacy.zip"
SOURCE_SUFFIXES = (".py", ".toml")


def add_parsers(sub) -> None:
    p = sub.add_parser("blender", help="build or install the Blender sequencer add-on",
                       description="The Blender Video Sequence Editor add-on.")
    bsub = p.add_subparsers(dest="blender_command", metavar="ACTION")
    bsub.required = True
    b = bsub.add_parser("build", help="write the legacy add-on zip and the extension zips")
    b.add_argument("-o", "--output", required=True, metavar="DIR")
    _zip_args(b)
    b.set_defaults(func=cmd_build)
    i = bsub.add_parser("install", help="install and enable the add-on in a local Blender")
    i.add_argument("--blender", help="blender executable, or the Python of a bpy module venv "
                                     "(default: blender on PATH)")
    _zip_args(i, for_install=True)
    i.set_defaults(func=cmd_install)


def _zip_args(p, for_install: bool = False) -> None:
    p.add_argument("--source", help="the add-on's source folder (default: bridge/blender/"
                                    "frameloom_blender of this checkout)")
    p.add_argument("--cache", default=os.environ.get("FRAMELOOM_CACHE",
                                                     os.path.expanduser("~/.cache/frameloom")),
                   help="download cache (default ~/.cache/frameloom)")
    if not for_install:
        p.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                       help="only these platforms (repeatable; default all)")
        p.add_argument("--python", action="append", metavar="X.Y",
                       help="only these CPython versions (repeatable; default each zip's own)")


# ---- sources ---------------------------------------------------------------------------------

def find_source(given: str | None = None) -> Path:
    candidates = [Path(given)] if given else []
    checkout = Path(__file__).resolve().parents[3]
    candidates.append(checkout / "bridge" / "blender" / "frameloom_blender")
    for c in candidates:
        if (c / "__init__.py").is_file() and (c / "blender_manifest.toml").is_file():
            return c.resolve()
    raise UserError("the Blender add-on source was not found (it lives in bridge/blender/"
                    "frameloom_blender of a frameloom checkout; pass --source DIR)")


def addon_version(source: Path) -> str:
    tree = ast.parse((source / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "bl_info" for t in node.targets):
            return ".".join(str(v) for v in ast.literal_eval(node.value)["version"])
    raise UserError(f"{source}/__init__.py has no bl_info version")


def _source_files(source: Path):
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_file() and path.suffix in SOURCE_SUFFIXES and "__pycache__" not in rel.parts \
                and rel.parts[0] != "_vendor":
            yield path, rel.as_posix()


# ---- wheels ----------------------------------------------------------------------------------

def _pins() -> dict[str, str]:
    """The grpcio and protobuf this engine runs with: the generated code is known to work there."""
    return {name: importlib.metadata.version(name) for name in ("grpcio", "protobuf")}


class WheelCache:
    """pip downloads by (requirement, platform, python), remembered in ``index.json`` so a
    second build needs no network."""

    def __init__(self, root: str):
        self.dir = Path(root) / "wheels"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index_path = self.dir / "index.json"
        try:
            self.index = json.loads(self.index_path.read_text())
        except (OSError, ValueError):
            self.index = {}

    def get(self, requirement: str, platform: str, python: str) -> Path:
        key = f"{requirement}|{platform}|{python}"
        name = self.index.get(key)
        if name and (self.dir / name).is_file():
            return self.dir / name
        with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
                   "--dest", tmp, requirement]
            for tag in PLATFORMS[platform]:
                cmd += ["--platform", tag]
            done = subprocess.run(cmd, capture_output=True, text=True)
            wheels = list(Path(tmp).glob("*.whl"))
            if done.returncode != 0 or len(wheels) != 1:
                last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
                raise UserError(f"cannot download {requirement} for {platform} Python {python}: "
                                f"{last}")
            target = self.dir / wheels[0].name
            shutil.move(str(wheels[0]), target)
        self.index[key] = target.name
        self.index_path.write_text(json.dumps(self.index, indent=1, sort_keys=True))
        return target


def client_wheel(source: Path, out: Path) -> Path:
    client = source.parent.parent / "client"
    if not (client / "pyproject.toml").is_file():
        raise UserError(f"the client's source is not at {client} (a frameloom checkout has it)")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                           "--no-build-isolation", str(client), "-w", str(out)],
                          capture_output=True, text=True)
    wheels = list(out.glob("frameloom_client-*.whl"))
    if done.returncode != 0 or not wheels:
        raise UserError(f"cannot build the frameloom-client wheel: "
                        f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return wheels[0]


def _wheels(cache: WheelCache, platform: str, python: str, numpy: bool) -> list[Path]:
    pins = _pins()
    reqs = [f"grpcio=={pins['grpcio']}", f"protobuf=={pins['protobuf']}", "typing_extensions"]
    if numpy:
        reqs.append("numpy>=1.24")
    return [cache.get(r, platform, python) for r in reqs]


# ---- zips ------------------------------------------------------------------------------------

def _write_legacy(path: Path, source: Path, sets: dict[str, list[Path]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for f, rel in _source_files(source):
            if rel != "blender_manifest.toml":
                z.write(f, f"frameloom_blender/{rel}")
        for folder, wheels in sets.items():
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as w:
                    for info in w.infolist():
                        if info.is_dir() or ".dist-info/" in info.filename:
                            continue
                        z.writestr(f"frameloom_blender/_vendor/{folder}/{info.filename}",
                                   w.read(info))


def manifest_text(source: Path, version: str, platform: str, python: str,
                  wheels: list[str]) -> str:
    text = (source / "blender_manifest.toml").read_text(encoding="utf-8")
    low, high = EXTENSION_PYTHONS[python]
    text = re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', text)
    text = re.sub(r'(?m)^blender_version_min = ".*"$', f'blender_version_min = "{low}"', text)
    extra = [f'blender_version_max = "{high}"'] if high else []
    extra.append(f'platforms = ["{platform}"]')
    extra.append("wheels = [\n" + "".join(f'  "./wheels/{w}",\n' for w in wheels) + "]")
    head, sep, tail = text.partition("\n[permissions]")
    return head.rstrip("\n") + "\n" + "\n".join(extra) + "\n" + sep + tail


def _write_extension(path: Path, source: Path, version: str, platform: str, python: str,
                     wheels: list[Path]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for f, rel in _source_files(source):
            if rel == "blender_manifest.toml":
                z.writestr(rel, manifest_text(source, version, platform, python,
                                              [w.name for w in wheels]))
            else:
                z.write(f, rel)
        for w in wheels:
            z.write(w, f"wheels/{w.name}")


def build(output: str, *, source: str | None = None, cache: str, platforms=None,
          pythons=None) -> list[Path]:
    src = find_source(source)
    version = addon_version(src)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    platforms = platforms or sorted(PLATFORMS)
    wc = WheelCache(cache)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        client = client_wheel(src, Path(tmp))
        sets = {}
        for plat in platforms:
            for py in LEGACY_PYTHONS.get(plat, LEGACY_DEFAULT_PYTHONS):
                if pythons and py not in pythons:
                    continue
                abi = "cp" + py.replace(".", "")
                sets[f"{abi}-{plat}"] = _wheels(wc, plat, py, numpy=False) + [client]
                if plat.startswith("linux"):
                    sets[f"{abi}-{plat}-numpy"] = [wc.get("numpy>=1.24", plat, py)]
        if sets:
            _write_legacy(out / LEGACY_NAME, src, sets)
            written.append(out / LEGACY_NAME)
        for plat in platforms:
            for py in EXTENSION_PYTHONS:
                if pythons and py not in pythons:
                    continue
                abi = "cp" + py.replace(".", "")
                path = out / f"frameloom-{version}-{plat}-{abi}.zip"
                _write_extension(path, src, version, plat, py,
                                 _wheels(wc, plat, py, numpy=False) + [client])
                written.append(path)
    if not written:
        raise UserError("nothing to build for those --platform/--python choices")
    return written


def cmd_build(args) -> int:
    for path in build(args.output, source=args.source, cache=args.cache, platforms=args.platform,
                      pythons=args.python):
        print(f"wrote {path}", file=sys.stderr)
    return 0


# ---- install ---------------------------------------------------------------------------------

INSTALL_SCRIPT = """
import bpy, sys
path = sys.argv[sys.argv.index("--") + 1]
if bpy.app.version >= (4, 2, 0):
    bpy.ops.extensions.package_install_files(filepath=path, repo="user_default",
                                             enable_on_install=True)
else:
    bpy.ops.preferences.addon_install(filepath=path, overwrite=True)
    bpy.ops.preferences.addon_enable(module="frameloom_blender")
bpy.ops.wm.save_userpref()
print("FRAMELOOM_INSTALLED", bpy.app.version_string)
"""

VERSION_SCRIPT = "import bpy, sys; print('FRAMELOOM_BLENDER', *bpy.app.version, " \
                 "*sys.version_info[:2])"


def _runner(blender: str, script: str, *args: str) -> list[str]:
    if Path(blender).name.startswith("python"):      # the bpy module in a Python venv
        return [blender, "-c", script, "--", *args]
    # Not --factory-startup: the preferences saved afterwards must be the user's own, plus this.
    return [blender, "-b", "--python-expr", script, "--", *args]


def _run_blender(cmd: list[str], marker: str) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except OSError as exc:
        raise UserError(f"cannot run {cmd[0]}: {exc.strerror}") from None
    for line in done.stdout.splitlines():
        if line.startswith(marker):
            return line[len(marker):].strip()
    tail = [t for t in (done.stdout + done.stderr).splitlines() if t.strip()][-1:] or ["no output"]
    raise UserError(f"{cmd[0]} failed: {tail[0]}")


def cmd_install(args) -> int:
    blender = args.blender or shutil.which("blender")
    if not blender:
        raise UserError("no blender on PATH; pass --blender PATH")
    major, minor, _, py_major, py_minor = map(int, _run_blender(
        _runner(blender, VERSION_SCRIPT), "FRAMELOOM_BLENDER").split())
    python = f"{py_major}.{py_minor}"
    plat = _this_platform()
    with tempfile.TemporaryDirectory() as tmp:
        legacy = (major, minor) < (4, 2)
        if not legacy and python not in EXTENSION_PYTHONS:
            raise UserError(f"Blender {major}.{minor} runs Python {python}; the extension is "
                            f"built for {', '.join(EXTENSION_PYTHONS)}")
        paths = build(tmp, source=args.source, cache=args.cache, platforms=[plat],
                      pythons=[python])
        zip_path = next(p for p in paths if (p.name == LEGACY_NAME) == legacy)
        line = _run_blender(_runner(blender, INSTALL_SCRIPT, str(zip_path)), "FRAMELOOM_INSTALLED")
    print(f"installed {zip_path.name} into Blender {line}", file=sys.stderr)
    return 0


def _this_platform() -> str:
    import platform

    system = {"linux": "linux", "win32": "windows", "darwin": "macos"}[sys.platform]
    arch = {"x86_64": "x64", "amd64": "x64", "arm64": "arm64", "aarch64": "arm64"}[
        platform.machine().lower()]
    return f"{system}-{arch}"
