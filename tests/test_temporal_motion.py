"""The deflicker's defaults on every kind of shot of the test set (tests/flickerset.py): pans, a
roll, zooms in and out, a moving object, textured and smooth content (sky). Each must keep at most
a quarter of the flickered input's warp error and gain 4 dB of PSNR against the clean
stylization, in memory (the diffusion sampler's path) and streaming (the runner's)."""
import numpy as np
import pytest
import torch

from frameloom.temporal.blend import (DeflickerConfig, StreamingDeflicker, deflicker_frames,
                                      make_temporal_filter)
from frameloom.temporal.patchmatch import PatchMatchConfig, nnf
from frameloom_client.v1 import frameloom_pb2 as pb
from flickerset import SHOTS, make_case, score
from synthclips import flicker, make_clip, painterly

SIZE, FRAMES = (112, 112), 10


def _t(images):
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def _np(x):
    return [f.permute(1, 2, 0).numpy() for f in x]


def test_the_defaults_are_the_commands_defaults():
    # `frameloom deflicker STYLED --guide ORIGINAL` sends a window-mode TemporalSpec with nothing
    # else set; the runner's filter and deflicker_frames() must then match on style detail.
    cfg = make_temporal_filter(pb.TemporalSpec(mode="window")).config
    assert cfg == DeflickerConfig() and cfg.style_detail and cfg.patchmatch().style_detail
    assert not PatchMatchConfig().style_detail  # keyframe propagation keeps full-colour style


@pytest.mark.parametrize("name", list(SHOTS))
def test_default_deflicker_meets_the_bar_on_every_shot(name):
    case = make_case(SHOTS[name], size=SIZE, n_frames=FRAMES)
    out = _np(deflicker_frames(_t(case.flickered), _t(case.clip.frames)))
    s = score(out, case)
    assert s["ratio"] <= 0.25, s
    assert s["gain"] >= 4.0, s


def test_streaming_defaults_meet_the_bar_on_a_smooth_push_in_and_match_in_memory():
    case = make_case(SHOTS["sky-zoom-in-object"], size=SIZE, n_frames=FRAMES)
    f = make_temporal_filter(None)
    got = []
    for i, (s, g) in enumerate(zip(case.flickered, case.clip.frames)):
        got.extend(img for _, img in f.push(i, s, g))
    got.extend(img for _, img in f.flush())
    s = score(got, case)
    assert s["ratio"] <= 0.25 and s["gain"] >= 4.0, s
    expected = _np(deflicker_frames(_t(case.flickered), _t(case.clip.frames)))
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_detail_matching_does_not_follow_brightness_blotches_on_a_flat_guide():
    # One still frame of sky, stylized twice with different soft blotches: the true field is the
    # identity. Full-colour matching wanders to wherever the source's blotch has the target's
    # brightness; detail matching stays put.
    guide = make_clip(n_frames=1, size=(64, 64), background="rocket", foreground=None, pan=(0, 0),
                      zoom=0.0, rotation=0.0).frames[0]
    a, b = flicker([painterly(guide)] * 2, seed=4, blotch_cells=3, blotch=0.08,
                   gray_blotches=True, noise=0.02)
    g, sa, sb = _t([guide]), _t([a]), _t([b])
    moved = {}
    for detail in (False, True):
        off, _ = nnf(g, g, sa, sb, PatchMatchConfig(style_detail=detail, seed=3))
        moved[detail] = float((off.abs().sum(1) > 1).float().mean())
    assert moved[True] < 0.15 and moved[False] > 0.5, moved


def test_streaming_filter_from_an_empty_spec_uses_detail_matching():
    f = StreamingDeflicker(pb.TemporalSpec())
    assert f.config.style_detail and f.config.radius == 3
