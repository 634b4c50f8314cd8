"""Chunks joined into the job's output, each overlap blended so no seam shows.

Around the seam between two chunks both hold the same frames: the earlier chunk's end handle
and the later one's start handle. Neither is right everywhere there. The earlier chunk's last
``r`` frames (``r``: the deflicker's radius) saw no frames past its end, and the later chunk's
first frames started cold. So the stitch cross-fades from the earlier chunk to the later one over
a *blend zone* inside the overlap, clear of both chunks' edges by ``r``, placed as late as that
allows (the later chunk has warmed up longest there), at most ``overlap`` frames long, with
linear weights. Where both chunks hold the same pixels in the zone (filters: every frame there
saw all its neighbours in both chunks) that is exact: the stitched clip is the uninterrupted
render. Where they differ visibly (a deflicker window wider than the handles; diffusion's
cross-frame state, which starts cold in each chunk), the zone is then blended with the temporal
engine: the guided deflicker, on the source frames, over the zone
and ``r`` frames on either side, replaces the zone's frames, so the change from one chunk's look
to the other's is carried by matched patches of neighbouring frames instead of a plain fade.

Memory holds the frames of one zone and its context, never the clip.
"""
from __future__ import annotations

import logging
import os
import shutil
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import Cancelled, UserError
from ..frames import Frame
from .chunk import chunk_bit_depth, chunk_path, identity, is_complete, read_frame
from .plan import Chunk

log = logging.getLogger(__name__)


#: Mean difference of two chunks' frame beyond which a seam could show (half an 8-bit step):
#: below it the cross-fade alone is invisible, and re-blending would only soften the zone.
VISIBLE = 0.5 / 255


@dataclass(frozen=True)
class Zone:
    """Blend zone of one seam: ordinals ``lo..hi`` of the job, fading from ``before`` to
    ``after`` (chunk positions)."""

    before: int
    after: int
    lo: int
    hi: int

    def weight(self, ordinal: int) -> float:
        """The later chunk's share at ``ordinal`` (rises linearly, never 0 or 1 inside)."""
        return (ordinal - self.lo + 1) / (self.hi - self.lo + 2)


@dataclass
class StitchResult:
    frames_written: int
    blended: int            # frames taken from two chunks
    reblended: int          # of them, re-blended by the temporal engine (the chunks differed)


def context_radius(spec) -> int:
    """Frames at a chunk's edge that come out unlike the uninterrupted render's because the
    chunk has nothing beyond it: the deflicker's radius, plus, for diffusion, the look-ahead
    frames a window cross-fades with the previous one's (a chunk's first window has none)."""
    cold = 0
    if spec.style.kind == "diffusion":
        from ..stylize.diffusion.stylizer import resolve_overlap

        d = spec.style.diffusion
        cold = resolve_overlap(d.window_overlap, d.window or d.batch_size or 8)  # 8: CUDA's default
    # The runner's rule (make_temporal): these jobs run without a deflicker.
    mode = spec.temporal.mode or "window"
    if mode == "none" or (spec.style.kind in ("identity", "propagate") and not spec.temporal.guide):
        return cold
    from ..temporal.blend import DeflickerConfig

    return cold + DeflickerConfig.from_spec(spec.temporal).radius


def blend_zones(chunks: list[Chunk], indices: list[int], radius: int, overlap: int) -> list[Zone]:
    """One zone per seam (see the module); none where two chunks share no frame."""
    pos = {i: k for k, i in enumerate(indices)}
    zones = []
    for k in range(len(chunks) - 1):
        a, b = chunks[k], chunks[k + 1]
        shared_lo, shared_hi = pos[b.rendered[0]], pos[a.rendered[1]]
        if shared_hi < shared_lo:
            continue
        lo, hi = shared_lo + radius, shared_hi - radius
        if hi < lo:            # handles shorter than the deflicker's reach: use what is shared
            lo, hi = shared_lo, shared_hi
        lo = max(lo, hi - max(1, overlap) + 1)
        zones.append(Zone(k, k + 1, lo, hi))
    return zones


def missing_chunks(spec, chunks: list[Chunk], root: Path, bit_depth: int) -> list[Chunk]:
    return [c for c in chunks if not is_complete(chunk_path(root, c), identity(spec, c, bit_depth))]


def stitch(spec, chunks: list[Chunk], root: str | os.PathLike, *, overlap: int,
           fps: Fraction | None = None, progress: Callable[[int, int | None, str], None] | None = None,
           is_cancelled: Callable[[], bool] | None = None, clean: bool = False,
           confine=None) -> StitchResult:
    """Join the complete ``chunks`` of ``spec`` (paths absolute) in ``root`` into
    ``spec.output``, with the source's audio. A video output is written under a temporary name
    and renamed when whole, so a repeated or concurrent stitch never leaves half a file.
    ``confine``: a server's check of every file read (source and guide sequences)."""
    from ..jobs.local import open_job_media
    from ..media import is_video_path

    from ..media import probe

    root = Path(root)
    missing = missing_chunks(spec, chunks, root, chunk_bit_depth(spec, probe(spec.input)))
    if missing:   # before the output is touched
        names = ", ".join(c.frames for c in missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise UserError(f"{len(missing)} of {len(chunks)} chunks are not rendered (or are stale) "
                        f"in {root}: frames {names}; render those tasks first")
    final_output = spec.output
    tmp_output = None
    if is_video_path(final_output):
        stem, ext = os.path.splitext(final_output)
        tmp_output = f"{stem}.partial-{os.getpid()}{ext}"
    source, sink = open_job_media(spec, fps=fps, output=tmp_output, confine=confine)
    written = blended = reblended = 0
    indices: list[int] | None = None
    try:
        with source:
            indices = source.indices if source.indices is not None else None
            if indices is None:
                from .plan import job_indices

                indices = job_indices(spec, fps=fps, confine=confine)
            radius = context_radius(spec)
            zones = blend_zones(chunks, indices, radius, overlap)
            guide = _guide_frames(spec, fps, confine)
            joiner = _Joiner(spec, chunks, zones, root, indices, radius, len(indices))
            try:
                for ordinal, frame in enumerate(source):
                    if is_cancelled is not None and is_cancelled():
                        raise Cancelled(written)
                    g = frame.image if guide is None else _sized(next(guide).image, frame.image.shape)
                    for out in joiner.push(ordinal, frame, g):
                        sink.write(out)
                        written += 1
                        if progress is not None:
                            progress(written, len(indices), "stitching")
                for out in joiner.flush():
                    sink.write(out)
                    written += 1
                    if progress is not None:
                        progress(written, len(indices), "stitching")
            finally:
                if guide is not None:
                    guide.close()
            blended, reblended = joiner.blended, joiner.reblended
    except KeyboardInterrupt:
        raise Cancelled(written) from None
    finally:
        sink.close()
        if tmp_output is not None and written < len(indices or ()) and os.path.exists(tmp_output):
            os.remove(tmp_output)
    if tmp_output is not None:
        os.replace(tmp_output, final_output)
    if clean:
        shutil.rmtree(root, ignore_errors=True)
    return StitchResult(written, blended, reblended)


def _sized(image: np.ndarray, shape) -> np.ndarray:
    if image.shape[:2] == tuple(shape[:2]):
        return image
    import cv2

    return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _guide_frames(spec, fps, confine=None):
    """The deflicker's guide clip, frame for frame with the source, for a job that has one
    (its source is the stylized clip)."""
    if not spec.temporal.guide:
        return None
    from ..media import FrameSelection, open_source

    selection = FrameSelection.from_proto(spec.frames) if spec.HasField("frames") else None
    return _Closable(open_source(spec.temporal.guide, selection, fps=fps, confine=confine))


class _Closable:
    def __init__(self, source):
        self._source, self._it = source, iter(source)

    def __next__(self):
        return next(self._it)

    def close(self):
        self._source.close()


class _Joiner:
    """Frames in, stitched frames out, in clip order; holds back a zone and its context
    until the temporal engine has re-blended it."""

    def __init__(self, spec, chunks, zones, root, indices, radius, count):
        self.spec, self.chunks, self.zones, self.root = spec, chunks, deque(zones), root
        self.radius, self.count = max(1, radius), count
        pos = {i: k for k, i in enumerate(indices)}
        self.owner_until = [pos[c.owned[1]] for c in chunks]   # last owned ordinal per chunk
        self.held: deque[list] = deque()      # [ordinal, Frame, guide]
        self.differ: set[Zone] = set()        # zones whose two chunks disagree visibly
        self.blended = self.reblended = 0
        self._owner = 0

    def _frame(self, chunk: int, index: int) -> np.ndarray:
        return read_frame(chunk_path(self.root, self.chunks[chunk]), index)

    def push(self, ordinal: int, src: Frame, guide: np.ndarray) -> list[Frame]:
        while self.owner_until[self._owner] < ordinal:
            self._owner += 1
        # Zones may be closer together than their context (short chunks, a wide deflicker).
        zone = next((z for z in self.zones if z.lo <= ordinal <= z.hi), None)
        if zone is not None:
            a, b = self._frame(zone.before, src.index), self._frame(zone.after, src.index)
            if float(np.abs(a - b).mean()) > VISIBLE:
                self.differ.add(zone)
            w = zone.weight(ordinal)
            image = a if np.array_equal(a, b) else ((1.0 - w) * a + w * b).astype(np.float32)
            self.blended += 1
        else:
            image = self._frame(self._owner, src.index)
        self.held.append([ordinal, src.with_image(image), guide])
        while self.zones and ordinal >= min(self.count - 1, self.zones[0].hi + self.radius):
            self._finish_zone(self.zones[0])
        return self._release()

    def flush(self) -> list[Frame]:
        while self.zones:
            self._finish_zone(self.zones[0])
        out = [f for _, f, _ in self.held]
        self.held.clear()
        return out

    def _finish_zone(self, zone: Zone) -> None:
        if zone in self.differ:
            self._reblend(zone)
        self.zones.popleft()

    def _reblend(self, zone: Zone) -> None:
        import torch

        from ..temporal.blend import DeflickerConfig, deflicker_frames

        rows = [r for r in self.held if zone.lo - self.radius <= r[0] <= zone.hi + self.radius]
        styled = torch.from_numpy(np.stack([r[1].image for r in rows])).permute(0, 3, 1, 2)
        guide = torch.from_numpy(np.stack([r[2] for r in rows]).astype(np.float32)).permute(0, 3, 1, 2)
        cfg = DeflickerConfig.from_spec(self.spec.temporal if self.spec.HasField("temporal") else None,
                                        mode="window", window=self.radius)
        with torch.no_grad():
            out = deflicker_frames(styled.contiguous(), guide.contiguous(), config=cfg)
        for r, img in zip(rows, out.permute(0, 2, 3, 1).numpy()):
            if zone.lo <= r[0] <= zone.hi:
                r[1] = r[1].with_image(np.ascontiguousarray(img, dtype=np.float32))
                self.reblended += 1

    def _release(self) -> list[Frame]:
        """Frames no pending zone needs any more."""
        keep_from = self.zones[0].lo - self.radius if self.zones else None
        out = []
        while self.held and (keep_from is None or self.held[0][0] < keep_from):
            out.append(self.held.popleft()[1])
        return out
