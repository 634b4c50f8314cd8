"""Make the bundled client and its dependencies importable, before anything imports them.

The extension (Blender 4.2+) lists its wheels in ``blender_manifest.toml`` and Blender installs
them; nothing happens here. The legacy add-on zip carries the same wheels unpacked under
``_vendor/<abi>-<platform>/`` (grpcio, protobuf, typing_extensions, frameloom-client), put first
on ``sys.path`` so a system-wide protobuf that a distribution's Blender sees cannot shadow them,
and for Linux a numpy under ``_vendor/<abi>-<platform>-numpy/``, put last, used only by a
Blender whose Python has none (distributions' packages run on the system Python).
"""
from __future__ import annotations

import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENDOR = os.path.join(HERE, "_vendor")


def platform_tag() -> str:
    system = {"linux": "linux", "win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "arm64": "arm64", "aarch64": "arm64"}.get(machine, machine)
    return f"{system}-{arch}"


def abi_tag() -> str:
    return f"cp{sys.version_info[0]}{sys.version_info[1]}"


def activate() -> None:
    if not os.path.isdir(VENDOR):
        return
    tag = f"{abi_tag()}-{platform_tag()}"
    main = os.path.join(VENDOR, tag)
    if os.path.isdir(main) and main not in sys.path:
        sys.path.insert(0, main)
    fallback = main + "-numpy"
    if os.path.isdir(fallback):
        try:
            import numpy  # noqa: F401
        except ImportError:
            sys.path.append(fallback)
    if not os.path.isdir(main):
        have = ", ".join(sorted(d for d in os.listdir(VENDOR) if not d.endswith("-numpy")))
        raise ImportError(f"frameloom: this add-on zip has no modules for Python "
                          f"{sys.version_info[0]}.{sys.version_info[1]} on {platform_tag()} "
                          f"(it has: {have}); build one with `frameloom blender build`")
