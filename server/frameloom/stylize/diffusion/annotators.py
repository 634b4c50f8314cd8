"""ControlNet condition images: canny, tile, softedge, depth, openpose.

Annotations are computed once per frame per job and cached (the runner's windows overlap, and the
same frame's condition must not change between windows). Every annotator maps an ``(H, W, 3)``
float RGB frame to an ``(H, W, 3)`` float condition image in [0, 1] at model resolution.
"""
from __future__ import annotations

from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from ...errors import UserError

Annotator = Callable[[np.ndarray], np.ndarray]


def load_image(path: str = "", png: bytes = b"") -> np.ndarray:
    """A reference/keyframe image from a path or PNG bytes -> ``(H, W, 3)`` float32 RGB."""
    from ...frames import to_float
    from ...images import decode_image, read_image

    if png:
        return to_float(decode_image(png, what="image (png bytes)", alpha=False))
    return to_float(read_image(path))


def canny(image: np.ndarray, low: float = 100, high: float = 200) -> np.ndarray:
    gray = cv2.cvtColor((np.clip(image, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, int(low), int(high)).astype(np.float32) / 255.0
    return np.repeat(edges[:, :, None], 3, axis=2)


def tile(image: np.ndarray, downscale: float = 4.0) -> np.ndarray:
    """The tile ControlNet's condition: the frame with its fine detail removed."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, int(w / downscale)), max(1, int(h / downscale))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def make_annotator(kind: str, weights: str, params: dict[str, float], allow_pickle: bool = False,
                   device=None) -> Annotator:
    """The annotator for a ControlNet ``kind``; weight-based ones load ``weights`` (a local
    file) onto ``device`` (None: the default device)."""
    if kind == "canny":
        return lambda img: canny(img, params.get("low", 100), params.get("high", 200))
    if kind == "tile":
        return lambda img: tile(img, params.get("downscale", 4.0))
    if kind in ("depth", "softedge", "openpose"):
        from . import annotator_nets
        return annotator_nets.make(kind, weights, params, allow_pickle, device)
    if kind in ("", "none", "image"):
        if weights:   # a folder of precomputed condition maps
            from . import annotator_nets
            return annotator_nets.make(kind, weights, params, allow_pickle, device)
        return lambda img: img
    raise UserError(f"unknown ControlNet kind {kind!r}; use canny, softedge, depth, openpose or tile")


class AnnotatorSet:
    """Condition images for each ControlNet of a job, cached per (ControlNet, frame index).

    The cache keeps the frames of the last ``keep`` indices only: windows overlap by a few
    frames, and host memory must not grow with the clip."""

    def __init__(self, controlnet_specs, frame_at=None, indices: Sequence[int] = (),
                 allow_pickle: bool = False, keep: int = 64, device=None,
                 spans: Sequence[tuple[int, int]] | None = None):
        """``spans``: ordinal ranges of ``indices`` this run annotates (a farm chunk); None:
        all of them."""
        self.annotators = [make_annotator(cn.kind, cn.annotator, dict(cn.params), allow_pickle, device)
                           for cn in controlnet_specs]
        self.keep = keep
        self.cache: dict[tuple[int, int, tuple], np.ndarray] = {}
        # Pose needs the whole clip's keypoints to smooth them over time before drawing.
        for k, cn in enumerate(controlnet_specs):
            if cn.kind == "openpose" and frame_at is not None and indices:
                self.annotators[k].fit(frame_at, indices, spans)

    def images(self, k: int, frames, size: tuple[int, int]) -> torch.Tensor:
        """``(F, 3, H, W)`` condition images of ControlNet ``k`` for ``frames`` at ``size``."""
        h, w = size
        newest = max(f.index for f in frames)
        for key in [key for key in self.cache if key[1] < newest - self.keep]:
            del self.cache[key]
        out = []
        for f in frames:
            key = (k, f.index, size)
            if key not in self.cache:
                img = f.image if f.image.shape[:2] == (h, w) else cv2.resize(
                    f.image, (w, h), interpolation=cv2.INTER_AREA)
                ann = self.annotators[k]
                cond = ann.at(f.index, img, f.image.shape[:2]) if hasattr(ann, "at") else ann(img)
                self.cache[key] = np.ascontiguousarray(cond, dtype=np.float32)
            out.append(self.cache[key])
        return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()
