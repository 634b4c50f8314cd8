"""Paths from clients: media only under the media roots, models only from the model folders.

A client names files relative to a root (``shots/a.mp4``) or absolutely (inside a root). ``..`` is
refused outright rather than normalised, and every candidate is resolved with ``realpath`` before
the containment check, so a symlink inside a root that points outside it is refused too.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputNotFound, PermissionDenied, UserError

MODEL_SUFFIXES = {".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".onnx"}
# Top-level folder names that say what a model is; anything else is a checkpoint.
MODEL_KINDS = {"controlnet": "controlnet", "controlnets": "controlnet", "lora": "lora",
               "loras": "lora", "embeddings": "embedding", "annotators": "annotator",
               "annotator": "annotator"}


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


class PathPolicy:
    def __init__(self, roots: list[str | os.PathLike], what: str):
        self.roots = [_real(Path(r)) for r in roots]
        self.what = what

    def resolve(self, name: str, *, must_exist: bool, label: str) -> str:
        """The real path of ``name`` inside one of the roots. PERMISSION_DENIED for anything
        that leaves them; NOT_FOUND when ``must_exist`` and no root has it."""
        if not name or "\0" in name:
            raise UserError(f"{label} is empty or not a path")
        p = Path(name)
        if not self.roots:
            if must_exist and not p.is_absolute():
                raise InputNotFound(f"{label} {name!r} not found: this server has no {self.what}")
            raise PermissionDenied(f"{label} {name!r}: this server has no {self.what} configured")
        if ".." in p.parts:
            raise PermissionDenied(f"{label} {name!r}: '..' is not allowed in paths")
        candidates = [p] if p.is_absolute() else [root / p for root in self.roots]
        escaped = False
        for cand in candidates:
            real = _real(cand)
            # Printf patterns (shot_%05d.png) do not exist as files; their folder does.
            exists = real.exists() or ("%" in real.name and real.parent.is_dir())
            if not any(_inside(real, root) for root in self.roots):
                escaped = escaped or exists or p.is_absolute()
                continue
            if exists or not must_exist:
                return str(real)
        if escaped:
            raise PermissionDenied(f"{label} {name!r} is outside the server's {self.what}")
        if must_exist:
            raise InputNotFound(f"{label} {name!r} not found under the server's {self.what}")
        raise PermissionDenied(f"{label} {name!r} is outside the server's {self.what}")

    def confine(self, path: str) -> None:
        """PERMISSION_DENIED unless ``path``, links resolved, lies inside a root."""
        real = _real(Path(path))
        if not any(_inside(real, root) for root in self.roots):
            raise PermissionDenied(f"{path} leads outside the server's {self.what} "
                                   f"(a link to {real}?)")

    def scan_models(self) -> list[tuple[str, str, int]]:
        """(name, kind, size) for every model file or diffusers folder under the roots."""
        found = []
        for root in self.roots:
            if not root.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                here = Path(dirpath)
                rel = here.relative_to(root)
                kind = MODEL_KINDS.get(rel.parts[0].lower(), "checkpoint") if rel.parts else "checkpoint"
                if "model_index.json" in filenames or ("config.json" in filenames and rel.parts):
                    size = sum((here / f).stat().st_size for f in filenames)
                    found.append((str(rel), "diffusers" if kind == "checkpoint" else kind, size))
                    dirnames[:] = []
                    continue
                for f in filenames:
                    if Path(f).suffix.lower() in MODEL_SUFFIXES:
                        found.append((str(rel / f), kind, (here / f).stat().st_size))
        return sorted(found)
