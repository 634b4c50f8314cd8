"""Keyframe propagation on a real photo moved into a clip, and the PropagateStylizer contract."""
import cv2
import numpy as np
import pytest
import torch

from frameloom.errors import InputNotFound, MediaError, UserError
from frameloom.frames import Frame
from frameloom.temporal.propagate import (PropagateConfig, PropagateStylizer, fit_to,
                                          propagate_between)
from frameloom_client.v1 import frameloom_pb2 as pb
from synthclips import make_clip, psnr, stylize_clip


N = 8


@pytest.fixture(scope="module")
def scene():
    clip = make_clip(n_frames=N, size=(96, 128), seed=4)
    return clip, stylize_clip(clip)


def _png(image):
    ok, buf = cv2.imencode(".png", cv2.cvtColor((image * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def _spec(keys, **params):
    spec = pb.JobSpec()
    spec.style.kind = "propagate"
    for frame, image in keys.items():
        spec.style.keyframe_images.add(frame=frame, png=_png(image))
    for k, v in params.items():
        spec.style.params[k] = v
    return spec


def _run(stylizer, clip, indices):
    stylizer.prepare(lambda i: Frame(i, i / 24, clip.frames[i]), indices)
    return stylizer.stylize([Frame(i, i / 24, clip.frames[i]) for i in indices], None)


def test_propagation_beats_repeating_the_nearest_keyframe(scene):
    clip, clean = scene
    out = _run(PropagateStylizer(_spec({0: clean[0], N - 1: clean[-1]})), clip, list(range(N)))
    for i in range(1, N - 1):
        nearest = clean[0] if i < (N - 1) / 2 else clean[-1]
        ours, base = psnr(out[i], clean[i]), psnr(nearest, clean[i])
        assert ours >= base + 6.0, (i, ours, base)
        assert out[i].shape == (96, 128, 3) and out[i].dtype == np.float32
    # keyframes come back as given (8-bit PNG round trip)
    assert psnr(out[0], clean[0]) > 45


def test_blend_uses_both_keyframes(scene):
    clip, clean = scene
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].contiguous()  # noqa: E731
    mid = N // 2
    both = propagate_between(t(clean[0]), t(clip.frames[0]), t(clean[-1]), t(clip.frames[-1]),
                             t(clip.frames[mid]), mid / (N - 1), PropagateConfig(iterations=2))
    # A keyframe painted flat grey on one side shows up as a mix in the middle frame.
    grey = np.full_like(clean[-1], 0.5)
    mixed = propagate_between(t(clean[0]), t(clip.frames[0]), t(grey), t(clip.frames[-1]),
                              t(clip.frames[mid]), mid / (N - 1), PropagateConfig(iterations=2))
    assert both.shape == (1, 3, 96, 128)
    d = (mixed - both).abs().mean().item()
    assert 0.02 < d < (torch.from_numpy(grey).permute(2, 0, 1) - both[0]).abs().mean().item()


def test_single_keyframe_and_outside_frames(scene):
    clip, clean = scene
    out = _run(PropagateStylizer(_spec({2: clean[2]}, iterations=2)), clip, [0, 1, 2, 3, 4])
    for i in (0, 1, 3, 4):
        assert psnr(out[i], clean[i]) > psnr(clean[2], clean[i]) + 5


def test_deterministic_for_a_seed(scene):
    clip, clean = scene
    spec = _spec({0: clean[0], 4: clean[4]}, iterations=1)
    a = _run(PropagateStylizer(spec), clip, [0, 2, 4])
    b = _run(PropagateStylizer(spec), clip, [0, 2, 4])
    assert np.array_equal(a[1], b[1])


def test_keyframe_of_another_size_is_resized(scene, tmp_path):
    clip, clean = scene
    big = cv2.resize(clean[0], (256, 192), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "k0.png"
    cv2.imwrite(str(path), cv2.cvtColor((np.clip(big, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR))
    spec = pb.JobSpec()
    spec.style.keyframe_images.add(frame=0, path=str(path))
    spec.style.params["iterations"] = 1
    out = _run(PropagateStylizer(spec), clip, [0, 1])
    assert out[0].shape == (96, 128, 3) and psnr(out[0], clean[0]) > 35
    assert fit_to(np.zeros((10, 20, 3), np.float32), 5, 7).shape == (5, 7, 3)


def test_user_errors(scene, tmp_path):
    clip, clean = scene
    with pytest.raises(UserError, match="outside the processed frames"):
        _run(PropagateStylizer(_spec({0: clean[0], 30: clean[1]})), clip, [0, 1, 2])
    with pytest.raises(UserError, match="at least one keyframe"):
        PropagateStylizer(_spec({}))
    spec = pb.JobSpec()
    spec.style.keyframe_images.add(frame=0, path=str(tmp_path / "missing.png"))
    with pytest.raises(InputNotFound):
        PropagateStylizer(spec)
    spec = pb.JobSpec()
    spec.style.keyframe_images.add(frame=0, png=b"not a png")
    with pytest.raises(MediaError):
        PropagateStylizer(spec)
