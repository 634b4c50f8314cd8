"""The engine's pixel conversions: exact round trips, clipping, and the caller's array untouched."""
from __future__ import annotations

import numpy as np

from frameloom.frames import from_float, to_float


def test_every_code_value_round_trips():
    u8 = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    u16 = np.arange(65536, dtype=np.uint32).astype(np.uint16).reshape(256, 256, 1).repeat(3, axis=2)
    assert np.array_equal(from_float(to_float(u8), np.uint8), u8)
    assert np.array_equal(from_float(to_float(u16), np.uint16), u16)
    assert to_float(u8).dtype == np.float32 and to_float(u8).max() == 1.0


def test_out_of_range_clips_and_rounds_to_nearest():
    x = np.array([[[-0.2, 0.0, 1.0 / 510 + 1e-4], [0.999, 1.0, 1.7]]], dtype=np.float32)
    assert from_float(x, np.uint8).tolist() == [[[0, 0, 1], [255, 255, 255]]]
    assert from_float(x, np.uint16)[0, 1].tolist() == [65469, 65535, 65535]


def test_inputs_are_not_modified():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    f = rng.random((8, 8, 3), dtype=np.float32)
    u8_copy, f_copy = u8.copy(), f.copy()
    to_float(u8)
    from_float(f)
    from_float(f, np.uint16)
    assert np.array_equal(u8, u8_copy) and np.array_equal(f, f_copy)
