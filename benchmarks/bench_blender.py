"""Blender add-on overhead: a clip stylized through the add-on inside Blender against
`frameloom stylize` of the same frames, in one run.

    python benchmarks/bench_blender.py                      # 320x180, 24 frames, 3 repeats
    python benchmarks/bench_blender.py --frames 12 --repeats 1 --size 160x96   # smoke run

Add-on row: wall time of ``frameloom_blender.stylize_selected(context, wait=True)`` inside a
headless Blender against a real `frameloom serve` on loopback: the sequencer render of the strip's
range, loading the frames, streaming them, the server's stylize and deflicker, writing the result
PNGs and placing the strip. Baseline: `frameloom stylize clip.mp4 --frames A-B ... -o DIR` run
in this process (PyAV decode, the same stylize and deflicker, PNG writes). Each repeat trims the
strip one frame further (same length, other frames), so the server's cache never answers.
"Read" is the add-on's frame reading alone. Blender's and Python's start-up are not counted.
Medians over repeats; the load average is printed because the machine is shared.
Both paths are warmed up once (frames 0..) before the timed runs.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from blenderhosts import CACHE, HOSTS, ServeProcess  # noqa: E402
from frameloom.cli import main as frameloom  # noqa: E402
from frameloom.demo import camera_path_frames  # noqa: E402
from mediafiles import write_clip  # noqa: E402
from skimage import data  # noqa: E402


def stylize(*args: str) -> float:
    """`frameloom stylize ARGS` in this process, its progress bar silenced; seconds taken."""
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        assert frameloom(["stylize", *args]) == 0
    return time.perf_counter() - t

STYLE = ["--style", "filter:cartoon", "--window", "1"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24, help="frames stylized per run")
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    n, reps = args.frames, args.repeats
    tmp = Path(tempfile.mkdtemp(prefix="bench-blender-"))
    clip = write_clip(tmp / "clip.mp4", list(camera_path_frames(data.astronaut(), size=(w, h),
                                                                  frames=n + reps + 1)))
    with contextlib.redirect_stderr(io.StringIO()):
        assert frameloom(["blender", "build", "-o", str(tmp / "zips"), "--platform",
                          "linux-x64", "--python", "3.11", "--cache", CACHE]) == 0
    zips = {"legacy": tmp / "zips" / "frameloom_blender_legacy.zip",
            "extension": tmp / "zips" / "frameloom-0.2.0-linux-x64-cp311.zip"}
    total = n + reps + 1
    server = ServeProcess(tmp / "serve")
    rows = []
    try:
        baseline = []
        # Warm-up (imports, first-call costs) on frames 0.. before the timed runs, in both paths.
        stylize(clip, "--frames", f"0-{n - 1}", *STYLE, "-o", str(tmp / "warm"))
        for r in range(reps):
            baseline.append(stylize(clip, "--frames", f"{r + 1}-{r + n}", *STYLE,
                                    "-o", str(tmp / f"base{r}")))
        rows.append(("frameloom stylize (baseline)", statistics.median(baseline), None))
        for host in HOSTS:
            if not host.available():
                print(f"# Blender {host.name} not installed: skipped", file=sys.stderr)
                continue
            steps = [{"op": "trim", "start": 0, "end": total - n}, {"op": "stylize"}]
            for r in range(reps):
                steps += [{"op": "trim", "start": r + 1, "end": total - (r + 1) - n},
                          {"op": "stylize"}]
            steps.append({"op": "read_only"})
            cfg = {"install": host.install, "zip": host.zip_for(zips),
                   "scene": {"movie": clip, "channel": 1, "frame_start": 1, "trim_start": 1,
                             "trim_end": total - 1 - n, "blocker": False,
                             "blend": str(tmp / host.name / "bench.blend")},
                   "settings": {"server": server.target, "style": "filter:cartoon",
                                "temporal_mode": "window", "window": 1},
                   "steps": steps}
            out = host.run(tmp / host.name, cfg, timeout=1800)
            runs = [s for s in out["steps"] if s["op"] == "stylize"][1:]
            for s in runs:
                [res] = s["results"]
                assert res["error"] is None and not res["cached"], res
                assert s["strips"][-1]["length"] == n
            read = out["steps"][-1]["seconds"]
            rows.append((f"add-on in Blender {'.'.join(map(str, out['blender']))}",
                         statistics.median(s["seconds"] for s in runs), read))
    finally:
        server.stop()
    base = rows[0][1]
    print(f"# {n} frames {w}x{h}, filter:cartoon + deflicker window 1, {reps} repeats; "
          f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
    print(f"| {'path':34} | {'median s':>8} | {'fps':>6} | {'read s':>6} | {'ratio':>5} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 8}|{'-' * 8}|{'-' * 7}|")
    for name, sec, read in rows:
        print(f"| {name:34} | {sec:8.2f} | {n / sec:6.1f} | "
              f"{'' if read is None else f'{read:.2f}':>6} | {sec / base:5.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
