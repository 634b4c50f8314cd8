"""Guided PatchMatch: shapes, correctness on known shifts, determinism, batch independence."""
import numpy as np
import pytest
import torch

from frameloom.temporal.patchmatch import (PatchMatchConfig, clamp_offsets, nnf, pyramid_sizes,
                                           remap, shift_field, vote)
from synthclips import make_clip, psnr


def _t(images):
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def clip():
    return make_clip(n_frames=6, size=(96, 112), seed=3)


def test_shift_field_and_clamp():
    f = torch.arange(12.0).view(1, 1, 3, 4)
    assert torch.equal(shift_field(f, 0, 1)[0, 0, 0], torch.tensor([1.0, 2.0, 3.0, 3.0]))
    assert torch.equal(shift_field(f, 1, 0)[0, 0, -1], f[0, 0, -1])
    off = torch.full((1, 2, 3, 4), 10.0)
    c = clamp_offsets(off, (3, 4))
    assert (c[:, 0] + torch.arange(3.0).view(3, 1)).max() == 2
    assert (c[:, 1] + torch.arange(4.0)).max() == 3


def test_pyramid_sizes_keep_aspect():
    sizes = pyramid_sizes(384, 512, min_size=24, max_levels=6)
    assert sizes[0] == (384, 512) and min(sizes[-1]) >= 24 and len(sizes) == 5
    assert pyramid_sizes(20, 30, 24, 6) == [(20, 30)]


def test_vote_of_zero_field_is_identity():
    x = torch.rand(2, 3, 17, 23)
    assert torch.allclose(vote(x, torch.zeros(2, 2, 17, 23), 5), x, atol=1e-6)


def test_nnf_recovers_a_translation(clip):
    # Target is the source shifted by (3, -5): the field must say so away from the borders.
    src = _t(clip.frames[:1])
    tgt = torch.roll(src, shifts=(3, -5), dims=(2, 3))
    off, cost = nnf(src, tgt, src, tgt, PatchMatchConfig(seed=1))
    assert off.shape == (1, 2, 96, 112) and cost.shape == (1, 96, 112)
    inner = off[0, :, 10:-10, 10:-10]
    # Flat or clipped areas match equally well anywhere nearby, so judge the picture, and check
    # the dominant offset is the true one.
    assert inner[0].flatten().mode().values == -3 and inner[1].flatten().mode().values == 5
    out = remap(src, off)[0, :, 10:-10, 10:-10].permute(1, 2, 0).numpy()
    assert psnr(out, tgt[0, :, 10:-10, 10:-10].permute(1, 2, 0).numpy()) > 35


def test_remap_beats_repeating_the_source(clip):
    g, s = _t(clip.frames), _t([f ** 0.7 for f in clip.frames])  # a "style": a gamma curve
    off, _ = nnf(g[:1], g[4:5], s[:1], None, PatchMatchConfig())
    out = remap(s[:1], off)[0].permute(1, 2, 0).numpy()
    target = s[4].permute(1, 2, 0).numpy()
    assert psnr(out, target) > psnr(s[0].permute(1, 2, 0).numpy(), target) + 8
    assert psnr(out, target) > 28


def test_deterministic_and_batch_independent(clip):
    g, s = _t(clip.frames), _t(clip.frames)
    cfg = PatchMatchConfig(seed=7, iterations=2)
    a, _ = nnf(g[0:2], g[2:4], s[0:2], s[2:4], cfg, keys=[11, 12])
    b, _ = nnf(g[0:2], g[2:4], s[0:2], s[2:4], cfg, keys=[11, 12])
    single, _ = nnf(g[1:2], g[3:4], s[1:2], s[3:4], cfg, keys=[12])
    assert torch.equal(a, b)
    assert torch.equal(a[1:2], single)
    other, _ = nnf(g[0:2], g[2:4], s[0:2], s[2:4], PatchMatchConfig(seed=8, iterations=2), keys=[11, 12])
    assert not torch.equal(a, other)


def test_any_guide_channels_and_odd_sizes():
    g = torch.rand(1, 5, 37, 53)
    s = torch.rand(1, 3, 37, 53)
    off, cost = nnf(g, g.flip(3), s, None, PatchMatchConfig(patch_size=3, iterations=1))
    assert off.shape == (1, 2, 37, 53) and torch.isfinite(cost).all()
    assert remap(s, off, 3).shape == s.shape
