"""The streamed clip's frames in memory: bounded, spilled to the store when a stylizer reads ahead,
and the finished frames persisted off the runner's path."""
from __future__ import annotations

import threading
from fractions import Fraction

import numpy as np
import pytest

from frameloom.errors import UserError
from frameloom.frames import to_float
from frameloom.jobs.store import JobStore
from frameloom.jobs.engine import Limits
from frameloom.jobs.results import StreamResults
from frameloom.jobs.stream import StreamUpload


def _frames(n, channels=3):
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (6, 8, channels), dtype=np.uint8) for _ in range(n)]


def _upload(tmp_path, n, in_flight=2):
    store = JobStore(tmp_path / "store")
    rec = store.create(kind="stream", name="t", priority=0, spec=b"", total=n)
    up = StreamUpload(store, rec.id, 0, n, Fraction(24), Limits(max_in_flight=in_flight))
    return store, rec, up


def _send(up, frames):
    t = threading.Thread(target=lambda: [up.put(i, f) for i, f in enumerate(frames)], daemon=True)
    t.start()
    return t


def test_in_order_pass_keeps_memory_bounded_and_writes_nothing(tmp_path):
    frames = _frames(20, channels=4)
    store, rec, up = _upload(tmp_path, 20)
    sender = _send(up, frames)
    peak = 0
    for i, frame in enumerate(up.source()):
        peak = max(peak, len(up._held))
        assert frame.index == i
        np.testing.assert_array_equal(up.alpha(i), frames[i][:, :, 3])
    sender.join(10)
    assert peak <= up.max_in_flight + 2
    assert not list((store.job_dir(rec.id) / "src").iterdir())   # nothing spooled to disk
    with pytest.raises(UserError, match="consumed"):
        up.source().frame_at(3)


def test_read_ahead_spills_and_reads_back_exactly(tmp_path):
    frames = _frames(20)
    store, rec, up = _upload(tmp_path, 20)
    sender = _send(up, frames)
    src = up.source()
    # A stylizer's prepare() reading the whole clip first (pose smoothing), then the normal pass.
    for i in range(20):
        np.testing.assert_array_equal(src.frame_at(i).image, to_float(frames[i]))
        assert len(up._held) <= up.max_in_flight + 3
    for i, frame in enumerate(src):
        np.testing.assert_array_equal(frame.image, to_float(frames[i]))
    sender.join(10)
    assert len(list((store.job_dir(rec.id) / "src").iterdir())) > 0


def test_results_are_all_persisted_and_served_from_memory_or_disk(tmp_path):
    store = JobStore(tmp_path / "store")
    rec = store.create(kind="stream", name="t", priority=0, spec=b"", total=30)
    results = StreamResults(store, rec.id, keep=3, queue_size=2)
    frames = _frames(30)
    for i, f in enumerate(frames):
        results.put(i, i / 24, f)
        assert len(results._recent) <= 3 + 2 + 1
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(results.get(i), f)
    results.close()
    assert sorted(store.finished(rec.id)) == list(range(30))
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(store.load_result(rec.id, i), f)


def test_a_failing_store_write_fails_the_job(tmp_path):
    store = JobStore(tmp_path / "store")
    rec = store.create(kind="stream", name="t", priority=0, spec=b"", total=3)
    results = StreamResults(store, rec.id)
    store.save_result = lambda *a: (_ for _ in ()).throw(OSError("disk full"))
    results.put(0, 0.0, _frames(1)[0])
    with pytest.raises(RuntimeError, match="disk full"):
        results.close()
