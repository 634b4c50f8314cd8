"""Synthetic clips with known motion, made by moving real photographs, and the measures on them.

A clip is a virtual camera moving over a real photo (pan + zoom + rotation along a smooth path)
with a foreground object (a disc cut from another photo) sliding and turning on top. Because every
pixel's motion is known, each frame comes with its exact *backward* flow and an occlusion mask,
which is what the temporal-consistency measure of Lai et al. (2018) needs::

    clip = make_clip(n_frames=12, size=(128, 128))
    clip.frames[t]            # (H, W, 3) float32 RGB in [0, 1]
    clip.flow[t]              # (H, W, 2) float32 (dx, dy): pixel x of frame t sits at x + flow in t-1
    clip.mask[t]              # (H, W) bool: that correspondence is valid (in frame, not occluded)
    warp_error(outputs, clip) # masked MSE between O_t and O_{t-1} warped by the source flow

``flow[0]`` and ``mask[0]`` are zeros/False (frame 0 has no predecessor).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from frameloom.report.warp import backward_warp, pair_warp_error

__all__ = ["Clip", "make_clip", "warp_error", "psnr", "backward_warp", "flicker", "stylize_clip",
           "cartoon", "painterly"]


@dataclass
class Clip:
    frames: list[np.ndarray]
    flow: list[np.ndarray]
    mask: list[np.ndarray]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)


def _photo(name: str) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return img[:, :, :3].astype(np.float32) / 255.0


def _shrink(img: np.ndarray, factor: float) -> np.ndarray:
    factor = min(factor, 1.0)
    size = (max(1, round(img.shape[1] * factor)), max(1, round(img.shape[0] * factor)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _affine(center_src, angle_deg: float, scale: float, center_dst) -> np.ndarray:
    """3x3 matrix taking destination (frame) coords to source (photo) coords: rotate by angle and
    scale by ``1/scale`` about ``center_dst``, landing on ``center_src``."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a) / scale, np.sin(a) / scale
    m = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    t1 = np.array([[1, 0, -center_dst[0]], [0, 1, -center_dst[1]], [0, 0, 1.0]])
    t2 = np.array([[1, 0, center_src[0]], [0, 1, center_src[1]], [0, 0, 1.0]])
    return t2 @ m @ t1


def _apply(m: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return m[0, 0] * xs + m[0, 1] * ys + m[0, 2], m[1, 0] * xs + m[1, 1] * ys + m[1, 2]


def make_clip(n_frames: int = 12, size: tuple[int, int] = (128, 128), background: str = "astronaut",
              foreground: str | None = "coffee", pan: tuple[float, float] = (2.0, 1.0),
              zoom: float = 0.01, rotation: float = 0.5, object_speed: tuple[float, float] = (-2.5, 1.5),
              object_spin: float = -2.0, seed: int = 0) -> Clip:
    """Render a clip of ``n_frames`` frames of ``size`` (H, W) with known motion.

    Args:
        background, foreground: names of scikit-image sample photos (``skimage.data``).
        pan: camera translation per frame in frame pixels (x, y); zoom: relative zoom per frame;
        rotation: camera roll per frame (degrees).
        object_speed: the foreground disc's motion per frame (x, y); object_spin: its roll (deg).
        seed: jitters the path start so different seeds give different clips.
    """
    h, w = size
    rng = np.random.default_rng(seed)
    bg = _photo(background)
    # Show about 60% of the photo's short side so the camera has room to move. Shrink the photo
    # to that scale first (area filter): sampling it sparsely would alias and shimmer.
    bg = _shrink(bg, min(h, w) / (0.6 * min(bg.shape[:2])))
    bh, bw = bg.shape[:2]
    radius = 0.22 * min(h, w)
    fg = _photo(foreground) if foreground else None
    if fg is not None:
        fg = _shrink(fg, 2 * radius * 1.6 / min(fg.shape[:2]))
    start = np.array([bw * 0.5, bh * 0.45]) + rng.uniform(-0.04, 0.04, 2) * min(bh, bw)
    obj_start = np.array([w * 0.6, h * 0.4])
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    base_scale = 1.0

    cams, objs, frames, fg_masks = [], [], [], []
    for t in range(n_frames):
        scale = base_scale * (1.0 + zoom) ** t
        centre = start + np.array(pan) * t / base_scale
        cam = _affine(centre, rotation * t, scale, (w / 2, h / 2))        # frame -> photo
        px, py = _apply(cam, xs, ys)
        img = cv2.remap(bg, px.astype(np.float32), py.astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT)
        inside = np.zeros((h, w), bool)
        obj = None
        if fg is not None:
            fh, fw = fg.shape[:2]
            pos = obj_start + np.array(object_speed) * t
            # Object coords: photo pixels of the foreground image; the disc shows its centre.
            obj = _affine((fw / 2, fh / 2), object_spin * t, 1.0, pos)
            ox, oy = _apply(obj, xs, ys)
            inside = np.hypot(ox - fw / 2, oy - fh / 2) < radius
            fimg = cv2.remap(fg, ox.astype(np.float32), oy.astype(np.float32), cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
            # Soft 1 px edge so the disc is not aliased.
            alpha = cv2.GaussianBlur(inside.astype(np.float32), (3, 3), 0.7)[:, :, None]
            img = img * (1 - alpha) + fimg * alpha
        frames.append(np.clip(img, 0, 1).astype(np.float32))
        cams.append(cam)
        objs.append(obj)
        fg_masks.append(inside)

    flows, masks = [np.zeros((h, w, 2), np.float32)], [np.zeros((h, w), bool)]
    for t in range(1, n_frames):
        # Background: frame-t pixel -> photo -> frame t-1.
        px, py = _apply(cams[t], xs, ys)
        bx, by = _apply(np.linalg.inv(cams[t - 1]), px, py)
        fx, fy = bx, by
        if fg is not None:
            ox, oy = _apply(objs[t], xs, ys)
            gx, gy = _apply(np.linalg.inv(objs[t - 1]), ox, oy)
            fx = np.where(fg_masks[t], gx, bx)
            fy = np.where(fg_masks[t], gy, by)
        flow = np.stack([fx - xs, fy - ys], axis=-1).astype(np.float32)
        valid = (fx >= 0) & (fx <= w - 1) & (fy >= 0) & (fy <= h - 1)
        if fg is not None:
            # Valid only where the point lands on the same layer in t-1, away from the disc edge.
            prev_fg = cv2.remap(fg_masks[t - 1].astype(np.float32), fx.astype(np.float32),
                                fy.astype(np.float32), cv2.INTER_LINEAR) > 0.5
            edge = cv2.dilate(fg_masks[t].astype(np.uint8), np.ones((5, 5), np.uint8)) != \
                cv2.erode(fg_masks[t].astype(np.uint8), np.ones((5, 5), np.uint8))
            valid &= (prev_fg == fg_masks[t]) & ~edge
        flows.append(flow)
        masks.append(valid)
    return Clip(frames, flows, masks, meta={"size": size, "n_frames": n_frames})


def warp_error(outputs: list[np.ndarray], clip: Clip) -> float:
    """Lai et al. (2018) warp error: mean over t of the masked MSE between ``O_t`` and ``O_{t-1}``
    warped by the *source* clip's flow (RGB in [0, 1]). Lower is more temporally consistent.
    The per-pair measure is the engine's own (:mod:`frameloom.report.warp`), which the flicker
    report computes with estimated flow instead of this exact one."""
    errs = [pair_warp_error(outputs[t - 1], outputs[t], clip.flow[t], clip.mask[t])
            for t in range(1, len(outputs))]
    return float(np.mean([e for e in errs if e is not None]))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two images (or stacks) in [0, 1]."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def cartoon(image: np.ndarray) -> np.ndarray:
    """A deterministic per-frame stylization: bilateral-smoothed, colour-quantised, with dark
    edges. ``(H, W, 3)`` float32 [0, 1] -> same."""
    u8 = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    smooth = u8
    for _ in range(2):
        smooth = cv2.bilateralFilter(smooth, 7, 40, 5)
    quant = (smooth // 32) * 32 + 16
    gray = cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY)
    edges = cv2.adaptiveThreshold(cv2.medianBlur(gray, 5), 255, cv2.ADAPTIVE_THRESH_MEAN_C,
                                  cv2.THRESH_BINARY, 9, 4)
    out = quant.astype(np.float32) / 255.0 * (edges[:, :, None] / 255.0 * 0.75 + 0.25)
    return out.astype(np.float32)


def painterly(image: np.ndarray) -> np.ndarray:
    """A deterministic per-frame look that is stable frame to frame on its own: edge-preserving
    smoothing, a warm colour grade and boosted saturation. ``(H, W, 3)`` float32 [0, 1]."""
    u8 = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    smooth = cv2.edgePreservingFilter(u8, flags=cv2.RECURS_FILTER, sigma_s=20, sigma_r=0.25)
    f = smooth.astype(np.float32) / 255.0
    gray = f.mean(axis=2, keepdims=True)
    f = gray + 1.6 * (f - gray)                       # saturation
    f = f * np.array([1.08, 0.97, 0.82], np.float32)  # warm grade
    f = np.power(np.clip(f, 0, 1), 0.85)              # lift the shadows
    return f.astype(np.float32)


def stylize_clip(clip: Clip, fn=None) -> list[np.ndarray]:
    """Per-frame stylization of a clip (``fn`` default: :func:`painterly`)."""
    return [(fn or painterly)(f) for f in clip.frames]


def flicker(frames: list[np.ndarray], strength: float = 1.0, seed: int = 0, *,
            blotch_cells: int = 4, blotch: float = 0.05, gray_blotches: bool = False,
            noise: float = 0.05) -> list[np.ndarray]:
    """Independent per-frame flicker: colour gain, brightness, low-frequency blotches and texture
    noise, as a frame-by-frame stylizer produces. ``strength`` scales all of it.

    The blotches are a ``blotch_cells`` x ``blotch_cells`` grid of random values smoothly
    interpolated over the frame (fewer cells: larger, softer blotches) with standard deviation
    ``blotch``, per colour channel or, with ``gray_blotches``, one brightness field for all three;
    ``noise`` is the standard deviation of the fine texture noise before its 3x3 blur."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        h, w = f.shape[:2]
        gain = 1.0 + strength * rng.uniform(-0.12, 0.12, 3)
        bright = strength * rng.uniform(-0.06, 0.06)
        coarse = rng.normal(0, 1, (blotch_cells, blotch_cells, 1 if gray_blotches else 3))
        field = cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        blotches = field.reshape(h, w, -1) * (blotch * strength)
        grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (3, 3), 0.8)
        grain *= noise * strength
        out.append(np.clip(f * gain + bright + blotches + grain, 0, 1).astype(np.float32))
    return out
