"""Long clips: consecutive windows with look-ahead and cross-faded seams (builtin:tiny, CPU)."""
from __future__ import annotations

import copy
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from frameloom.frames import Frame  # noqa: E402
from frameloom.spec import Schedule, spec_from_dict  # noqa: E402
from frameloom.stylize.diffusion import DiffusionStylizer  # noqa: E402
from frameloom.stylize.diffusion.models import build_tiny  # noqa: E402
from frameloom.stylize.diffusion.stylizer import resolve_overlap, seam_weights  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


def make_spec(**diffusion):
    d = {"model": "builtin:tiny", "prompt": "a red fox", "steps": 4, "seed": 3, "guidance": 1.0,
         "strength": 0.75, "window": 4, "deflicker_steps": [0, 1, 2], **diffusion}
    keyframes = d.pop("keyframes", [])
    return spec_from_dict({"style": {"kind": "diffusion", "diffusion": d}, "keyframes": keyframes})


def make_frames(n=12, size=32, seed=0):
    """A slow fade-in (+0.03 a frame) with a little motion."""
    rng = np.random.default_rng(seed)
    base = rng.random((size, size, 3)).astype(np.float32) * 0.6
    return [Frame(i, i / 24, np.clip(np.roll(base, i // 3, axis=1) + 0.03 * i, 0, 1).astype(np.float32))
            for i in range(n)]


def window_mean(styled, guide):
    """A stand-in in-loop deflicker that works per window, as the real one does: it pulls every
    frame toward the window's mean. On a fade, windows without overlap become a staircase: flat
    inside each window, a jump at every boundary (the seam this feature exists for)."""
    return 0.2 * styled + 0.8 * styled.mean(0, keepdim=True)


def run_clip(comps, spec, frames, prepare=True, sizes=None, **kw):
    """What the runner does: prepare once, then consecutive windows of ``batch_size`` frames."""
    st = DiffusionStylizer(spec, components=copy.deepcopy(comps), deflicker=window_mean, device="cpu", **kw)
    seen = []
    inner = st.denoiser

    class Spy:
        def __getattr__(self, name):
            return getattr(inner, name)

        def __call__(self, x, t, batch):
            seen.append(x.shape[0])
            return inner(x, t, batch)

    st.denoiser = Spy()
    if prepare:
        st.prepare(lambda i: frames[i], [f.index for f in frames])
    sched = Schedule(spec)
    out = []
    for a in range(0, len(frames), st.batch_size):
        part = frames[a:a + st.batch_size]
        out += st.stylize(part, [sched.at(f.index) for f in part])
    if sizes is not None:
        sizes.extend(seen)
    return out


def seam_ratio(out, window):
    """Mean jump across window boundaries over the mean step between neighbours inside windows."""
    d = [float(np.abs(out[i + 1] - out[i]).mean()) for i in range(len(out) - 1)]
    seams = [x for i, x in enumerate(d) if (i + 1) % window == 0]
    inside = [x for i, x in enumerate(d) if (i + 1) % window != 0]
    return float(np.mean(seams)), float(np.mean(inside))


def test_overlap_blends_seams(tiny):
    frames = make_frames()
    sizes = []
    off = run_clip(tiny, make_spec(window_overlap=-1), frames)
    on = run_clip(tiny, make_spec(window_overlap=2), frames, sizes=sizes)
    again = run_clip(tiny, make_spec(window_overlap=2), frames)
    assert len(on) == len(off) == 12
    assert all(a.shape == f.image.shape and a.dtype == np.float32 for a, f in zip(on, frames))
    assert all(np.array_equal(a, b) for a, b in zip(on, again)), "must be deterministic"
    # The blended frames (the first two of windows 2 and 3) differ from the plain run.
    for i in (4, 5, 8, 9):
        assert np.abs(on[i] - off[i]).mean() > 2e-4
    seam_off, inside_off = seam_ratio(off, 4)
    seam_on, inside_on = seam_ratio(on, 4)
    assert seam_off > 5 * inside_off                       # the plain run really has seams
    assert seam_on < 0.3 * seam_off                        # measured: 0.0103 -> 0.0027
    assert seam_on / inside_on < 0.25 * (seam_off / inside_off)   # measured: 7.9 -> 1.2
    # Memory is bounded by window + overlap: the last window has no frames left to look at.
    assert max(sizes) == 6 and min(sizes) == 4


def test_short_clip_in_one_window_is_unchanged(tiny):
    frames = make_frames(n=4)
    off = run_clip(tiny, make_spec(window_overlap=-1), frames)
    on = run_clip(tiny, make_spec(window_overlap=2), frames)
    assert all(np.array_equal(a, b) for a, b in zip(on, off))


def test_without_prepare_or_random_access_no_look_ahead(tiny):
    frames = make_frames(n=8)
    off = run_clip(tiny, make_spec(window_overlap=-1), frames, prepare=False)
    on = run_clip(tiny, make_spec(window_overlap=2), frames, prepare=False)
    assert all(np.array_equal(a, b) for a, b in zip(on, off))
    # A source that cannot read past the frames given (frame_at raises) is the clip's end.
    spec = make_spec(window_overlap=2)
    st = DiffusionStylizer(spec, components=copy.deepcopy(tiny), deflicker=window_mean, device="cpu")
    st.prepare(lambda i: frames[i] if i < 6 else (_ for _ in ()).throw(IndexError(i)), [])
    ahead, settings = st._look_ahead(frames[:4], [Schedule(spec).at(i) for i in range(4)])
    assert [f.index for f in ahead] == [4, 5] and [s.index for s in settings] == [4, 5]
    assert abs(settings[1].strength - Schedule(spec).at(5).strength) < 1e-6
    assert st._look_ahead(frames[4:6], [])[0] == []


def test_non_consecutive_call_is_not_blended(tiny):
    frames = make_frames(n=8)
    spec = make_spec(window_overlap=2)
    sched = Schedule(spec)
    st = DiffusionStylizer(spec, components=copy.deepcopy(tiny), deflicker=window_mean, device="cpu")
    st.prepare(lambda i: frames[i], list(range(8)))
    st.stylize(frames[:4], [sched.at(i) for i in range(4)])
    assert [i for i, _ in st._ahead] == [4, 5]
    st._ahead = [(7, st._ahead[0][1]), (8, st._ahead[1][1])]   # pretend a different call came first
    out = st.stylize(frames[4:], [sched.at(i) for i in range(4, 8)])
    assert len(out) == 4 and st._ahead == []


def test_overlap_setting():
    assert resolve_overlap(0, 4) == 1 and resolve_overlap(0, 8) == 2 and resolve_overlap(0, 32) == 4
    assert resolve_overlap(0, 2) == 0 and resolve_overlap(-1, 8) == 0
    assert resolve_overlap(3, 8) == 3 and resolve_overlap(20, 8) == 8
    assert seam_weights(2) == pytest.approx([1 / 3, 2 / 3])
