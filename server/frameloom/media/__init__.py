"""Media in and out: video files and image sequences, streamed frame by frame.

``open_source(path)`` gives a FrameSource (iterate for :class:`~frameloom.frames.Frame` in clip
order; ``frame_at(i)`` for random access; ``.info`` for the clip) and ``open_sink(path, info)`` a
FrameSink (``write(frame)``, ``close()``). A path with a video extension is a video; anything else
is an image sequence (a folder, or a printf pattern such as ``shot_%05d.png``).
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import numpy as np

from ..errors import InputNotFound, OutputError, UserError
from ..frames import Frame
from .info import (DEFAULT_SEQUENCE_FPS, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, ClipInfo,
                   FrameSelection, SelectedFrames, parse_frame_range)
from .sequence import SequenceSink, SequenceSource, check_pattern, is_pattern
from .video import VideoSink, VideoSource

__all__ = ["ArraySource", "ClipInfo", "FrameSelection", "FrameSink", "FrameSource",
           "is_video_path", "open_sink", "open_source", "parse_frame_range", "probe",
           "stored_bit_depth"]


class FrameSource(Protocol):
    info: ClipInfo

    @property
    def indices(self) -> list[int] | None: ...
    def __iter__(self) -> Iterator[Frame]: ...
    def frame_at(self, index: int) -> Frame: ...
    def close(self) -> None: ...


class FrameSink(Protocol):
    def write(self, frame: Frame) -> None: ...
    def close(self) -> None: ...


def is_video_path(path: str) -> bool:
    return Path(str(path)).suffix.lower() in VIDEO_EXTENSIONS


def open_source(path: str, selection: FrameSelection | None = None, *,
                fps: Fraction | None = None, confine=None) -> FrameSource:
    """A video file, an image-sequence folder or a printf pattern. ``fps`` applies to sequences.
    ``confine(file)`` raises for a file that may not be read; every file of a sequence goes
    through it (the path itself is the caller's to check)."""
    path = str(path)
    if is_pattern(path) or os.path.isdir(path):
        return SequenceSource(path, selection, fps or DEFAULT_SEQUENCE_FPS, confine=confine)
    if not os.path.exists(path):
        raise InputNotFound(f"input not found: {path}")
    if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
        raise UserError(f"{path} is a single image; give its folder or a pattern like "
                        f"{Path(path).parent / 'frame_%04d'}{Path(path).suffix}")
    return VideoSource(path, selection)


def probe(path: str) -> ClipInfo:
    return open_source(path).info


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(output: str, inputs: Sequence[str]) -> None:
    """Refuse an output that would overwrite an input or cannot be written, before any work."""
    out = os.path.abspath(output)
    if is_pattern(out):
        check_pattern(out)
    for src in inputs:
        if src and (os.path.abspath(src) == out or _same_file(src, out)):
            raise OutputError(f"output {output} is the same as the input; choose another path")
    if is_video_path(output):
        parent = os.path.dirname(out) or "."
        if not os.path.isdir(parent):
            raise OutputError(f"output folder does not exist: {os.path.dirname(output)}")
        if not os.access(parent, os.W_OK) or (os.path.exists(out) and not os.access(out, os.W_OK)):
            raise OutputError(f"cannot write {output}: permission denied")
    else:
        target = os.path.dirname(out) if is_pattern(out) else out
        probe_dir = target
        while probe_dir and not os.path.exists(probe_dir):
            probe_dir = os.path.dirname(probe_dir)
        if os.path.exists(target) and not os.path.isdir(target):
            raise OutputError(f"output {output} exists and is not a folder")
        if not os.access(probe_dir or ".", os.W_OK):
            raise OutputError(f"cannot write {output}: permission denied")


def open_sink(path: str, info: ClipInfo, options=None, *, audio_from: str | None = None,
              fps: Fraction | None = None) -> FrameSink:
    """``options`` is a ``frameloom.v1.OutputSpec`` (or None). ``fps`` overrides the output rate
    (a frame step of 2 halves it); audio is copied from ``audio_from`` unless options say no."""
    codec = (options.codec if options is not None else "") or "auto"
    path = str(path)
    if is_video_path(path):
        if codec in ("png", "tiff"):
            raise UserError(f"codec {codec} writes image sequences; give a folder, not {path}")
        no_audio = options is not None and options.no_audio
        return VideoSink(path, info.width, info.height, fps or info.fps, codec=codec,
                         crf=options.crf if options is not None else 0,
                         audio_from=None if no_audio else audio_from,
                         variable_rate=info.variable_rate)
    if codec not in ("auto", "png", "tiff"):
        raise UserError(f"codec {codec} writes a video file; give a path ending in .mp4 or .mov")
    ext = ".tif" if codec == "tiff" else ".png"
    depth = (options.bit_depth if options is not None and options.bit_depth else 0) or \
        (16 if codec == "tiff" or info.bit_depth > 8 else 8)
    if depth not in (8, 16):
        raise UserError(f"bit depth must be 8 or 16, got {depth}")
    return SequenceSink(path, ext=ext, bit_depth=depth)


def stored_bit_depth(path: str, info: ClipInfo, options=None) -> int:
    """Bits per channel that :func:`open_sink` keeps for ``path`` (8 or 16; 10-bit ProRes
    counts as 16): what an intermediate must hold for the final output to come out the same."""
    codec = (options.codec if options is not None else "") or "auto"
    if is_video_path(path):
        from .video import CODECS, DEFAULT_CODEC_FOR_EXT

        if codec == "auto":
            codec = DEFAULT_CODEC_FOR_EXT.get(Path(str(path)).suffix.lower(), "h264")
        return 16 if CODECS.get(codec, CODECS["h264"])[3] > 8 else 8
    depth = options.bit_depth if options is not None and options.bit_depth else 0
    return depth or (16 if codec == "tiff" or info.bit_depth > 8 else 8)


class ArraySource(SelectedFrames):
    """In-memory frames (a streamed clip, a test). ``images``: sequence of (H, W, 3) arrays."""

    def __init__(self, images: Sequence[np.ndarray], fps: Fraction = DEFAULT_SEQUENCE_FPS,
                 selection: FrameSelection | None = None, path: str = "<memory>"):
        from ..frames import to_float

        self._images = images
        self._to_float = to_float
        h, w = images[0].shape[:2]
        depth = 16 if images[0].dtype == np.uint16 else 8
        self.info = ClipInfo(path=path, width=w, height=h, fps=Fraction(fps),
                             frame_count=len(images), duration=len(images) / float(fps),
                             bit_depth=depth, kind="sequence")
        self.selection = selection or FrameSelection()
        self.selection.check_against(len(images))

    def frame_at(self, index: int) -> Frame:
        return Frame(index, index / float(self.info.fps), self._to_float(self._images[index]))
