"""PNG in numpy and zlib only, so the client needs no imaging library inside Blender or Resolve.

The encoder writes every row with the "Up" filter (vectorised, compresses video frames well).
The decoder verifies every chunk's CRC (a corrupt chunk is an error, never garbage pixels) and
handles all five filters; "Average" and "Paeth" rows are unfiltered pixel by pixel, slow on big
frames, but the server only ever sends "Up" rows.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {3: 2, 4: 6, 1: 0, 2: 4}   # channels -> PNG colour type
_CHANNELS = {v: k for k, v in _COLOR_TYPES.items()}


class PngError(ValueError):
    code = "INVALID_ARGUMENT"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(image: np.ndarray, level: int = 1) -> bytes:
    """``(H, W, C)`` uint8/uint16, C in 1..4 -> PNG bytes. ``level``: zlib effort (speed first)."""
    if image.ndim == 2:
        image = image[:, :, None]
    h, w, c = image.shape
    if image.dtype == np.uint8:
        depth, rows = 8, np.ascontiguousarray(image).reshape(h, w * c)
    elif image.dtype == np.uint16:
        depth, rows = 16, image.astype(">u2").reshape(h, w * c).view(np.uint8)
    else:
        raise ValueError(f"PNG frames must be uint8 or uint16, got {image.dtype}")
    up = rows.copy()
    up[1:] -= rows[:-1]                      # uint8 arithmetic wraps: filter type 2 ("Up")
    raw = np.empty((h, up.shape[1] + 1), np.uint8)
    raw[:, 0] = 2
    raw[:, 1:] = up
    ihdr = struct.pack(">IIBBBBB", w, h, depth, _COLOR_TYPES[c], 0, 0, 0)
    return (SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
            + _chunk(b"IEND", b""))


def png_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) a PNG declares in its IHDR chunk, read without decoding anything;
    None for bytes that do not start like a PNG."""
    head = bytes(data[:24])
    if len(head) < 24 or not head.startswith(SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> ``(H, W, C)`` uint8/uint16. Raises :class:`PngError` on anything malformed."""
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG (bad signature)")
    pos, idat, header = len(SIGNATURE), [], None
    while True:
        if pos + 8 > len(data):
            raise PngError("truncated PNG (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise PngError(f"truncated PNG chunk {kind!r}")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body):
            raise PngError(f"corrupt PNG: CRC mismatch in chunk {kind.decode('latin-1')!r}")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise PngError("corrupt PNG: no IHDR chunk")
    w, h, depth, color, _, _, interlace = header
    if color not in _CHANNELS or depth not in (8, 16) or interlace:
        raise PngError(f"unsupported PNG (colour type {color}, {depth} bit, interlace {interlace}); "
                       "send 8/16-bit gray, RGB or RGBA, not interlaced")
    c, bpp = _CHANNELS[color], _CHANNELS[color] * depth // 8
    stride = w * bpp
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise PngError(f"corrupt PNG image data: {exc}") from None
    if len(raw) != h * (stride + 1):
        raise PngError(f"corrupt PNG: image data is {len(raw)} bytes, expected {h * (stride + 1)}")
    rows = np.frombuffer(raw, np.uint8).reshape(h, stride + 1)
    out = _unfilter(rows[:, 0], rows[:, 1:], bpp)
    if depth == 16:
        return out.view(">u2").astype(np.uint16).reshape(h, w, c)
    return out.reshape(h, w, c)


def _unfilter(kinds: np.ndarray, rows: np.ndarray, bpp: int) -> np.ndarray:
    out = np.zeros_like(rows)
    prev = np.zeros(rows.shape[1], np.uint8)
    for y in range(rows.shape[0]):
        kind, line = int(kinds[y]), rows[y]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:                       # Sub: running sum per byte lane, wrapping
            lanes = line.reshape(-1, bpp)
            cur = np.cumsum(lanes, axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:
            cur = line + prev
        elif kind in (3, 4):
            cur = _unfilter_slow(kind, line, prev, bpp)
        else:
            raise PngError(f"corrupt PNG: unknown filter type {kind} in row {y}")
        out[y] = cur
        prev = cur
    return out


def _unfilter_slow(kind: int, line: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    cur = line.astype(np.int32)
    up = prev.astype(np.int32)
    for x in range(len(cur)):
        a = cur[x - bpp] if x >= bpp else 0
        b = up[x]
        if kind == 3:
            cur[x] = (cur[x] + (a + b) // 2) & 0xFF
        else:
            cc = up[x - bpp] if x >= bpp else 0
            p = a + b - cc
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else cc)
            cur[x] = (cur[x] + pred) & 0xFF
    return cur.astype(np.uint8)
