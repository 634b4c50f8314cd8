"""Like for like: with consistency off, frameloom's loop gives diffusers' frames.

The anchor of the speed comparison (benchmarks/bench_vs_diffusers.py) is diffusers'
StableDiffusionControlNetImg2ImgPipeline run frame by frame. Here both run the same tiny random
model, scheduler, noise and settings; the one choice that differs by design is aligned for the
test: diffusers samples the VAE posterior where frameloom takes its mean (the deterministic
encoding every frame of a clip shares). Then the frames agree to float32 rounding.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from frameloom.frames import Frame  # noqa: E402
from frameloom.stylize.diffusion import DiffusionStylizer  # noqa: E402
from frameloom.stylize.diffusion.models import build_tiny, build_tiny_controlnet  # noqa: E402
from frameloom_client.jobspec import Schedule, build_spec  # noqa: E402


@pytest.fixture
def posterior_mean(monkeypatch):
    from diffusers.models.autoencoders import vae

    monkeypatch.setattr(vae.DiagonalGaussianDistribution, "sample",
                        lambda self, generator=None: self.mean)


@pytest.mark.parametrize("steps,strength", [(4, 0.75), (10, 0.5)])
def test_consistency_off_matches_diffusers_frame_by_frame(posterior_mean, steps, strength):
    from diffusers import DDIMScheduler, StableDiffusionControlNetImg2ImgPipeline
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

    comps = build_tiny()
    comps.controlnets = [("image", build_tiny_controlnet(0)), ("image", build_tiny_controlnet(1))]
    rng = np.random.default_rng(0)
    frames = [rng.random((64, 64, 3)).astype(np.float32) for _ in range(3)]
    spec = build_spec(style="diffusion", model="builtin:tiny", prompt="a cat", negative_prompt="",
                      steps=steps, strength=strength, guidance=7.5, seed=3, cross_frame=False,
                      deflicker="none",
                      controlnets=[{"kind": "image", "model": "builtin:tiny", "scale": 0.8},
                                   {"kind": "image", "model": "builtin:tiny", "scale": 0.5}])
    schedule = Schedule(spec)
    ours = DiffusionStylizer(spec, components=comps, device="cpu").stylize(
        [Frame(i, 0.0, f) for i, f in enumerate(frames)], [schedule.at(i) for i in range(3)])

    pipe = StableDiffusionControlNetImg2ImgPipeline(
        vae=comps.vae, text_encoder=comps.text_encoder, tokenizer=comps.tokenizer, unet=comps.unet,
        controlnet=MultiControlNetModel([cn for _, cn in comps.controlnets]),
        scheduler=DDIMScheduler.from_config(comps.scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    for mine, f in zip(ours, frames):
        image = torch.from_numpy(f).permute(2, 0, 1)[None]
        theirs = pipe(prompt="a cat", image=image, control_image=[image, image], strength=strength,
                      num_inference_steps=steps, guidance_scale=7.5, controlnet_conditioning_scale=[0.8, 0.5],
                      generator=torch.Generator("cpu").manual_seed(3), output_type="np").images[0]
        assert np.abs(mine - theirs).max() < 1e-4
    # And the comparison is not vacuous: the frames were changed, each its own way.
    assert min(np.abs(a - b).mean() for a, b in zip(ours, frames)) > 0.01
