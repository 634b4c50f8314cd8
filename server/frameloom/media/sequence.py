"""Image sequences: a folder of frames or a printf pattern such as ``shot_%05d.png``.

A frame's index is its position in the sequence (0-based), whatever number its file carries, so
ranges mean the same for sequences and videos. 8- and 16-bit PNG and TIFF are kept at their depth.
"""
from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputNotFound, MediaError, OutputError, UserError
from ..frames import Frame, from_float, to_float
from ..images import read_image
from .info import (DEFAULT_SEQUENCE_FPS, IMAGE_EXTENSIONS, ClipInfo, Closing, FrameSelection,
                   SelectedFrames, create_new_file)

_PRINTF = re.compile(r"%0?(\d*)d")
_NUMBER = re.compile(r"(\d+)")


def is_pattern(path: str) -> bool:
    return bool(_PRINTF.search(os.path.basename(path)))


def check_pattern(path: str) -> None:
    """A printf file pattern that names one frame per index: exactly one ``%d`` (``%05d``,
    ...), no other conversions (``%%`` for a literal per cent), an image extension."""
    name = os.path.basename(path)
    rest = _PRINTF.sub("", name, count=1).replace("%%", "")
    if "%" in rest:
        raise UserError(f"bad file pattern {name!r}: one %d (e.g. frame_%05d.png) and no other % "
                        "conversions (%% for a per cent sign)")
    if Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
        raise UserError(f"bad file pattern {name!r}: it must end in an image extension "
                        f"({', '.join(sorted(IMAGE_EXTENSIONS))})")


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in _NUMBER.split(name)]


def list_sequence(path: str) -> list[str]:
    """Files of a sequence folder (image extensions, natural order) or of a printf pattern."""
    if is_pattern(path):
        folder, name = os.path.split(path)
        folder = folder or "."
        m = _PRINTF.search(name)
        width = m.group(1)
        digits = rf"\d{{{int(width)},}}" if width else r"\d+"
        rx = re.compile("^" + re.escape(name[:m.start()]) + f"({digits})" + re.escape(name[m.end():]) + "$")
        if not os.path.isdir(folder):
            raise InputNotFound(f"input not found: {path}")
        hits = sorted((int(rx.match(f).group(1)), f) for f in os.listdir(folder) if rx.match(f))
        files = [os.path.join(folder, f) for _, f in hits]
    else:
        if not os.path.isdir(path):
            raise InputNotFound(f"input not found: {path}")
        names = [f for f in os.listdir(path) if Path(f).suffix.lower() in IMAGE_EXTENSIONS
                 and not f.startswith(".")]
        files = [os.path.join(path, f) for f in sorted(names, key=_natural_key)]
    if not files:
        raise InputNotFound(f"no image frames found at {path}")
    return files


def write_image(path: str, image: np.ndarray, bit_depth: int = 8) -> None:
    """Write (H, W, 3) float32 RGB in [0, 1] as an 8- or 16-bit file (atomically)."""
    data = from_float(image, np.uint16 if bit_depth > 8 else np.uint8)
    ext = Path(path).suffix
    ok, buf = cv2.imencode(ext, cv2.cvtColor(data, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError(f"cannot encode {path}")
    tmp = f"{path}.part"
    with create_new_file(tmp) as fh:
        fh.write(buf.tobytes())
    os.replace(tmp, path)   # replaces a link at `path` itself, never its target


class SequenceSource(SelectedFrames):
    def __init__(self, path: str, selection: FrameSelection | None = None,
                 fps: Fraction = DEFAULT_SEQUENCE_FPS, confine=None):
        self.path = str(path)
        self.files = list_sequence(self.path)
        # ``confine(file)`` raises for a file that may not be read (a server's media roots: a
        # sequence folder inside them can hold links to images outside).
        self._confine = confine or (lambda file: None)
        for file in self.files:
            self._confine(file)
        first = read_image(self.files[0])
        h, w = first.shape[:2]
        depth = 16 if first.dtype == np.uint16 else 8
        self.info = ClipInfo(path=self.path, width=w, height=h, fps=Fraction(fps),
                             frame_count=len(self.files), duration=len(self.files) / float(fps),
                             bit_depth=depth, codec=Path(self.files[0]).suffix.lstrip(".").lower(),
                             kind="sequence")
        self.selection = selection or FrameSelection()
        self.selection.check_against(self.info.frame_count)

    def frame_at(self, index: int) -> Frame:
        if not 0 <= index < len(self.files):
            raise UserError(f"frame {index} is not in {self.path} ({len(self.files)} frames)")
        self._confine(self.files[index])   # again: a file may have been swapped since
        img = read_image(self.files[index])
        if img.shape[:2] != (self.info.height, self.info.width):
            raise MediaError(f"{self.files[index]} is {img.shape[1]}x{img.shape[0]}, but the "
                             f"sequence is {self.info.width}x{self.info.height}")
        return Frame(index, index / float(self.info.fps), to_float(img))


class SequenceSink(Closing):
    """Writes ``<folder>/<stem>_<index:06d>.<ext>``; each file appears whole or not at all."""

    def __init__(self, folder: str, *, ext: str = ".png", bit_depth: int = 8, stem: str = "frame"):
        self.folder = str(folder)
        if is_pattern(self.folder):
            self.folder, name = os.path.split(self.folder)
            self._pattern = name
        else:
            self._pattern = f"{stem}_%06d{ext}"
        self.bit_depth = bit_depth
        try:
            os.makedirs(self.folder or ".", exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {self.folder}: {exc.strerror}") from None
        if not os.access(self.folder or ".", os.W_OK):
            raise OutputError(f"output folder is not writable: {self.folder}")
        self._count = 0

    @property
    def frames_written(self) -> int:
        return self._count

    def path_for(self, index: int) -> str:
        return os.path.join(self.folder, self._pattern % index)

    def write(self, frame: Frame) -> None:
        write_image(self.path_for(frame.index), frame.image, self.bit_depth)
        self._count += 1
