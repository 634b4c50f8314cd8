"""Embedded per-frame stylizers on OpenCV: no weights, fast, deterministic.

Each filter declares its parameters with defaults and ranges; a job's ``style.params`` and its
keyframes' ``params`` override them per frame (interpolated between keyframes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from ..errors import UserError
from ..frames import Frame, from_float, to_float
from ..spec import FrameSettings
from .base import CancelCheck, Stylizer, check_not_cancelled


@dataclass(frozen=True)
class Param:
    default: float
    low: float
    high: float
    help: str


def _u8(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(from_float(image, np.uint8), cv2.COLOR_RGB2BGR)


def _f32(bgr: np.ndarray) -> np.ndarray:
    return to_float(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def _scale_for(image: np.ndarray) -> float:
    """Filter footprints are tuned at 720p; scale them with the frame so the look is the same."""
    return max(image.shape[0], image.shape[1]) / 1280.0


def cartoon(image: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Flat colour regions with dark ink outlines."""
    s = _scale_for(image)
    bgr = _u8(image)
    # Bilateral smoothing at half size: the same look for a quarter of the cost.
    small = cv2.resize(bgr, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    for _ in range(int(round(p["smooth"]))):
        small = cv2.bilateralFilter(small, 9, 40, max(3.0, 7 * s))
    flat = cv2.resize(small, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_LINEAR)
    levels = max(2, int(round(p["levels"])))
    step = 256.0 / levels
    flat = (np.floor(flat / step) * step + step / 2).astype(np.uint8)
    gray = cv2.medianBlur(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 5)
    block = max(3, int(9 * max(s, 0.5)) | 1)
    edges = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY,
                                  block, p["edge"])
    ink = (edges.astype(np.float32) / 255.0)[:, :, None]
    return _f32(flat) * ink


def pencil(image: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Graphite (or coloured) pencil strokes over paper."""
    s = _scale_for(image)
    gray, color = cv2.pencilSketch(_u8(image), sigma_s=p["sigma_s"] * max(s, 0.25),
                                   sigma_r=p["sigma_r"], shade_factor=p["shade"])
    if p["color"] >= 0.5:
        return _f32(color)
    return _f32(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))


def oil(image: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Painterly: edge-preserving abstraction with boosted detail, like thick brush strokes."""
    s = _scale_for(image)
    bgr = _u8(image)
    painted = cv2.stylization(bgr, sigma_s=p["sigma_s"] * max(s, 0.25), sigma_r=p["sigma_r"])
    detailed = cv2.detailEnhance(painted, sigma_s=10 * max(s, 0.25), sigma_r=0.15)
    out = cv2.addWeighted(painted, 1.0 - p["detail"], detailed, p["detail"], 0)
    hsv = cv2.cvtColor(out, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * p["saturation"], 0, 255)
    return _f32(cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR))


def detail(image: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Crisp, contrasty micro-detail (an HDR-like look)."""
    s = _scale_for(image)
    out = cv2.detailEnhance(_u8(image), sigma_s=p["sigma_s"] * max(s, 0.25), sigma_r=p["sigma_r"])
    return _f32(out)


FILTERS: dict[str, tuple[Callable[[np.ndarray, dict], np.ndarray], dict[str, Param]]] = {
    "cartoon": (cartoon, {
        "smooth": Param(5, 0, 12, "bilateral smoothing passes"),
        "levels": Param(8, 2, 32, "colour levels per channel"),
        "edge": Param(4, 0, 20, "outline threshold offset (higher: fewer lines)"),
    }),
    "pencil": (pencil, {
        "sigma_s": Param(60, 1, 200, "stroke smoothing extent"),
        "sigma_r": Param(0.07, 0.01, 1, "stroke edge sensitivity"),
        "shade": Param(0.05, 0, 0.1, "paper shading"),
        "color": Param(0, 0, 1, "1: coloured pencil"),
    }),
    "oil": (oil, {
        "sigma_s": Param(60, 1, 200, "brush extent"),
        "sigma_r": Param(0.45, 0.01, 1, "colour blending"),
        "detail": Param(0.5, 0, 1, "brush texture"),
        "saturation": Param(1.2, 0, 3, "colour saturation"),
    }),
    "detail": (detail, {
        "sigma_s": Param(10, 1, 200, "detail extent"),
        "sigma_r": Param(0.15, 0.01, 1, "detail edge sensitivity"),
    }),
}


class FilterStylizer(Stylizer):
    batch_size = 1

    def __init__(self, name: str, params: dict[str, float] | None = None):
        if name not in FILTERS:
            raise UserError(f"unknown style 'filter:{name}'; available: "
                            + ", ".join(f"filter:{n}" for n in FILTERS))
        self.name = name
        self._fn, self._spec = FILTERS[name]
        self._base = {k: v.default for k, v in self._spec.items()}
        self._base.update(self._checked(params or {}))

    def _checked(self, params: dict[str, float]) -> dict[str, float]:
        for key, value in params.items():
            if key not in self._spec:
                raise UserError(f"filter:{self.name} has no parameter {key!r}; it takes "
                                + ", ".join(self._spec))
            lo, hi = self._spec[key].low, self._spec[key].high
            if not lo <= value <= hi:
                raise UserError(f"filter:{self.name} {key}={value} is outside {lo}..{hi}")
        return dict(params)

    def stylize(self, frames: Sequence[Frame], settings: Sequence[FrameSettings],
                is_cancelled: CancelCheck | None = None) -> list[np.ndarray]:
        out = []
        for frame, s in zip(frames, settings):
            check_not_cancelled(is_cancelled)
            p = {**self._base, **self._checked(s.params)}
            out.append(np.clip(self._fn(frame.image, p), 0.0, 1.0).astype(np.float32))
        return out


class Identity(Stylizer):
    batch_size = 8

    def stylize(self, frames, settings, is_cancelled=None):
        return [f.image for f in frames]


def make_filter(name: str, params: dict[str, float]) -> FilterStylizer:
    return FilterStylizer(name, params)
