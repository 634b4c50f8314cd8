"""Real media for tests: scikit-image photographs moved by a camera path, encoded with PyAV."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from skimage import data

from frameloom.demo import camera_path_frames

PHOTOS = {"astronaut": data.astronaut, "coffee": data.coffee, "chelsea": data.chelsea}


def photo_frames(size=(160, 96), frames=12, photo="astronaut") -> list[np.ndarray]:
    """(H, W, 3) uint8 RGB frames of a camera moving over a real photograph."""
    return list(camera_path_frames(PHOTOS[photo](), size=size, frames=frames))


def write_clip(path, frames: list[np.ndarray], fps=Fraction(24), *, codec="libx264",
               pix_fmt="yuv420p", audio_seconds: float | None = None, options=None,
               audio_codec="aac") -> str:
    """Encode ``frames`` (uint8 or uint16 RGB) into ``path``; add a tone track when asked."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=Fraction(fps), options=options or {})
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        fmt = "rgb48le" if frames[0].dtype == np.uint16 else "rgb24"
        rate = 48000
        if audio_seconds:  # every stream exists before the first packet is muxed
            aus = out.add_stream(audio_codec, rate=rate)
            aus.layout = "stereo"
        for f in frames:
            out.mux(vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format=fmt)))
        out.mux(vs.encode(None))
        if audio_seconds:
            t = np.arange(int(audio_seconds * rate)) / rate
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            planar = np.stack([tone, tone])
            fmt_a = "fltp" if audio_codec in ("aac", "libopus") else "s16"
            step = 1024
            for s in range(0, planar.shape[1], step):
                chunk = planar[:, s:s + step]
                if fmt_a == "s16":
                    chunk = (chunk.T.reshape(1, -1) * 32767).astype(np.int16)
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=fmt_a, layout="stereo")
                af.sample_rate = rate
                out.mux(aus.encode(af))
            out.mux(aus.encode(None))
    return str(path)


def audio_duration(path) -> float:
    """Seconds of decoded audio in ``path`` (0 when there is none)."""
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return 0.0
        samples = 0
        rate = c.streams.audio[0].codec_context.sample_rate
        for frame in c.decode(audio=0):
            samples += frame.samples
        return samples / rate


def count_frames(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))
