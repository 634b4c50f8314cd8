"""The diffusion stylizer on builtin:tiny: shapes, determinism, deflicker steps, cross-frame
attention, keyframed settings, windows across calls, cancellation."""
from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from frameloom.errors import Cancelled, UserError  # noqa: E402
from frameloom.frames import Frame  # noqa: E402
from frameloom.spec import Schedule, spec_from_dict  # noqa: E402
from frameloom.stylize.diffusion import DiffusionStylizer, model_size  # noqa: E402
from frameloom.stylize.diffusion.models import build_tiny, build_tiny_controlnet  # noqa: E402
from frameloom.stylize.diffusion.stylizer import slerp  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    comps = build_tiny()
    comps.controlnets = [("canny", build_tiny_controlnet())]
    return comps


def make_spec(**diffusion):
    d = {"model": "builtin:tiny", "prompt": "a red fox", "steps": 4, "strength": 0.75, **diffusion}
    keyframes = d.pop("keyframes", [])
    return spec_from_dict({"style": {"kind": "diffusion", "diffusion": d}, "keyframes": keyframes})


def make_frames(n=4, h=40, w=56, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random((h, w, 3)).astype(np.float32)
    return [Frame(i, i / 24, np.clip(np.roll(base, 2 * i, axis=1) + 0.02 * i, 0, 1).astype(np.float32))
            for i in range(n)]


class Wrap:
    """Delegates to a denoiser so a test can watch its calls."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)


def run(comps, spec, frames, deflicker=False, **kw):
    st = DiffusionStylizer(spec, components=copy.deepcopy(comps), deflicker=deflicker, device="cpu", **kw)
    st.prepare(lambda i: frames[i], [f.index for f in frames])
    sched = Schedule(spec)
    return st, st.stylize(frames, [sched.at(f.index) for f in frames])


def test_shapes_and_determinism(tiny):
    frames = make_frames(n=3, h=40, w=56)     # odd aspect; runs at 64x64, comes back at 40x56
    spec = make_spec(seed=7, controlnets=[{"kind": "canny", "model": "builtin:tiny"}])
    _, a = run(tiny, spec, frames)
    _, b = run(tiny, spec, frames)
    _, c = run(tiny, make_spec(seed=8, controlnets=[{"kind": "canny", "model": "builtin:tiny"}]), frames)
    assert len(a) == 3
    for img, f in zip(a, frames):
        assert img.shape == f.image.shape and img.dtype == np.float32
        assert 0.0 <= img.min() and img.max() <= 1.0
    assert all(np.array_equal(x, y) for x, y in zip(a, b)), "same seed must give the same output"
    assert max(float(np.abs(x - y).max()) for x, y in zip(a, c)) > 1e-3, "seed must matter"


def test_model_size_rounds_to_multiples_of_8():
    assert model_size(1080, 1920) == (1080, 1920)
    assert model_size(1080, 1920, width=1000) == (560, 1000)
    assert model_size(720, 1280, 853, 479) == (480, 856)
    assert model_size(30, 50) == (64, 64)


def test_deflicker_runs_exactly_at_configured_steps(tiny):
    frames = make_frames(n=3)
    spec = make_spec(steps=6, strength=1.0, guidance=1.0, deflicker_steps=[1, 4])
    seen = []
    st = DiffusionStylizer(spec, components=copy.deepcopy(tiny), device="cpu",
                           deflicker=lambda s, g: (seen.append((len(steps), s.shape, g.shape)), s)[1])
    steps = []
    inner = st.denoiser

    class Counting(Wrap):
        def __call__(self, x, t, batch):
            steps.append(int(t))
            return inner(x, t, batch)

    st.denoiser = Counting(inner)
    sched = Schedule(spec)
    st.stylize(frames, [sched.at(i) for i in range(3)])
    assert len(steps) == 6
    # Called right after the denoiser ran at step i (0-based): i + 1 denoiser calls so far.
    assert [s[0] for s in seen] == [2, 5]
    assert seen[0][1] == seen[0][2] == (3, 3, 64, 64)


def test_deflicker_off_and_default_steps(tiny):
    frames = make_frames(n=1)
    calls = []
    spec = make_spec(steps=10, strength=1.0, guidance=1.0, deflicker_steps=[-1])
    run(tiny, spec, frames, deflicker=lambda s, g: calls.append(1) or s)
    assert calls == []
    run(tiny, make_spec(steps=10, strength=1.0, guidance=1.0), frames, deflicker=lambda s, g: calls.append(1) or s)
    assert len(calls) == 4


def test_cross_frame_attention_changes_what_a_frame_sees(tiny):
    frames = make_frames(n=4)
    other = list(frames)
    other[0] = frames[0].with_image(np.ascontiguousarray(frames[0].image[::-1]))   # change only frame 0
    on = make_spec(cross_frame={"enabled": True, "first_frame": True, "previous_frames": 1})
    off = make_spec(cross_frame={"enabled": False})
    st, a = run(tiny, on, frames)
    _, b = run(tiny, on, other)
    _, c = run(tiny, off, frames)
    _, d = run(tiny, off, other)
    assert st.cross.calls > 0
    # Random tiny weights make attention a small part of the output (~1e-3 here), but without
    # cross-frame attention frames are exactly independent: frame 3 ignores frame 0.
    assert np.abs(c[3] - d[3]).max() < 1e-6
    # With it, frame 3 attends to frame 0 (the anchor), so changing frame 0 changes frame 3.
    assert np.abs(a[3] - b[3]).max() > 2e-4
    # Frame 0 attends only to itself (duplicated slots), so it matches the plain run.
    assert np.abs(a[0] - c[0]).max() < 5e-5
    # ... and every other frame really differs from the plain run.
    assert min(float(np.abs(a[i] - c[i]).max()) for i in (1, 2, 3)) > 2e-4


def test_anchor_is_kept_across_windows(tiny):
    """Two calls of 2 frames give the same result as one call of 4 when frame 2 can reach the
    anchor and frame 1 through the remembered K/V (no chunk re-runs)."""
    frames = make_frames(n=4)
    spec = make_spec(cross_frame={"enabled": True, "first_frame": True, "previous_frames": 1})
    _, whole = run(tiny, spec, frames)
    st = DiffusionStylizer(spec, components=copy.deepcopy(tiny), deflicker=False, device="cpu")
    sched = Schedule(spec)
    parts = st.stylize(frames[:2], [sched.at(i) for i in (0, 1)]) + \
        st.stylize(frames[2:], [sched.at(i) for i in (2, 3)])
    for x, y in zip(whole, parts):
        assert np.abs(x - y).max() < 1e-4
    # Changing the anchor frame in the first window changes the second window's output.
    st2 = DiffusionStylizer(spec, components=copy.deepcopy(tiny), deflicker=False, device="cpu")
    st2.stylize([frames[0].with_image(np.ascontiguousarray(frames[0].image[::-1])), frames[1]],
                [sched.at(i) for i in (0, 1)])
    moved = st2.stylize(frames[2:], [sched.at(i) for i in (2, 3)])
    assert np.abs(moved[1] - parts[3]).max() > 2e-4


def test_keyframe_schedule_reaches_the_sampler(tiny):
    frames = make_frames(n=4)
    spec = make_spec(seed=1, guidance=3.0, controlnets=[{"kind": "canny", "model": "builtin:tiny", "scale": 0.5}],
                     keyframes=[{"frame": 0, "prompt": "a cat", "guidance": 3.0, "seed": 1,
                                 "controlnet_scales": {"canny": 0.2}},
                                {"frame": 3, "prompt": "a dog", "guidance": 9.0, "seed": 2,
                                 "controlnet_scales": {"canny": 0.8}}])
    st = DiffusionStylizer(spec, components=copy.deepcopy(tiny), deflicker=False, device="cpu")
    st.prepare(lambda i: frames[i], range(4))
    got = []
    inner = st.denoiser

    class Spy(Wrap):
        def __call__(self, x, t, batch):
            got.append(batch)
            return inner(x, t, batch)

    st.denoiser = Spy(inner)
    sched = Schedule(spec)
    st.stylize(frames, [sched.at(i) for i in range(4)])
    b = got[0]
    assert torch.allclose(b.guidance, torch.tensor([3.0, 5.0, 7.0, 9.0]))
    assert torch.allclose(b.control_scales[0], torch.tensor([0.2, 0.4, 0.6, 0.8]))
    cat, dog = st._embed("a cat"), st._embed("a dog")
    assert torch.allclose(b.cond[0], cat) and torch.allclose(b.cond[3], dog)
    assert torch.allclose(b.cond[1], torch.lerp(cat, dog, 1 / 3), atol=1e-6)
    shape = tuple(b.noise.shape[1:])
    n1, n2 = st._noise(1, shape), st._noise(2, shape)
    assert torch.equal(b.noise[0], n1) and torch.equal(b.noise[3], n2)
    assert torch.allclose(b.noise[2], slerp(n1, n2, 2 / 3), atol=1e-5)
    # slerp keeps the noise's scale; a linear mix would shrink it to about 0.7 at the midpoint.
    assert abs(float(slerp(n1, n2, 0.5).std()) - 1.0) < 0.1


def test_cancellation_between_steps(tiny):
    frames = make_frames(n=2)
    spec = make_spec(steps=8, strength=1.0, guidance=1.0)
    st = DiffusionStylizer(spec, components=copy.deepcopy(tiny), deflicker=False, device="cpu")
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 3

    sched = Schedule(spec)
    with pytest.raises(Cancelled):
        st.stylize(frames, [sched.at(i) for i in range(2)], is_cancelled=cancelled)
    assert len(calls) == 4


def test_reference_images_are_attended(tiny, tmp_path):
    import cv2

    frames = make_frames(n=1)
    ref_a, ref_b = tmp_path / "a.png", tmp_path / "b.png"
    rng = np.random.default_rng(3)
    cv2.imwrite(str(ref_a), (rng.random((32, 32, 3)) * 255).astype(np.uint8))
    cv2.imwrite(str(ref_b), np.full((32, 32, 3), 200, np.uint8))
    outs = [run(tiny, make_spec(guidance=1.0, cross_frame={"enabled": True}, reference_images=[{"path": str(p)}]),
                frames)[1]
            for p in (ref_a, ref_b)]
    assert np.abs(outs[0][0] - outs[1][0]).max() > 2e-4


def test_user_errors(tiny):
    with pytest.raises(UserError, match="needs a model"):
        DiffusionStylizer(make_spec(model=""))
    with pytest.raises(UserError, match="scheduler"):
        DiffusionStylizer(make_spec(scheduler="bogus"), components=copy.deepcopy(tiny), device="cpu")
    with pytest.raises(UserError, match="dtype"):
        DiffusionStylizer(make_spec(dtype="float8"), components=copy.deepcopy(tiny), device="cpu")


@pytest.mark.parametrize("scheduler", ["euler", "dpmpp"])
def test_other_schedulers_with_in_loop_deflicker(tiny, scheduler):
    frames = make_frames(n=1)
    calls = []
    _, out = run(tiny, make_spec(scheduler=scheduler, steps=3, strength=1.0, guidance=1.0, deflicker_steps=[1]), frames,
                 deflicker=lambda s, g: calls.append(1) or s)
    assert calls == [1] and all(np.isfinite(o).all() for o in out)


def test_slot_table_layout():
    from frameloom.stylize.diffusion.attention import frame_slots

    # 3 frames + 1 reference; anchor and the 2 previous frames come from remembered banks
    # (anchor at 4, prev at 5..6 oldest first).
    slots, external = frame_slots(3, 1, anchor_pos=None, anchor_external=True, previous=2, prev_external=2)
    assert external == ["anchor", "prev"]
    assert slots.tolist() == [[0, 4, 6, 5, 3], [1, 4, 0, 6, 3], [2, 4, 1, 0, 3], [3, 3, 3, 3, 3]]
    # First window: the anchor is frame 0 itself and missing previous frames point at the frame.
    slots, external = frame_slots(2, 0, anchor_pos=0, anchor_external=False, previous=1, prev_external=0)
    assert external == [] and slots.tolist() == [[0, 0, 0], [1, 0, 0]]
