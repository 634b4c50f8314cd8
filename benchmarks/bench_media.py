"""Media throughput and memory: decode/encode frames per second at 1080p, and peak RSS of a
streaming identity job on a long clip against a short one (memory must not grow with length).

    python benchmarks/bench_media.py [--frames 120] [--long 1000] [--repeats 3]

Prints a table of medians. The clip is a real photograph moved by a camera path.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

import av
import numpy as np

from frameloom.demo import camera_path_frames
from frameloom.frames import Frame
from frameloom.media import open_sink, open_source


def make_clip(path: str, frames: int, size=(1920, 1080)) -> str:
    from skimage import data

    photo = data.astronaut()
    with av.open(path, "w") as out:
        vs = out.add_stream("libx264", rate=24, options={"crf": "20", "preset": "veryfast"})
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        # Render a short loop of the camera path and repeat it: the content is real either way.
        loop = list(camera_path_frames(photo, size=size, frames=min(frames, 48)))
        for i in range(frames):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(loop[i % len(loop)], format="rgb24")))
        out.mux(vs.encode(None))
    return path


def time_decode(path: str) -> float:
    t = time.perf_counter()
    n = sum(1 for _ in open_source(path))
    return n / (time.perf_counter() - t)


def time_encode(frames: list[np.ndarray], path: str, codec: str) -> float:
    from frameloom.media.info import ClipInfo

    info = ClipInfo(path, frames[0].shape[1], frames[0].shape[0], Fraction(24), None, None)
    opts = type("O", (), {"codec": codec, "crf": 0, "no_audio": True, "bit_depth": 0})()
    t = time.perf_counter()
    sink = open_sink(path, info, opts)
    for i, img in enumerate(frames):
        sink.write(Frame(i, i / 24, img))
    sink.close()
    return len(frames) / (time.perf_counter() - t)


def peak_rss_of_job(clip: str, out: str) -> float:
    """Peak RSS (MiB) of `frameloom stylize --style identity` in a fresh process.

    Read from VmHWM, which starts afresh at exec; ru_maxrss would carry over this (large)
    benchmark process's own peak through the fork."""
    code = ("from frameloom.cli import main;"
            f"rc=main(['stylize',{clip!r},'--style','identity','-o',{out!r}]);"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(res.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--long", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        clip = make_clip(os.path.join(d, "clip1080.mp4"), args.frames)
        dec = [time_decode(clip) for _ in range(args.repeats)]
        rows.append(("decode H.264 1080p -> float RGB", statistics.median(dec), "frames/s"))
        frames = [f.image for _, f in zip(range(48), open_source(clip))]
        for codec, ext in (("h264", ".mp4"), ("prores", ".mov")):
            enc = [time_encode(frames, os.path.join(d, f"enc{ext}"), codec) for _ in range(args.repeats)]
            rows.append((f"encode {codec} 1080p from float RGB", statistics.median(enc), "frames/s"))
        del frames
        short = make_clip(os.path.join(d, "short.mp4"), 100, size=(640, 360))
        long = make_clip(os.path.join(d, "long.mp4"), args.long, size=(640, 360))
        rss_short = peak_rss_of_job(short, os.path.join(d, "s.mp4"))
        rss_long = peak_rss_of_job(long, os.path.join(d, "l.mp4"))
        rows.append(("peak RSS identity job, 100 frames 640x360", rss_short, "MiB"))
        rows.append((f"peak RSS identity job, {args.long} frames 640x360", rss_long, "MiB"))
        rows.append(("ratio long/short", rss_long / rss_short, "x (target <= 1.2)"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}}  {'median':>10}  unit")
    for name, value, unit in rows:
        print(f"{name:{width}}  {value:10.2f}  {unit}")
    print(json.dumps({r[0]: round(r[1], 3) for r in rows}))


if __name__ == "__main__":
    main()
