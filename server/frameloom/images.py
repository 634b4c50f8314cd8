"""The engine's one image decoder: encoded bytes or files -> RGB(A) arrays as stored.

Frames from editors (PNG on the wire), image sequences, keyframe and reference images and
precomputed condition maps all come through here, so every path agrees on channel order, bit
depth, gray and alpha. OpenCV decodes (every PNG/JPEG/TIFF filter, 8 and 16 bit); for PNG the
declared size is read from its header first, so a small file that claims a huge picture is
refused before any pixel memory is taken.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from frameloom_client.png import png_size

from .errors import InputNotFound, LimitExceeded, MediaError

#: Largest picture decoded at all (a 16k x 16k frame), whatever a caller allows.
MAX_PIXELS = 16384 * 16384


def decode_image(data: bytes | memoryview | np.ndarray, *, what: str = "image", alpha: bool = True,
                 expect: tuple[int, int] | None = None) -> np.ndarray:
    """Encoded image bytes -> ``(H, W, 3)`` RGB, or ``(H, W, 4)`` RGBA when it has alpha and
    ``alpha`` is true; uint8 or uint16 as stored, gray expanded to RGB. ``expect`` (width,
    height): refuse a PNG that declares another size, before decoding it."""
    buf = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data
    declared = png_size(memoryview(buf))
    if declared is not None:
        w, h = declared
        if expect is not None and (w, h) != tuple(expect):
            raise MediaError(f"{what}: the PNG is {w}x{h}, expected {expect[0]}x{expect[1]}")
        if w * h > MAX_PIXELS:
            raise LimitExceeded(f"{what}: the PNG declares {w}x{h} pixels; refusing to decode it")
    image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise MediaError(f"{what}: not a readable image (corrupt or unsupported)")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA if alpha else cv2.COLOR_BGRA2RGB)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.dtype not in (np.uint8, np.uint16):   # float TIFF/EXR: as 16-bit
        image = (np.clip(image.astype(np.float32), 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    return image


def read_image(path: str | os.PathLike, *, alpha: bool = False, what: str | None = None) -> np.ndarray:
    """An image file, as :func:`decode_image` gives it (alpha dropped unless asked for)."""
    path = os.fspath(path)
    label = what or f"image {path}"
    try:
        data = np.fromfile(path, np.uint8)
    except FileNotFoundError:
        raise InputNotFound(f"{label}: file not found") from None
    except OSError as exc:
        raise MediaError(f"{label}: cannot read it ({exc.strerror or exc})") from None
    return decode_image(data, what=label, alpha=alpha)
