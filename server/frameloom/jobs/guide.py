"""The guide of a deflicker job whose frames are not the original footage (``temporal.guide``).

The runner's source is then the stylized clip, so the original frames the deflicker matches on
come from the guide clip, read in lockstep with the source (one decoded frame held) and resized
to the stylized frames' size when the two differ.
"""
from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

from ..errors import UserError
from ..frames import Frame


class GuidedFilter:
    """A temporal filter (``push``/``flush``/``context_frames``/``resume_from``) whose guide
    comes from ``guide_source`` instead of the runner's source frames."""

    def __init__(self, inner, guide_source):
        self.inner = inner
        self._guide = guide_source
        self._frames: Iterator[Frame] | None = None

    def _guide_at(self, index: int, size: tuple[int, int]) -> np.ndarray:
        if self._frames is None:   # the first frame asked for (a resumed job's may be late)
            from .runner import frames_from

            self._frames = iter(frames_from(self._guide, index))
        for frame in self._frames:
            if frame.index == index:
                img = frame.image
                if img.shape[:2] != size:
                    img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
                return img
            if frame.index > index:
                break
        raise UserError(f"the guide clip has no frame {index}; the stylized clip and its guide "
                        "must have the same frames")

    @property
    def context_frames(self) -> int:
        return self.inner.context_frames

    def resume_from(self, ordinal: int) -> None:
        self.inner.resume_from(ordinal)

    def push(self, index: int, styled: np.ndarray, _source: np.ndarray):
        return self.inner.push(index, styled, self._guide_at(index, styled.shape[:2]))

    def flush(self):
        return self.inner.flush()

    def close(self) -> None:
        self._guide.close()
