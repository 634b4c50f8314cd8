"""Flicker report speed and memory: frames per second of `frameloom report` at 640x360 and 1080p,
the share the flow estimate takes, and peak RSS on a long clip against a short one (memory must
not grow with length).

    python benchmarks/bench_report.py [--frames 24] [--long 1000] [--repeats 3]

Prints a table of medians. The clips are a real photograph moved by a camera path, and the same
frames with a per-frame colour flicker as the stylized version.
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

import av
import numpy as np

from frameloom.demo import camera_path_frames


def make_clips(folder: str, frames: int, size) -> tuple[str, str]:
    """(source.mp4, flickering.mp4) of ``frames`` frames at ``size`` (W, H)."""
    from skimage import data

    loop = list(camera_path_frames(data.astronaut(), size=size, frames=min(frames, 48)))
    rng = np.random.default_rng(0)
    paths = []
    for name, flicker in (("source", False), ("flickering", True)):
        path = os.path.join(folder, f"{name}_{size[0]}x{size[1]}_{frames}.mp4")
        with av.open(path, "w") as out:
            vs = out.add_stream("libx264", rate=24, options={"crf": "16", "preset": "veryfast"})
            vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
            for i in range(frames):
                img = loop[i % len(loop)]
                if flicker:
                    gain = 1 + rng.uniform(-0.08, 0.08, 3)
                    img = np.clip(img * gain, 0, 255).astype(np.uint8)
                out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            out.mux(vs.encode(None))
        paths.append(path)
    return paths[0], paths[1]


def report_in_process(source: str, version: str, out: str) -> float:
    """Frames per second of one report (decode, flow, warp error, pictures, page)."""
    from frameloom.report import report_clips

    t = time.perf_counter()
    m = report_clips(source, [version], out).measurements
    return m.frame_count / (time.perf_counter() - t)


def flow_share(source: str, frames: int) -> tuple[float, float]:
    """(seconds per pair of the flow at the finest level, at the preset's default level)."""
    import cv2

    from frameloom.media import open_source
    from frameloom.report.warp import SourceFlow

    images = [f.image for _, f in zip(range(frames), open_source(source))]
    timings = []
    for finest in (0, None):
        flow = SourceFlow()
        if finest is None:
            flow._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        t = time.perf_counter()
        for a, b in zip(images, images[1:]):
            flow(a, b)
        timings.append((time.perf_counter() - t) / (len(images) - 1))
    return timings[0], timings[1]


def peak_rss_of_report(source: str, version: str, out: str) -> float:
    """Peak RSS (MiB) of `frameloom report` in a fresh process (VmHWM starts afresh at exec)."""
    code = ("from frameloom.cli import main;"
            f"rc=main(['report',{source!r},{version!r},'-q','-o',{out!r}]);"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(res.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--long", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for size in ((640, 360), (1920, 1080)):
            src, ver = make_clips(d, args.frames, size)
            fps = [report_in_process(src, ver, os.path.join(d, "r.html")) for _ in range(args.repeats)]
            rows.append((f"report {size[0]}x{size[1]}, {args.frames} frames", statistics.median(fps),
                         "frames/s"))
            finest, default = flow_share(src, min(args.frames, 12))
            rows.append((f"  flow per pair, finest level (used) {size[0]}x{size[1]}", finest * 1e3, "ms"))
            rows.append((f"  flow per pair, preset's default level {size[0]}x{size[1]}", default * 1e3,
                         "ms (baseline)"))
        short = make_clips(d, 100, (320, 180))
        long = make_clips(d, args.long, (320, 180))
        rss_short = peak_rss_of_report(*short, os.path.join(d, "s.html"))
        rss_long = peak_rss_of_report(*long, os.path.join(d, "l.html"))
        rows.append(("peak RSS report, 100 frames 320x180", rss_short, "MiB"))
        rows.append((f"peak RSS report, {args.long} frames 320x180", rss_long, "MiB"))
        rows.append(("ratio long/short", rss_long / rss_short, "x (target <= 1.2)"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}}  {'median':>10}  unit")
    for name, value, unit in rows:
        print(f"{name:{width}}  {value:10.2f}  {unit}")
    print(json.dumps({r[0].strip(): round(r[1], 3) for r in rows}))


if __name__ == "__main__":
    main()
