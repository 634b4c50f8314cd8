"""Media on the Resolve side: path mapping to the server's view, frame rates as Resolve writes
them, decoding source frames for streaming, and the 16-bit TIFF sequence a streamed result
becomes.

Nothing here encodes video: Resolve's Python has no encoder, so a ``.mov`` is always written by
the server (headless jobs); a streamed result is written as uncompressed 16-bit TIFF, which needs
no library at all.
"""
from __future__ import annotations

import os
import posixpath
import re
import struct
from collections.abc import Iterator, Sequence
from fractions import Fraction

import numpy as np

from .errors import BridgeError

# ---------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------


def _norm(path: str) -> str:
    """A path as a comparable POSIX string (Windows separators and drive letters kept)."""
    path = path.replace("\\", "/")
    return posixpath.normpath(path) if path else path


class PathMap:
    """``LOCAL=SERVER`` prefixes (``/Volumes/Projects=/mnt/projects``): how a path on this machine
    reads on the server. The longest matching prefix wins; unmatched paths are the same there."""

    def __init__(self, pairs: Sequence[tuple[str, str]] = ()):
        self.pairs = sorted(((_norm(a), _norm(b)) for a, b in pairs), key=lambda p: -len(p[0]))

    @classmethod
    def parse(cls, value) -> PathMap:
        """From ``"A=B"``, ``"A=B,C=D"`` (also ``;`` or newlines), a list of those, or a dict."""
        if value is None or value == "":
            return cls()
        if isinstance(value, PathMap):
            return value
        if isinstance(value, dict):
            return cls(list(value.items()))
        items = value if isinstance(value, (list, tuple)) else re.split(r"[,;\n]", str(value))
        pairs = []
        for item in items:
            if isinstance(item, (list, tuple)):
                pairs.append((str(item[0]), str(item[1])))
                continue
            item = str(item).strip()
            if not item:
                continue
            if "=" not in item:
                raise BridgeError(f"bad path mapping {item!r}; expected LOCAL=SERVER, e.g. "
                                  "/Volumes/Projects=/mnt/projects")
            local, server = item.split("=", 1)
            pairs.append((local.strip(), server.strip()))
        return cls(pairs)

    def to_server(self, path: str) -> str:
        p = _norm(path)
        for local, server in self.pairs:
            if p == local or p.startswith(local.rstrip("/") + "/"):
                return server + p[len(local):]
        return p

    @property
    def mapped(self) -> bool:
        return bool(self.pairs)


def under_roots(path: str, roots: Sequence[str]) -> bool:
    p = _norm(path)
    for root in roots:
        r = _norm(root).rstrip("/")
        if r and (p == r or p.startswith(r + "/")):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Frame rates
# ---------------------------------------------------------------------------------------------


def parse_fps(value) -> Fraction | None:
    """Resolve's frame rates ("24", 23.976, "29.97 DF", "59.94") as exact fractions; NTSC rates
    become N*1000/1001. None for nothing usable."""
    if value is None:
        return None
    text = str(value).strip().split()[0] if str(value).strip() else ""
    try:
        rate = float(text)
    except ValueError:
        return None
    if rate <= 0:
        return None
    if abs(rate - round(rate)) < 1e-3:
        return Fraction(round(rate))
    ntsc = round(rate * 1.001)
    if abs(ntsc * 1000 / 1001 - rate) < 2e-3:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(rate).limit_denominator(1001)


# ---------------------------------------------------------------------------------------------
# Decoding (streaming only)
# ---------------------------------------------------------------------------------------------


def have_decoder() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def decode_frames(path: str, start: int, count: int) -> Iterator[np.ndarray]:
    """Source frames ``start .. start+count-1`` of a video file as (H, W, 3) RGB arrays (uint8,
    or uint16 for sources deeper than 8 bits), numbered by their position in presentation order
    like the server numbers them. Decodes from the start of the file (seeking is the server's
    job; streaming is for media it cannot read)."""
    try:
        import av
    except ImportError:
        raise BridgeError("the server cannot read this media and this Python has no video decoder "
                          "(PyAV): map the path to the server's view (path_map), or run "
                          "`frameloom resolve install`, which puts PyAV beside the client") from None
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError) as exc:
        raise BridgeError(f"cannot read {path}: {exc}") from None
    with container:
        if not container.streams.video:
            raise BridgeError(f"{path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        deep = max((c.bits for c in av.VideoFormat(stream.codec_context.pix_fmt or "yuv420p")
                    .components), default=8) > 8
        fmt = "rgb48le" if deep else "rgb24"
        index = sent = 0
        for frame in container.decode(stream):
            if index >= start:
                yield frame.to_ndarray(format=fmt)
                sent += 1
                if sent == count:
                    return
            index += 1
    raise BridgeError(f"{path} ended at frame {index - 1}, before frame {start + count - 1} of the "
                      "clip's range")


# ---------------------------------------------------------------------------------------------
# 16-bit TIFF (streamed results)
# ---------------------------------------------------------------------------------------------

SEQUENCE_PATTERN = "frame_%06d.tif"   # the server's own naming for TIFF sequences


def write_tiff(path: str, image: np.ndarray) -> None:
    """One baseline TIFF: (H, W, 3|4) uint8 or uint16, uncompressed, little-endian. Written to a
    temporary name and renamed, so a file is whole or absent."""
    img = np.ascontiguousarray(image)
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected (H, W, 3|4) uint8/uint16, got {img.shape} {img.dtype}")
    h, w, c = img.shape
    bits = img.dtype.itemsize * 8
    data = img.astype(img.dtype.newbyteorder("<"), copy=False).tobytes()
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, c, None), (259, 3, 1, 1),
               (262, 3, 1, 2), (273, 4, 1, None), (277, 3, 1, c), (278, 4, 1, h),
               (279, 4, 1, len(data)), (282, 5, 1, None), (283, 5, 1, None), (284, 3, 1, 1),
               (296, 3, 1, 2)] + ([(338, 3, 1, 2)] if c == 4 else [])   # 2: unassociated alpha
    ifd_size = 2 + 12 * len(entries) + 4
    extra_at = 8 + ifd_size
    bits_at, xres_at = extra_at, extra_at + 2 * c
    yres_at, data_at = xres_at + 8, xres_at + 16
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        value = {258: bits_at if c > 2 else bits, 273: data_at, 282: xres_at,
                 283: yres_at}.get(tag, value)
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 and count == 1 else \
            struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed
    out += struct.pack("<I", 0)
    out += struct.pack(f"<{c}H", *([bits] * c)) + struct.pack("<IIII", 72, 1, 72, 1)
    out += data
    tmp = f"{path}.part"
    with open(tmp, "wb") as f:
        f.write(out)
    os.replace(tmp, path)
