"""The stylizer interface.

A stylizer turns a batch of source frames into stylized frames of the same size. The runner calls
:meth:`Stylizer.stylize` with consecutive batches in clip order, so a stylizer may keep state across
calls (the diffusion stylizer keeps its anchor frame). Settings arrive per frame, already resolved
from the job's keyframes (:class:`frameloom.spec.FrameSettings`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Sequence

import numpy as np

from ..errors import Cancelled
from ..frames import Frame
from ..spec import FrameSettings

CancelCheck = Callable[[], bool]


def check_not_cancelled(is_cancelled: CancelCheck | None) -> None:
    """Raise :class:`Cancelled` when the job was asked to stop; call between units of work."""
    if is_cancelled is not None and is_cancelled():
        raise Cancelled()


class Stylizer(ABC):
    #: Frames the stylizer prefers per call; the runner batches accordingly.
    batch_size: int = 1

    def prepare(self, frame_at: Callable[[int], Frame], indices: Sequence[int],
                span: tuple[int, int] | None = None) -> None:
        """Called once before the first batch with random access to the source frames and the
        list of frame indices the job will process (for stylizers that need look-ahead, such as
        keyframe propagation or annotators computed once per job). ``span`` (first, last index):
        this run renders only those of the job's frames (a farm chunk); what a stylizer works
        out per job it needs only there and around it, yet numbered as in the whole job."""

    @abstractmethod
    def stylize(self, frames: Sequence[Frame], settings: Sequence[FrameSettings],
                is_cancelled: CancelCheck | None = None) -> list[np.ndarray]:
        """Stylize ``frames`` (clip order). Returns one ``(H, W, 3)`` float32 RGB image in [0, 1]
        per frame, the same size as its source frame."""

    def close(self) -> None:
        """Release models and buffers."""
