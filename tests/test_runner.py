"""The one runner: resume reproduces an uninterrupted run, cancel keeps finished frames."""
from __future__ import annotations

import numpy as np
import pytest

from frameloom.errors import Cancelled
from frameloom.jobs.runner import run_job
from frameloom.media import ArraySource, FrameSelection
from frameloom.spec import spec_from_dict
from synthclips import make_clip


class MemorySink:
    def __init__(self):
        self.frames = {}
        self.closed = False

    def write(self, frame):
        assert frame.index not in self.frames, "a frame was written twice"
        self.frames[frame.index] = frame.image

    def close(self):
        self.closed = True


@pytest.fixture(scope="module")
def frames():
    clip = make_clip(n_frames=14, size=(48, 40))
    return [(f * 255).astype(np.uint8) for f in clip.frames]


def _spec(mode, window=2):
    return spec_from_dict({"style": {"kind": "filter:cartoon", "params": {"smooth": 2}},
                           "temporal": {"mode": mode, "window": window, "seed": 3}})


@pytest.mark.parametrize("mode", ["window", "fast"])
@pytest.mark.parametrize("done", [1, 5, 9])
def test_resume_reproduces_an_uninterrupted_run(frames, mode, done):
    spec = _spec(mode, window=2 if mode == "window" else 3)
    full = MemorySink()
    run_job(spec, ArraySource(frames), full)
    resumed = MemorySink()
    result = run_job(spec, ArraySource(frames), resumed, skip=range(done))
    assert sorted(resumed.frames) == list(range(done, len(frames)))
    assert result.frames_written == len(frames) - done
    for i in range(done, len(frames)):
        np.testing.assert_array_equal(resumed.frames[i], full.frames[i], err_msg=f"frame {i}")


def test_resume_with_a_stepped_range(frames):
    spec = _spec("window")
    sel = FrameSelection(1, 13, 2)
    full, resumed = MemorySink(), MemorySink()
    run_job(spec, ArraySource(frames, selection=sel), full)
    run_job(spec, ArraySource(frames, selection=sel), resumed, skip={1, 3, 5})
    assert sorted(resumed.frames) == [7, 9, 11, 13]
    for i in resumed.frames:
        np.testing.assert_array_equal(resumed.frames[i], full.frames[i])


def test_everything_already_done_writes_nothing(frames):
    sink = MemorySink()
    result = run_job(_spec("window"), ArraySource(frames), sink, skip=range(len(frames)))
    assert result.frames_written == 0 and sink.frames == {} and sink.closed


def test_cancel_stops_and_closes_the_sink(frames):
    sink = MemorySink()
    seen = []
    with pytest.raises(Cancelled):
        run_job(_spec("none"), ArraySource(frames), sink, is_cancelled=lambda: len(seen) >= 4,
                on_frame=lambda f: seen.append(f.index))
    assert sink.closed
    assert sorted(sink.frames) == list(range(len(sink.frames))) and 4 <= len(sink.frames) < len(frames)


def test_deflicker_state_stays_within_the_window(frames):
    from frameloom.temporal.blend import make_temporal_filter

    spec = _spec("window", window=2)
    temporal = make_temporal_filter(spec.temporal)
    most = []
    original_push = temporal.push

    def push(index, styled, guide):
        out = original_push(index, styled, guide)
        most.append(temporal.buffered)
        return out

    temporal.push = push
    run_job(spec, ArraySource(frames), MemorySink(), temporal=temporal)
    assert max(most) <= 2 * 2 + 1
