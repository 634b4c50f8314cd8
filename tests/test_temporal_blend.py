"""Deflicker on a real photo moved into a clip: quality vs flicker, streaming == in-memory,
memory bounded by the window."""
import numpy as np
import pytest
import torch

from frameloom.errors import UserError
from frameloom.temporal.blend import (DeflickerConfig, StreamingDeflicker, compensate,
                                      deflicker_frames, make_temporal_filter)
from frameloom_client.v1 import frameloom_pb2 as pb
from synthclips import flicker, make_clip, psnr, stylize_clip, warp_error


def _t(images):
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def _np(x):
    return [f.permute(1, 2, 0).numpy() for f in x]


@pytest.fixture(scope="module")
def scene():
    clip = make_clip(n_frames=10, size=(112, 112), seed=1)
    clean = stylize_clip(clip)
    return clip, clean, flicker(clean, seed=2)


@pytest.mark.parametrize("mode,window", [("window", 3), ("fast", 4)])
def test_deflicker_removes_flicker(scene, mode, window):
    clip, clean, flickering = scene
    out = _np(deflicker_frames(_t(flickering), _t(clip.frames), window=window, mode=mode))
    w_in, w_out = warp_error(flickering, clip), warp_error(out, clip)
    p_in, p_out = psnr(np.stack(flickering), np.stack(clean)), psnr(np.stack(out), np.stack(clean))
    assert w_out <= 0.25 * w_in, (w_in, w_out)
    assert p_out >= p_in + 4.0, (p_in, p_out)


@pytest.mark.parametrize("mode,window", [("window", 2), ("fast", 3)])
def test_streaming_equals_in_memory_and_is_bounded(scene, mode, window):
    clip, _, flickering = scene
    frames, guides = flickering[:7], clip.frames[:7]
    expected = _np(deflicker_frames(_t(frames), _t(guides), window=window, mode=mode, iterations=2))
    f = StreamingDeflicker(pb.TemporalSpec(mode=mode, window=window, iterations=2))
    got, most = [], 0
    for i, (s, g) in enumerate(zip(frames, guides)):
        ready = f.push(100 + i, s, g)
        most = max(most, f.buffered)
        got.extend(ready)
        if i < window:
            assert ready == []  # a frame waits for its w successors
    got.extend(f.flush())
    assert [i for i, _ in got] == list(range(100, 107))
    assert most <= 2 * window + 1
    for (_, a), b in zip(got, expected):
        assert a.shape == (112, 112, 3) and a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert f.buffered == 0 and f.blocks_held == 0


def test_fast_mode_holds_bounded_state_on_a_long_stream():
    # 40 tiny frames through a +-4 window: state stays bounded by the window, not the clip.
    rng = np.random.default_rng(0)
    f = StreamingDeflicker(mode="fast", window=4, iterations=1)
    peak_frames = peak_blocks = 0
    for i in range(40):
        img = rng.random((24, 24, 3), dtype=np.float32)
        f.push(i, img, img)
        peak_frames, peak_blocks = max(peak_frames, f.buffered), max(peak_blocks, f.blocks_held)
    assert len(f.flush()) == 4
    assert peak_frames <= 9 and peak_blocks <= 2 * 9 + 4


def test_deterministic_for_a_seed(scene):
    clip, _, flickering = scene
    a = deflicker_frames(_t(flickering[:4]), _t(clip.frames[:4]), window=1, seed=5, iterations=1)
    b = deflicker_frames(_t(flickering[:4]), _t(clip.frames[:4]), window=1, seed=5, iterations=1)
    assert torch.equal(a, b)


def test_config_from_spec_and_filter_factory():
    assert make_temporal_filter(pb.TemporalSpec(mode="none")) is None
    f = make_temporal_filter(pb.TemporalSpec(mode="fast", window=7, guide_weight=3.0, compensate=True))
    assert isinstance(f, StreamingDeflicker)
    assert (f.config.mode, f.config.radius, f.config.guide_weight, f.config.compensate) == ("fast", 7, 3.0, True)
    assert DeflickerConfig.from_spec(pb.TemporalSpec()).radius == 3  # empty spec: window mode default
    assert make_temporal_filter(None).config.mode == "window"
    with pytest.raises(UserError):
        DeflickerConfig.from_spec(pb.TemporalSpec(mode="sideways"))
    with pytest.raises(UserError):
        DeflickerConfig.from_spec(pb.TemporalSpec(patch_size=4))


def test_mismatched_sizes_are_user_errors():
    f = StreamingDeflicker(window=1)
    with pytest.raises(UserError):
        f.push(0, np.zeros((8, 8, 3), np.float32), np.zeros((8, 9, 3), np.float32))


def test_compensate_restores_contrast_without_softening():
    ref = torch.rand(1, 3, 32, 32)
    soft = ref * 0.5 + 0.25
    out = compensate(soft, ref)
    assert out.std() > soft.std() * 1.5
    assert torch.allclose(compensate(ref, ref), ref.clamp(0, 1), atol=1e-5)
