"""The latent in-iteration deflicker mechanism, with no weights at all.

A stand-in denoiser plays a stylizing diffusion model on a clip made by moving a real photo along
a known camera path: its x̂0 prediction pulls towards a real stylized frame plus that frame's own
flicker (what a per-frame diffusion stylizer produces) while the noise is high, and towards what
x_t already shows as the noise falls (as a real denoiser does). Latents are pixels (an identity
codec), so the loop is exactly the production :func:`sample` with only the model swapped out.
With the in-loop deflicker on, the output's warp error must fall well below the run with it off.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from synthclips import flicker, make_clip, stylize_clip, warp_error  # noqa: E402

from frameloom.stylize.diffusion.models import family_config  # noqa: E402
from frameloom.stylize.diffusion.sampler import FrameBatch, make_scheduler, sample  # noqa: E402


class PixelCodec:
    """Latents are the image itself in [-1, 1]: decode(encode(x)) == x."""

    def encode(self, images):
        return images.float() * 2 - 1

    def decode(self, latents):
        return ((latents.float() + 1) / 2).clamp(0, 1)


class StandInDenoiser:
    """ε for x̂0 = ᾱ_t·c_t + (1 − ᾱ_t)·target, where c_t is the clean content x_t holds now."""

    def __init__(self, targets: torch.Tensor, scheduler):
        self.targets, self.scheduler = targets * 2 - 1, scheduler

    def __call__(self, x, t, batch: FrameBatch):
        ab = self.scheduler.alphas_cumprod[int(t)].float()
        a, s = ab.sqrt(), (1 - ab).sqrt()
        content = (x - s * batch.noise) / a
        x0 = ab * content + (1 - ab) * self.targets
        return (x - a * x0) / s


def _to_tensor(frames):
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().contiguous()


def _run(clip, targets, deflicker, steps=10, strength=0.8):
    sched = make_scheduler("ddim", family_config("tiny", "scheduler"))
    images = _to_tensor(clip.frames)
    noise = torch.randn((1, *images.shape[1:]), generator=torch.Generator().manual_seed(0))
    batch = FrameBatch(images=images, noise=noise.expand_as(images).contiguous(), strength=strength)
    out = sample(StandInDenoiser(_to_tensor(targets), sched), PixelCodec(), sched, batch, steps=steps,
                 deflicker=deflicker)
    return [o for o in out.permute(0, 2, 3, 1).numpy()]


def test_in_loop_deflicker_cuts_warp_error():
    blend = pytest.importorskip("frameloom.temporal.blend")
    clip = make_clip(n_frames=6, size=(48, 48), seed=1)
    targets = flicker(stylize_clip(clip), strength=1.0, seed=3)
    calls = []

    def deflicker(styled, guide):
        calls.append(styled.shape[0])
        return blend.deflicker_frames(styled, guide, window=3)

    off = _run(clip, targets, None)
    on = _run(clip, targets, deflicker)
    e_off, e_on = warp_error(off, clip), warp_error(on, clip)
    assert len(calls) == 4                      # default: four steps of the eight that run
    assert e_on < 0.5 * e_off, (e_on, e_off)
    # The output still is the stylized clip, not a blur of it.
    styled = stylize_clip(clip)
    assert np.mean([np.abs(o - s).mean() for o, s in zip(on, styled)]) < 0.08
