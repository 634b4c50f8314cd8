"""What a clip is: size, rate, length, audio; and which of its frames a job takes."""
from __future__ import annotations

import os

from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator

from ..errors import UserError

VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mxf"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".webp"}
DEFAULT_SEQUENCE_FPS = Fraction(24)


@dataclass(frozen=True)
class ClipInfo:
    path: str
    width: int
    height: int
    fps: Fraction                  # average frame rate, exact (24000/1001 for 23.976)
    frame_count: int | None        # None when the container does not say and nobody counted
    duration: float | None         # seconds
    bit_depth: int = 8             # bits per channel of the stored frames
    codec: str = ""
    pix_fmt: str = ""
    variable_rate: bool = False
    has_audio: bool = False
    audio_codec: str = ""
    audio_rate: int = 0
    audio_channels: int = 0
    kind: str = "video"            # "video" or "sequence"

    def describe(self) -> dict:
        fps = self.fps
        return {
            "path": self.path,
            "kind": self.kind,
            "size": f"{self.width}x{self.height}",
            "fps": f"{fps.numerator}/{fps.denominator} ({float(fps):.3f})",
            "variable_rate": self.variable_rate,
            "frames": self.frame_count,
            "duration_s": None if self.duration is None else round(self.duration, 3),
            "codec": self.codec,
            "pix_fmt": self.pix_fmt,
            "bit_depth": self.bit_depth,
            "audio": (f"{self.audio_codec} {self.audio_rate} Hz, {self.audio_channels} ch"
                      if self.has_audio else "none"),
        }


@dataclass(frozen=True)
class FrameSelection:
    """Frames ``start, start+step, ...`` up to ``end`` inclusive (None: to the clip's end)."""

    start: int = 0
    end: int | None = None
    step: int = 1

    def indices(self, frame_count: int | None) -> range | None:
        if frame_count is None:
            return None
        last = frame_count - 1 if self.end is None else min(self.end, frame_count - 1)
        return range(self.start, last + 1, self.step)

    def check_against(self, frame_count: int | None) -> None:
        if frame_count is None:
            return
        if self.start >= frame_count:
            raise UserError(f"frame range starts at {self.start} but the clip has {frame_count} "
                            f"frames (0-{frame_count - 1})")
        if self.end is not None and self.end >= frame_count:
            raise UserError(f"frame range ends at {self.end} but the clip has {frame_count} "
                            f"frames (0-{frame_count - 1})")

    def wants(self, index: int) -> bool:
        return (index >= self.start and (self.end is None or index <= self.end)
                and (index - self.start) % self.step == 0)

    def past_end(self, index: int) -> bool:
        return self.end is not None and index > self.end

    @classmethod
    def from_proto(cls, r) -> "FrameSelection":
        if r is None:
            return cls()
        return cls(int(r.start), int(r.end) if r.HasField("end") else None, int(r.step) or 1)


def parse_frame_range(text: str) -> FrameSelection:
    """``"100-219"``, ``"100-"``, ``"-50"``, ``"7"``, with an optional step ``"0-99/2"``."""
    from frameloom_client.jobspec import parse_frames

    r = parse_frames(text)
    if r is None:
        raise UserError("bad frame range ''; expected START-END[/STEP], e.g. 100-219 or 0-99/2")
    return FrameSelection.from_proto(r)


def create_new_file(path: str):
    """Open ``path`` for writing as a new regular file, binary. Whatever sits there first (a
    half-written file of an earlier run, or a symlink someone planted to make us write
    elsewhere) is removed, never followed: the link itself goes, not its target."""
    if os.path.lexists(path):
        os.unlink(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(path, flags, 0o666), "wb")


class Closing:
    """``with`` support for sources and sinks: leaving the block calls ``close()``."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SelectedFrames(Closing):
    """What every frame source shares: ``info``, a ``selection``, and iteration over the
    selected indices through ``frame_at``. Subclasses set both attributes and ``frame_at``;
    sources that stream (video) override ``__iter__``."""

    info: ClipInfo
    selection: FrameSelection

    @property
    def indices(self) -> list[int] | None:
        r = self.selection.indices(self.info.frame_count)
        return None if r is None else list(r)

    def __len__(self) -> int:
        r = self.selection.indices(self.info.frame_count)
        if r is None:
            raise TypeError("frame count unknown until the clip is read")
        return len(r)

    def frame_at(self, index: int):
        raise NotImplementedError

    def __iter__(self) -> Iterator:
        for i in self.indices:
            yield self.frame_at(i)
