"""Warp error (Lai et al. 2018), the one temporal-consistency measure of the house.

For a pair of consecutive frames (t-1, t), the *backward* flow of the source video says where
each pixel of frame t was in frame t-1. Warp the output's frame t-1 onto frame t along it and
the squared difference to the output's frame t is what changed that the motion does not
explain: flicker. The warp error of the pair is the mean of that residual over the pixels whose
correspondence is valid (inside the frame, not occluded), RGB in [0, 1]; a clip's is the mean
over its pairs.

The tests compute it with the exact flow of clips made by moving photographs; the report
computes it with :class:`SourceFlow` (OpenCV's DIS flow measured on the source, occlusions
masked by forward-backward consistency). Both call the functions here.

Images are ``(H, W, 3)`` float32 RGB in [0, 1]; flows ``(H, W, 2)`` float32 ``(dx, dy)``:
pixel ``x`` of frame t sits at ``x + flow(x)`` in frame t-1; masks ``(H, W)`` bool.
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["backward_warp", "warp_residual", "pair_warp_error", "SourceFlow", "FLOW_MAX_SIDE",
           "KNOWN_FLOW_TOLERANCE"]

#: Longest side the flow is estimated at; larger sources are shrunk for the estimate and the
#: flow scaled back up (DIS at full 1080p resolution costs ~4x as much for little accuracy).
FLOW_MAX_SIDE = 640

#: How far a clip's mean warp error measured with :class:`SourceFlow` may lie from the one
#: measured with the exact flow, on clips with known motion (tests/test_report.py holds it to
#: this; the report quotes it). Flow errors add a floor of about this size.
KNOWN_FLOW_TOLERANCE = 0.5e-3

# Forward-backward consistency (Sundaram et al. 2010, as Ruder et al. 2016 use it for video
# style transfer): a pixel is kept when following the backward flow and then the forward flow
# comes back within 0.01 of the squared flow lengths plus half a squared pixel.
_FB_RELATIVE = 0.01
_FB_ABSOLUTE = 0.5


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def backward_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` (the previous frame) at ``x + flow(x)``: brings it onto the current frame.

    ``image``: ``(H, W, C)``; ``flow``: ``(H, W, 2)``. Returns ``(H, W, C)``."""
    xs, ys = _grid(*flow.shape[:2])
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def warp_residual(previous: np.ndarray, current: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Per-pixel squared error between ``current`` and ``previous`` warped by ``flow``, averaged
    over the channels. ``(H, W, 3)`` x2 and ``(H, W, 2)`` -> ``(H, W)`` float32."""
    diff = current - backward_warp(previous, flow)
    return (diff * diff).mean(axis=2)


def pair_warp_error(previous: np.ndarray, current: np.ndarray, flow: np.ndarray,
                    mask: np.ndarray) -> float | None:
    """The warp error of one pair: the masked mean of :func:`warp_residual`. None when the
    mask keeps no pixel (nothing to compare)."""
    if not mask.any():
        return None
    return float(warp_residual(previous, current, flow)[mask].mean())


def _gray8(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    u8 = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    gray = cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY)
    return gray if size is None else cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


class SourceFlow:
    """Backward flow and occlusion mask of consecutive source frames, measured with OpenCV's DIS.

    DIS runs on the gray source at up to ``max_side`` pixels on the long side, at its finest
    pyramid level (the preset's default stops one level short, which doubles the end-point error
    on small clips). The mask keeps pixels whose backward and forward flows agree and whose
    match lands inside the previous frame. Not thread-safe: one per measuring thread.
    """

    def __init__(self, max_side: int = FLOW_MAX_SIDE):
        self.max_side = max_side
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._dis.setFinestScale(0)

    def _work_size(self, h: int, w: int) -> tuple[int, int] | None:
        scale = self.max_side / max(h, w)
        if scale >= 1.0:
            return None
        return max(8, round(w * scale)), max(8, round(h * scale))

    def __call__(self, previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(H, W, 3)`` source frames t-1 and t -> (flow ``(H, W, 2)``, mask ``(H, W)`` bool)."""
        h, w = current.shape[:2]
        size = self._work_size(h, w)
        prev, cur = _gray8(previous, size), _gray8(current, size)
        backward = self._dis.calc(cur, prev, None)
        forward = self._dis.calc(prev, cur, None)
        mask = self._consistent(backward, forward)
        if size is not None:
            backward = cv2.resize(backward, (w, h), interpolation=cv2.INTER_LINEAR)
            backward[..., 0] *= w / size[0]
            backward[..., 1] *= h / size[1]
            mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        return backward, mask

    @staticmethod
    def _consistent(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
        h, w = backward.shape[:2]
        xs, ys = _grid(h, w)
        mx, my = xs + backward[..., 0], ys + backward[..., 1]
        back_again = cv2.remap(forward, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        loop = backward + back_again
        lengths = (backward * backward).sum(axis=2) + (back_again * back_again).sum(axis=2)
        ok = (loop * loop).sum(axis=2) <= _FB_RELATIVE * lengths + _FB_ABSOLUTE
        return ok & (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
