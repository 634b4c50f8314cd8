"""The report's numbers and pictures, gathered in one pass over the clips.

The source and every version are read in lockstep, one frame each, so memory holds two frames
per clip (the pair) and a bounded set of small pictures however long the clip: thumbnails at
evenly spaced frames, thumbnails at each version's worst frames so far (a bounded heap), and for
each version the residual map of its worst pair, downscaled. The per-pair errors themselves are
one float per frame.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

from ..errors import UserError
from ..frames import Frame
from .warp import SourceFlow, warp_residual

#: Thumbnail width in the strips, and the width of the residual heat maps (pixels).
THUMB_WIDTH = 176
HEAT_WIDTH = 400

Progress = Callable[[int, "int | None"], None]


@dataclass
class WorstPair:
    """One version's worst pair: frames t-1 and t and where they differ, downscaled."""

    version: str
    frame: int                       # t, in the clip's numbering
    previous_frame: int              # t-1 (t-step when the report takes every step-th frame)
    error: float
    previous: np.ndarray             # (h, w, 3) uint8: the version's frame t-1
    current: np.ndarray              # (h, w, 3) uint8: its frame t
    residual: np.ndarray             # (h, w) float32 squared error; NaN where masked out


@dataclass
class Measurements:
    """Everything the report shows. ``errors[0]`` is the source measured against its own
    motion (the measure's floor), ``errors[1:]`` the versions, one column per pair."""

    names: list[str]                 # [source, version, ...]
    frames: np.ndarray               # (P,) int: frame t of each pair (t-1, t), clip numbering
    errors: np.ndarray               # (1 + V, P) float: warp error; NaN where nothing compared
    kept: np.ndarray                 # (P,) float: share of pixels the occlusion mask kept
    thumbs: dict[int, list[np.ndarray]] = field(default_factory=dict)   # frame -> per clip, uint8
    regular: list[int] = field(default_factory=list)   # frames of the evenly spaced strip
    worst: list[WorstPair] = field(default_factory=list)   # per version with any pair measured
    width: int = 0
    height: int = 0
    first_frame: int = 0
    frame_count: int = 0

    @property
    def versions(self) -> list[str]:
        return self.names[1:]

    def stats(self, row: int) -> dict:
        """mean, median and the worst pairs (frame, error) of ``errors[row]``."""
        e = self.errors[row]
        ok = ~np.isnan(e)
        if not ok.any():
            return {"mean": float("nan"), "median": float("nan"), "worst": []}
        order = np.argsort(np.where(ok, e, -np.inf))[::-1][:3]
        return {"mean": float(np.nanmean(e)), "median": float(np.nanmedian(e)),
                "worst": [(int(self.frames[i]), float(e[i])) for i in order if ok[i]]}

    def worst_frames(self) -> list[int]:
        """Frames that appear among any version's three worst, in clip order."""
        return sorted({f for row in range(1, len(self.names)) for f, _ in self.stats(row)["worst"]})


def _u8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _shrink(image: np.ndarray, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    if w <= width:
        return image
    return cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def _shrink_masked(residual: np.ndarray, mask: np.ndarray, width: int) -> np.ndarray:
    """Area-average ``residual`` over the kept pixels only; NaN where most were masked out."""
    h, w = residual.shape
    if w <= width:
        return np.where(mask, residual, np.nan).astype(np.float32)
    size = (width, max(1, round(h * width / w)))
    weight = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    total = cv2.resize(np.where(mask, residual, 0.0).astype(np.float32), size,
                       interpolation=cv2.INTER_AREA)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight >= 0.5, total / weight, np.nan).astype(np.float32)


class _EvenlySpaced:
    """Which frames (by position) get a thumbnail in the regular strip: ``n`` evenly spaced
    when the length is known; otherwise every ``stride``-th, the stride doubling whenever more
    than ``2n`` are held, so the strip stays bounded for a clip of unknown length."""

    def __init__(self, total: int | None, n: int):
        self.n = n
        self.picks = None if not total else set(np.linspace(0, total - 1, min(n, total))
                                                .round().astype(int).tolist())
        self.stride = 1

    def wants(self, position: int) -> bool:
        return position in self.picks if self.picks is not None else position % self.stride == 0

    def prune(self, held: dict[int, int]) -> None:
        """``held``: position -> frame of the thumbnails kept; drops the ones no longer wanted."""
        while self.picks is None and len(held) > 2 * self.n:
            self.stride *= 2
            for position in [p for p in held if p % self.stride]:
                del held[position]


def _lockstep(clips: Sequence[Iterable[Frame]], names: Sequence[str]) -> Iterator[list[Frame]]:
    """One frame of every clip at a time; a clip that ends before the others is an error."""
    iters = [iter(c) for c in clips]
    position = 0
    while True:
        frames = [next(it, None) for it in iters]
        if all(f is None for f in frames):
            return
        if any(f is None for f in frames):
            short = names[frames.index(None)]
            longer = names[next(i for i, f in enumerate(frames) if f is not None)]
            raise UserError(f"{short} ends after {position} frames but {longer} has more; a "
                            f"report compares clips frame for frame")
        yield frames
        position += 1


def check_same_shape(infos: Sequence[tuple[str, int, int, int | None]]) -> None:
    """``(name, width, height, frames)`` of each clip: one line naming the first that differs
    from the source in size or (when both are known) frame count."""
    name0, w0, h0, n0 = infos[0]
    for name, w, h, n in infos[1:]:
        if (w, h) != (w0, h0):
            raise UserError(f"{name} is {w}x{h} but {name0} is {w0}x{h0}; a report compares "
                            f"frames of one size")
        if n is not None and n0 is not None and n != n0:
            raise UserError(f"{name} has {n} frames but {name0} has {n0}; a report compares "
                            f"clips frame for frame")


class Measurer:
    """The report's numbers and pictures, one set of frames at a time: :meth:`add` the source's
    frame and each version's, in clip order, then :meth:`result`. For callers that see frames
    as they are made (a streamed job); :func:`measure` drives it over iterables.

    ``names``: the source's, then each version's. ``total``: frames expected (None: unknown)."""

    def __init__(self, names: Sequence[str], *, total: int | None = None, regular: int = 8,
                 worst: int = 3, flow: SourceFlow | None = None):
        if len(names) < 2:
            raise UserError("a report needs at least one stylized version of the source")
        self.names = list(names)
        self._flow = flow or SourceFlow()
        self._worst_n = worst
        self._spaced = _EvenlySpaced(total, regular)
        versions = len(self.names) - 1
        self._heaps: list[list[tuple[float, int]]] = [[] for _ in range(versions)]  # (error, frame)
        self._held: dict[int, int] = {}         # position -> frame, of the regular strip
        self._thumbs: dict[int, list[np.ndarray]] = {}
        self._frames: list[int] = []
        self._errors: list[list[float]] = [[] for _ in self.names]
        self._kept: list[float] = []
        self._worst: list[WorstPair | None] = [None] * versions
        self._previous: list[Frame] | None = None
        self._first = 0
        self.count = 0

    def add(self, current: Sequence[Frame]) -> None:
        """The next frame of the source and of each version (same size, source first)."""
        if len(current) != len(self.names):
            raise ValueError(f"expected {len(self.names)} frames, got {len(current)}")
        previous, position = self._previous, self.count
        if previous is None:
            check_same_shape([(n, f.image.shape[1], f.image.shape[0], None)
                              for n, f in zip(self.names, current)])
            self._first = current[0].index
        else:
            for name, before, now in zip(self.names, previous, current):
                if now.image.shape != before.image.shape:
                    raise UserError(f"{name} changes size at frame {now.index}")
        wanted = self._spaced.wants(position)
        if previous is not None:
            wanted |= self._pair(previous, current)
        if wanted:
            self._thumbs[current[0].index] = [_u8(_shrink(f.image, THUMB_WIDTH)) for f in current]
            if self._spaced.wants(position):
                self._held[position] = current[0].index
        self._spaced.prune(self._held)
        needed = set(self._held.values()) | {f for heap in self._heaps for _, f in heap}
        for frame in [f for f in self._thumbs if f not in needed]:
            del self._thumbs[frame]
        self._previous = list(current)
        self.count += 1

    def _pair(self, previous: Sequence[Frame], current: Sequence[Frame]) -> bool:
        """Measure one pair; True when it is among some version's worst so far."""
        flow, mask = self._flow(previous[0].image, current[0].image)
        self._frames.append(current[0].index)
        self._kept.append(float(mask.mean()))
        among_worst = False
        for row, (prev, cur) in enumerate(zip(previous, current)):
            residual = warp_residual(prev.image, cur.image, flow)
            error = float(residual[mask].mean()) if mask.any() else float("nan")
            self._errors[row].append(error)
            if row == 0 or np.isnan(error):
                continue
            heap = self._heaps[row - 1]
            if len(heap) < self._worst_n:
                heapq.heappush(heap, (error, cur.index))
                among_worst = True
            elif error > heap[0][0]:
                heapq.heapreplace(heap, (error, cur.index))
                among_worst = True
            worst = self._worst[row - 1]
            if worst is None or error > worst.error:
                self._worst[row - 1] = WorstPair(self.names[row], cur.index, prev.index, error,
                                                 _u8(_shrink(prev.image, HEAT_WIDTH)),
                                                 _u8(_shrink(cur.image, HEAT_WIDTH)),
                                                 _shrink_masked(residual, mask, HEAT_WIDTH))
        return among_worst

    def result(self) -> Measurements:
        if self.count < 2:
            raise UserError(f"{self.names[0]} has {self.count} frame{'' if self.count == 1 else 's'}; "
                            "a flicker report needs at least 2")
        h, w = self._previous[0].image.shape[:2]
        return Measurements(names=self.names, frames=np.asarray(self._frames, int),
                            errors=np.asarray(self._errors, float),
                            kept=np.asarray(self._kept, float), thumbs=dict(self._thumbs),
                            regular=sorted(self._held.values()),
                            worst=[p for p in self._worst if p is not None], width=w, height=h,
                            first_frame=self._first, frame_count=self.count)


def measure(source: Iterable[Frame], versions: Sequence[Iterable[Frame]], names: Sequence[str], *,
            total: int | None = None, flow: SourceFlow | None = None,
            progress: Progress | None = None,
            between_pairs: Callable[[], object] | None = None) -> Measurements:
    """Warp error of every adjacent pair of ``versions`` (and of the source itself) along the
    source's estimated motion, with the pictures the report shows.

    ``source`` and each of ``versions`` yield :class:`~frameloom.frames.Frame` s in clip order,
    frame for frame (the source's indices number the plot); ``names``: the source's, then each
    version's. ``total``: frames expected (None: unknown). ``between_pairs`` runs before each
    frame (the thread rebalancer)."""
    measurer = Measurer(names, total=total, flow=flow)
    for frames in _lockstep([source, *versions], measurer.names):
        if between_pairs is not None:
            between_pairs()
        measurer.add(frames)
        if progress is not None:
            progress(measurer.count, total)
    return measurer.result()
