"""The client package: no torch, wire format round trips, generated code up to date."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frameloom_client import (CHUNK_BYTES, FrameError, FrameTooLarge, PngError, clip_hash,
                              decode_frames, decode_png, encode_frame, encode_png, pb)

ROOT = Path(__file__).resolve().parent.parent


def test_importing_the_client_does_not_import_torch_or_the_server():
    code = ("import sys, frameloom_client, frameloom_client.client; "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'frameloom.'))"
            " or m == 'frameloom' or m == 'cv2']; print(bad); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_generated_code_is_up_to_date(tmp_path):
    sys.path.insert(0, str(ROOT / "protos"))
    try:
        from generate import OUT_DIR, generate
    finally:
        sys.path.pop(0)
    for fresh in generate(tmp_path):
        committed = OUT_DIR / fresh.name
        assert committed.read_text() == fresh.read_text(), \
            f"{committed.name} is stale: run python protos/generate.py"


images = st.builds(
    lambda h, w, c, wide, seed: np.random.default_rng(seed).integers(
        0, 65536 if wide else 256, (h, w, c), dtype=np.uint16 if wide else np.uint8),
    st.integers(1, 24), st.integers(1, 24), st.sampled_from([3, 4]), st.booleans(), st.integers(0, 99))


@settings(max_examples=40, deadline=None)
@given(image=images, png=st.booleans(), chunk=st.integers(1, 5000))
def test_frames_round_trip_any_chunking(image, png, chunk):
    enc = pb.FRAME_ENCODING_PNG if png else pb.FRAME_ENCODING_RAW
    chunks = list(encode_frame(3, image, enc, chunk_bytes=chunk))
    (frame,) = decode_frames(chunks)
    assert frame.index == 3 and frame.image.dtype == image.dtype
    np.testing.assert_array_equal(frame.image, image)


def test_a_1080p_rgba_frame_stays_under_4mib_per_message():
    image = np.zeros((1080, 1920, 4), np.uint8)
    chunks = list(encode_frame(0, image))
    assert sum(len(c.data) for c in chunks) == 1080 * 1920 * 4
    assert all(c.ByteSize() < 4 * 1024 * 1024 for c in chunks)
    assert CHUNK_BYTES < 4 * 1024 * 1024


def test_png_matches_opencv_both_ways():
    cv2 = pytest.importorskip("cv2")
    img = np.random.default_rng(1).integers(0, 256, (33, 47, 3), dtype=np.uint8)
    ours = cv2.imdecode(np.frombuffer(encode_png(img), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(ours[:, :, ::-1], img)
    ok, theirs = cv2.imencode(".png", img[:, :, ::-1].copy())   # OpenCV uses Paeth etc.
    np.testing.assert_array_equal(decode_png(theirs.tobytes()), img)


def test_corrupt_png_is_refused():
    data = bytearray(encode_png(np.full((8, 8, 3), 7, np.uint8)))
    data[45] ^= 1
    with pytest.raises(PngError, match="CRC"):
        decode_png(bytes(data))
    with pytest.raises(PngError):
        decode_png(b"not a png")


def test_assembler_refuses_malformed_frames():
    image = np.zeros((4, 5, 3), np.uint8)
    first, = encode_frame(0, image)
    bad = pb.FrameChunk()
    bad.CopyFrom(first)
    bad.header.size += 1
    with pytest.raises(FrameError, match="bytes"):
        list(decode_frames([bad]))
    bad.CopyFrom(first)
    bad.header.channels = 2
    with pytest.raises(FrameError, match="channels"):
        list(decode_frames([bad]))
    with pytest.raises(FrameTooLarge):
        list(decode_frames([first], max_width=4, max_height=4))
    with pytest.raises(FrameError, match="middle"):
        list(decode_frames(list(encode_frame(0, image, chunk_bytes=10))[:2]))


def test_clip_hash_depends_on_pixels_and_indices_not_encoding():
    a = [np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8)]
    assert clip_hash(a) == clip_hash([x.copy() for x in a])
    assert clip_hash(a) != clip_hash(a, first_index=1)
    assert clip_hash(a) != clip_hash(a[::-1])
    assert clip_hash(a) != clip_hash([x.astype(np.uint16) for x in a])


# ---- the hand-made wire form of frame chunks ---------------------------------------------------

chunk_dicts = st.fixed_dictionaries({
    "index": st.integers(-2**63, 2**63 - 1), "offset": st.integers(0, 2**40),
    "data": st.binary(max_size=300),
    "header": st.none() | st.builds(pb.FrameHeader, width=st.integers(0, 9000), height=st.integers(0, 9000),
                                    channels=st.integers(0, 4), bit_depth=st.sampled_from([0, 8, 16]),
                                    encoding=st.integers(0, 2), size=st.integers(0, 2**33),
                                    time=st.floats(allow_nan=False))})


@settings(max_examples=200, deadline=None)
@given(fields=chunk_dicts)
def test_wire_chunks_are_byte_for_byte_protobuf(fields):
    from frameloom_client import wire

    fields = {k: v for k, v in fields.items() if v is not None}
    message = pb.FrameChunk(**fields)
    assert wire.encode_chunk(fields) == message.SerializeToString()
    assert wire.encode_chunk(fields, field=wire.REQUEST_CHUNK) == \
        pb.StylizeRequest(chunk=message).SerializeToString()
    wired = wire.encode_chunk(fields, field=wire.RESPONSE_CHUNK)
    assert wired == pb.StylizeResponse(chunk=message).SerializeToString()
    got = wire.parse_carrier(wired, pb.StylizeResponse, wire.RESPONSE_CHUNK)
    if not fields.get("data") and "header" not in fields and not fields.get("index") and \
            not fields.get("offset"):
        return   # an empty chunk is two bytes either way
    assert isinstance(got, wire.WireChunk)
    assert (got.index, got.offset, bytes(got.data)) == (message.index, message.offset, message.data)
    assert got.HasField("header") == message.HasField("header")
    if message.HasField("header"):
        assert got.header == message.header


def test_wire_reading_falls_back_to_protobuf_for_anything_else():
    from frameloom_client import wire

    start = pb.StylizeRequest(start=pb.StreamStart(frame_count=3)).SerializeToString()
    assert wire.parse_carrier(start, pb.StylizeRequest, wire.REQUEST_CHUNK).start.frame_count == 3
    # Fields in another order, and an unknown field, are still read right (by protobuf).
    chunk = pb.FrameChunk(index=5, offset=7, data=b"abc")
    reordered = b"\x22\x03abc\x18\x07\x08\x05"
    assert pb.FrameChunk.FromString(reordered) == chunk
    got = wire.parse_carrier(b"\x12" + bytes([len(reordered)]) + reordered, pb.StylizeRequest,
                             wire.REQUEST_CHUNK)
    assert (got.index, got.offset, bytes(got.data)) == (5, 7, b"abc")
    unknown = chunk.SerializeToString() + b"\x28\x01"   # field 5, varint
    parsed = wire.parse_carrier(b"\x12" + bytes([len(unknown)]) + unknown, pb.StylizeRequest,
                                wire.REQUEST_CHUNK)
    assert isinstance(parsed, pb.StylizeRequest) and parsed.chunk.index == 5
    from google.protobuf.message import DecodeError
    with pytest.raises(DecodeError):
        wire.parse_carrier(b"\x12\x7f\x08", pb.StylizeRequest, wire.REQUEST_CHUNK)
