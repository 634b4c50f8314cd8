"""Frame chunks on the wire without protobuf's copies: the one hot path, encoded by hand.

A 1080p frame is 6 MB. Through protobuf a chunk's pixels are copied when the message is built,
again when it is serialized, again when it is parsed and once more each time ``chunk.data`` is
read, on both sides of the call: most of what streaming cost per frame. A chunk message is three
varints, a small header and the pixels, so this module writes its wire form directly (one copy:
the join) and reads it into a :class:`WireChunk` whose ``data`` is a view into the received
message (no copy). Every other message, and any chunk whose bytes look unusual (unknown fields,
fields out of order are fine), goes through protobuf as before; the bytes are the same either
way (tests check them against protobuf's own encoder and parser).

Wire form (proto3): ``StylizeRequest.chunk`` is field 2, ``StylizeResponse.chunk`` field 3, both
length-delimited; ``FrameChunk`` is index (1, varint), header (2, message), offset (3, varint),
data (4, bytes).
"""
from __future__ import annotations

from dataclasses import dataclass

from .v1 import frameloom_pb2 as pb

REQUEST_CHUNK = 2    # StylizeRequest.chunk
RESPONSE_CHUNK = 3   # StylizeResponse.chunk


def _varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF   # int64: negatives are ten bytes of two's complement
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _signed(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


def encode_chunk(fields: dict, *, field: int | None = None) -> bytes:
    """The wire bytes of a FrameChunk built from ``fields`` (as :func:`frames.chunk_fields`
    yields them), or, with ``field``, of a StylizeRequest/StylizeResponse carrying it there."""
    parts = []
    if fields.get("index"):
        parts.append(b"\x08" + _varint(fields["index"]))
    header = fields.get("header")
    if header is not None:
        h = header.SerializeToString()
        parts.append(b"\x12" + _varint(len(h)) + h)
    if fields.get("offset"):
        parts.append(b"\x18" + _varint(fields["offset"]))
    data = fields.get("data", b"")
    body_len = sum(map(len, parts)) + (1 + len(_varint(len(data))) + len(data) if len(data) else 0)
    prefix = b"" if field is None else bytes([(field << 3) | 2]) + _varint(body_len)
    if len(data):
        return b"".join([prefix, *parts, b"\x22", _varint(len(data)), data])
    return b"".join([prefix, *parts])


@dataclass
class WireChunk:
    """A FrameChunk read off the wire; ``data`` is a view into the message that carried it.
    Quacks like ``pb.FrameChunk`` for the frame assembler."""

    index: int = 0
    header: pb.FrameHeader | None = None
    offset: int = 0
    data: memoryview | bytes = b""

    def HasField(self, name: str) -> bool:  # noqa: N802 - protobuf's name
        if name != "header":
            raise ValueError(f"WireChunk has no optional field {name!r}")
        return self.header is not None


def _parse_chunk(buf: memoryview) -> WireChunk:
    chunk = WireChunk()
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, kind = key >> 3, key & 7
        if kind == 0 and number in (1, 3):
            value, pos = _read_varint(buf, pos)
            if number == 1:
                chunk.index = _signed(value)
            else:
                chunk.offset = _signed(value)
        elif kind == 2 and number in (2, 4):
            size, pos = _read_varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("truncated field")
            if number == 2:
                if chunk.header is not None:   # protobuf would merge the two: let it
                    raise ValueError("a repeated header")
                chunk.header = pb.FrameHeader.FromString(buf[pos:pos + size].tobytes())
            else:
                chunk.data = buf[pos:pos + size]
            pos += size
        else:
            raise ValueError("an unexpected field")   # let protobuf read it
    return chunk


def parse_carrier(data: bytes, message_type, field: int):
    """``data`` as ``message_type`` (StylizeRequest or StylizeResponse), or as a
    :class:`WireChunk` when it is exactly a chunk in ``field``. Malformed bytes raise
    protobuf's ``DecodeError``, as ``message_type.FromString`` does."""
    buf = memoryview(data)
    if len(buf) > 1 and buf[0] == (field << 3) | 2:
        try:
            size, pos = _read_varint(buf, 1)
            if pos + size == len(buf):
                return _parse_chunk(buf[pos:])
        except ValueError:
            pass
    return message_type.FromString(bytes(data) if not isinstance(data, bytes) else data)


def parse_chunk(data: bytes) -> WireChunk | pb.FrameChunk:
    """A bare FrameChunk (FetchFrames' stream)."""
    try:
        return _parse_chunk(memoryview(data))
    except ValueError:
        return pb.FrameChunk.FromString(data)


def serialize(message) -> bytes:
    """The serializer of calls that may be handed ready wire bytes."""
    return message if isinstance(message, bytes) else message.SerializeToString()
