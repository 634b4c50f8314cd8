"""Keyframe propagation (EbSynth-style): carry the look of a few stylized keyframes across a clip.

A frame is synthesised from a keyframe by a guided NNF (keyframe's original frame -> this frame's
original frame) and patch voting of the keyframe's stylized image. The target's stylized image is
unknown, so PatchMatch estimates it by voting as it goes.

Between two keyframes both are remapped and blended by temporal distance. Blending two
independently found remaps ghosts wherever they disagree, so the two searches share one estimate
of the target (the distance-weighted blend of both remaps): each field is pulled toward patches
that agree with the other's. Per pixel, the blend also favours the keyframe whose guide matched
better (a region one keyframe never saw is taken from the other). Frames before the first or after
the last keyframe use the nearest one.
"""
from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from ..errors import UserError
from ..frames import Frame, to_float
from ..stylize.base import CancelCheck, Stylizer, check_not_cancelled
from .blend import default_device
from .patchmatch import PatchMatchConfig, guide_error, nnf, remap

log = logging.getLogger(__name__)
Tensor = torch.Tensor


@dataclass(frozen=True)
class PropagateConfig:
    patch_size: int = 5
    iterations: int = 4
    guide_weight: float = 10.0    # guide vs estimated-style SSD while searching
    error_scale: float = 0.004    # guide MSE at which a keyframe's per-pixel say falls to 1/e
    seed: int = 0

    def patchmatch(self) -> PatchMatchConfig:
        return PatchMatchConfig(patch_size=self.patch_size, iterations=self.iterations,
                                guide_weight=self.guide_weight, seed=self.seed)


@torch.no_grad()
def propagate_frame(key_style: Tensor, key_guide: Tensor, target_guide: Tensor,
                    config: PropagateConfig = PropagateConfig(), key: int = 0) -> tuple[Tensor, Tensor]:
    """Synthesise target frames from one keyframe each.

    Args:
        key_style: ``(B, 3, H, W)`` stylized keyframes; key_guide: ``(B, C, H, W)`` their
            original frames; target_guide: ``(B, C, H, W)`` the original frames to stylize.
        key: seeds the search (use e.g. the target's frame index).

    Returns:
        ``(image (B, 3, H, W), guide error (B, H, W))``.
    """
    b = key_style.shape[0]
    off, _ = nnf(key_guide, target_guide, key_style, None, config.patchmatch(),
                 keys=[key * 16 + i for i in range(b)])
    return remap(key_style, off, config.patch_size), guide_error(key_guide, target_guide, off)


def _agreeing_estimate(weights: Tensor) -> Callable[[Tensor], Tensor]:
    """Estimator for pairs laid out ``[(k0 -> t), (k1 -> t)] * n``: both pairs of a target see the
    temporal-distance blend of their two remaps. ``weights``: ``(n, 2)`` summing to 1 per row."""
    def estimate(remaps: Tensor) -> Tensor:
        n = weights.shape[0]
        r = remaps.view(n, 2, *remaps.shape[1:])
        blend = (r * weights.view(n, 2, 1, 1, 1)).sum(1, keepdim=True)
        return blend.expand_as(r).reshape(remaps.shape)
    return estimate


@torch.no_grad()
def propagate_between(style0: Tensor, guide0: Tensor, style1: Tensor, guide1: Tensor,
                      target_guide: Tensor, t: float | Tensor, config: PropagateConfig = PropagateConfig(),
                      key: int = 0) -> Tensor:
    """Synthesise frames lying between two keyframes.

    Args:
        style0, guide0, style1, guide1: ``(B, 3|C, H, W)`` the keyframes before and after.
        target_guide: ``(B, C, H, W)`` original frames to stylize.
        t: position between the keyframes in [0, 1] (0 = at keyframe 0), scalar or ``(B,)``.

    Returns:
        ``(B, 3, H, W)`` stylized frames.
    """
    b = target_guide.shape[0]
    t = torch.as_tensor(t, dtype=torch.float32, device=target_guide.device).reshape(-1).expand(b)
    time_w = torch.stack([1.0 - t, t], dim=1)                                    # (B, 2)
    inter = lambda a, c: torch.stack([a, c], dim=1).reshape(2 * b, *a.shape[1:])  # noqa: E731
    src_guide, src_style = inter(guide0, guide1), inter(style0, style1)
    tgt_guide = target_guide.repeat_interleave(2, dim=0)
    off, _ = nnf(src_guide, tgt_guide, src_style, None, config.patchmatch(),
                 keys=[key * 16 + i for i in range(2 * b)], estimate=_agreeing_estimate(time_w))
    remaps = remap(src_style, off, config.patch_size).view(b, 2, 3, *target_guide.shape[-2:])
    err = guide_error(src_guide, tgt_guide, off).view(b, 2, 1, *target_guide.shape[-2:])
    # Time decides where both matched equally well; a clearly worse match loses its say.
    w = time_w.view(b, 2, 1, 1, 1) * torch.exp(-err / config.error_scale) + 1e-6 * time_w.view(b, 2, 1, 1, 1)
    return (remaps * w).sum(1) / w.sum(1)


# ---------------------------------------------------------------------------------------------
# The stylizer
# ---------------------------------------------------------------------------------------------

def decode_keyframe(image: "pb.KeyframeImage") -> np.ndarray:  # noqa: F821
    """A ``KeyframeImage`` (path or PNG bytes) -> ``(H, W, 3)`` float32 RGB in [0, 1]."""
    from ..images import decode_image, read_image

    if image.png:
        return to_float(decode_image(image.png, what=f"keyframe {image.frame} (embedded image)",
                                     alpha=False))
    if image.path:
        return to_float(read_image(image.path, what=f"keyframe {image.frame} ({image.path})"))
    raise UserError(f"keyframe {image.frame}: give a path or png bytes")


def fit_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a keyframe image to the frame size it stands for. The image is stretched to exactly
    ``(height, width)`` (area filter when shrinking, cubic when enlarging): a keyframe painted
    at another resolution still covers the whole frame."""
    if image.shape[:2] == (height, width):
        return image
    shrink = image.shape[0] * image.shape[1] > height * width
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _tensor(image: np.ndarray, device) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1).unsqueeze(0).to(device)


class PropagateStylizer(Stylizer):
    """Stylizer for ``style.kind = "propagate"``: keyframe images from ``spec.style.keyframe_images``.

    Search settings come from ``spec.style.params`` (``patch_size``, ``iterations``,
    ``guide_weight``) and the seed from ``spec.temporal.seed``.
    """

    batch_size = 1

    def __init__(self, spec, device=None):
        images = list(spec.style.keyframe_images)
        if not images:
            raise UserError("style propagate needs at least one keyframe image (style.keyframe_images)")
        frames = [int(k.frame) for k in images]
        if len(set(frames)) != len(frames):
            raise UserError("two keyframe images sit on the same frame")
        if min(frames) < 0:
            raise UserError(f"keyframe image frame must be >= 0, got {min(frames)}")
        self._images = {int(k.frame): decode_keyframe(k) for k in images}
        p = dict(spec.style.params)
        self.config = PropagateConfig(
            patch_size=int(p.get("patch_size", PropagateConfig.patch_size)),
            iterations=int(p.get("iterations", PropagateConfig.iterations)),
            guide_weight=float(p.get("guide_weight", PropagateConfig.guide_weight)),
            seed=int(spec.temporal.seed))
        if self.config.patch_size < 1 or self.config.patch_size % 2 == 0:
            raise UserError(f"patch_size must be odd, got {self.config.patch_size}")
        self.device = torch.device(device) if device is not None else default_device()
        self._keys: list[int] = sorted(self._images)
        self._style: dict[int, Tensor] = {}
        self._guide: dict[int, Tensor] = {}

    def prepare(self, frame_at: Callable[[int], Frame], indices: Sequence[int],
                span: tuple[int, int] | None = None) -> None:
        # Every frame is made from its keyframes alone (seeded by its own index), so a
        # chunk needs no more than the keyframes, wherever they lie in the job.
        indices = list(indices)
        processed = set(indices)
        for k in self._keys:
            if k not in processed:
                span = f"{min(indices)}..{max(indices)}" if indices else "none"
                raise UserError(f"keyframe image at frame {k} is outside the processed frames ({span})")
        for k in self._keys:
            guide = frame_at(k).image
            h, w = guide.shape[:2]
            img = self._images[k]
            if img.shape[:2] != (h, w):
                log.info("keyframe %d: image %dx%d resized to the frame's %dx%d", k,
                         img.shape[1], img.shape[0], w, h)
            self._style[k] = _tensor(fit_to(img, h, w), self.device)
            self._guide[k] = _tensor(guide, self.device)

    def stylize(self, frames: Sequence[Frame], settings=None,
                is_cancelled: CancelCheck | None = None) -> list[np.ndarray]:
        if not self._style:
            raise RuntimeError("PropagateStylizer.prepare() must run before stylize()")
        out = []
        for frame in frames:
            check_not_cancelled(is_cancelled)
            out.append(self.stylize_one(frame.index, frame.image))
        return out

    def stylize_one(self, index: int, image: np.ndarray) -> np.ndarray:
        """Stylized ``(H, W, 3)`` image for the source frame ``index`` showing ``image``."""
        if index in self._style:
            return self._style[index][0].permute(1, 2, 0).cpu().numpy()
        target = _tensor(image, self.device)
        pos = bisect.bisect_left(self._keys, index)
        before = self._keys[pos - 1] if pos > 0 else None
        after = self._keys[pos] if pos < len(self._keys) else None
        if before is not None and after is not None:
            t = (index - before) / (after - before)
            result = propagate_between(self._style[before], self._guide[before], self._style[after],
                                       self._guide[after], target, t, self.config, key=index)
        else:
            k = before if before is not None else after
            result, _ = propagate_frame(self._style[k], self._guide[k], target, self.config, key=index)
        return result[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()

    def close(self) -> None:
        self._style.clear()
        self._guide.clear()
