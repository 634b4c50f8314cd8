"""`frameloom demo`: stylize the bundled sample clip and write a before/after comparison.

The sample clip (``data/demo.mp4``) is made by :func:`make_demo_clip` from public-domain
photographs in scikit-image's data set (NASA's astronaut portrait and the Hubble deep field),
moved by a camera path with a zoom and a slight roll, with a soft two-note chord as audio so
audio passthrough shows too. It is made once and shipped; scikit-image is not needed to run it.
"""
from __future__ import annotations

import math
import os
from fractions import Fraction
from importlib import resources

import cv2
import numpy as np

DEMO_CLIP = "demo.mp4"
DEMO_SIZE = (512, 288)
DEMO_FPS = Fraction(24)
DEMO_FRAMES = 72


def demo_clip_path() -> str:
    return str(resources.files("frameloom") / "data" / DEMO_CLIP)


def camera_path_frames(photo: np.ndarray, size=DEMO_SIZE, frames=DEMO_FRAMES):
    """Yield (H, W, 3) uint8 RGB frames of a camera gliding over ``photo``: pan, zoom-in, roll."""
    w, h = size
    ph, pw = photo.shape[:2]
    for i in range(frames):
        t = i / max(frames - 1, 1)
        ease = 0.5 - 0.5 * math.cos(math.pi * t)
        zoom = 1.0 + 0.35 * ease                      # scale from photo to output
        base = max(w / pw, h / ph) * 1.15
        s = base * zoom
        cx = pw * (0.42 + 0.16 * ease)
        cy = ph * (0.40 - 0.06 * ease)
        angle = 4.0 * math.sin(2 * math.pi * t)        # degrees
        m = cv2.getRotationMatrix2D((cx, cy), angle, s)
        m[0, 2] += w / 2 - cx
        m[1, 2] += h / 2 - cy
        yield cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def make_demo_clip(path: str) -> None:
    """Write the sample clip (needs scikit-image for the photographs)."""
    import av
    from skimage import data

    photo = data.astronaut()
    with av.open(path, "w") as out:
        vs = out.add_stream("libx264", rate=DEMO_FPS, options={"crf": "21", "preset": "slow"})
        vs.width, vs.height, vs.pix_fmt = DEMO_SIZE[0], DEMO_SIZE[1], "yuv420p"
        rate = 48000
        aus = out.add_stream("aac", rate=rate)
        aus.layout = "stereo"
        for frame in camera_path_frames(photo):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(vs.encode(None))
        seconds = DEMO_FRAMES / float(DEMO_FPS)
        t = np.arange(int(seconds * rate)) / rate
        env = np.minimum(1.0, np.minimum(t / 0.3, (seconds - t) / 0.5)).clip(0, 1)
        tone = 0.15 * env * (np.sin(2 * np.pi * 220 * t) + 0.6 * np.sin(2 * np.pi * 277.18 * t))
        samples = np.stack([tone, tone]).astype(np.float32)
        for start in range(0, samples.shape[1], 1024):
            chunk = np.ascontiguousarray(samples[:, start:start + 1024])
            af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            af.sample_rate = rate
            out.mux(aus.encode(af))
        out.mux(aus.encode(None))


def comparison_image(before: list[np.ndarray], after: list[np.ndarray], width: int = 1024) -> np.ndarray:
    """Two rows (originals over stylized) of equally spaced frames, float32 RGB in [0, 1]."""
    rows = []
    for images in (before, after):
        row = np.concatenate([np.asarray(im) for im in images], axis=1)
        rows.append(row)
    strip = np.concatenate(rows, axis=0)
    scale = width / strip.shape[1]
    strip = cv2.resize(strip, (width, int(round(strip.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    return np.clip(strip, 0.0, 1.0).astype(np.float32)


def run_demo(outdir: str, style: str = "filter:cartoon", samples: int = 4) -> tuple[str, str, str]:
    """Render the sample clip with ``style`` twice, frame by frame and deflickered, and write
    the deflickered video, a before/after image and the flicker report comparing the two.
    Returns (video, comparison image, report page)."""
    from .errors import OutputError
    from .jobs.local import run_local
    from .media import open_source
    from .media.sequence import write_image
    from .spec import spec_from_dict

    os.makedirs(outdir, exist_ok=True)
    if not os.access(outdir, os.W_OK):
        raise OutputError(f"cannot write to {outdir}")
    video = os.path.join(outdir, "demo.mp4")
    frame_by_frame = os.path.join(outdir, "demo_frame_by_frame.mp4")
    comparison = os.path.join(outdir, "comparison.png")
    for name, output, temporal in (("demo, frame by frame", frame_by_frame, "none"),
                                   ("demo", video, "window")):
        run_local(spec_from_dict({"name": name, "input": demo_clip_path(), "output": output,
                                  "style": {"kind": style}, "temporal": {"mode": temporal}}))
    picks = np.linspace(0, DEMO_FRAMES - 1, samples).round().astype(int).tolist()
    with open_source(demo_clip_path()) as src, open_source(video) as out:
        before = [src.frame_at(i).image for i in picks]
        after = [out.frame_at(i).image for i in picks]
    write_image(comparison, comparison_image(before, after))
    return video, comparison, str(demo_report(outdir, style).html)


def demo_report(outdir: str, style: str = "filter:cartoon"):
    """The flicker report of the demo's two renders in ``outdir`` (docs/report.png is its plot)."""
    from .report import report_clips

    return report_clips(demo_clip_path(),
                        [os.path.join(outdir, "demo_frame_by_frame.mp4"), os.path.join(outdir, "demo.mp4")],
                        os.path.join(outdir, "report.html"),
                        names=["source", f"{style}, frame by frame", f"{style} + deflicker"],
                        title=f"The demo: {style} frame by frame, and with frameloom's deflicker")
