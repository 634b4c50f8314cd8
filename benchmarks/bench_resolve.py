"""What the Resolve bridge costs per clip over running the same range locally.

    python benchmarks/bench_resolve.py                     # 640x360, 48 frames, 3 repeats
    python benchmarks/bench_resolve.py --size 1280x720 --frames 96

One clip on a fake Resolve timeline (tests/fake_resolve.py: the API calls are the bridge's own,
Resolve's side is free), `frameloom serve` on loopback in its own process, filter:cartoon without
deflicker, so the stylizer is cheap and the table shows the plumbing: gRPC, decoding, encoding,
files, import and placement. Baselines, in the same run: `frameloom stylize` of the same range to
the same kind of output (ProRes .mov for headless, 16-bit TIFF for streamed).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from frameloom.cli import main as frameloom  # noqa: E402
from frameloom_resolve import stylize_items  # noqa: E402
from mediafiles import photo_frames, write_clip  # noqa: E402
from resolve_helpers import START, ServeProcess, scene  # noqa: E402


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    root = Path(tempfile.mkdtemp(prefix="bench-resolve-"))
    (root / "media").mkdir()
    clip = write_clip(root / "media" / "shot.mp4", photo_frames(size=(w, h), frames=args.frames + 4))
    server = ServeProcess(root, root / "media")
    n = args.frames
    rows = {}
    try:
        def bridge(transfer, fmt):
            def run():
                resolve, _ = scene(clip, left=2, duration=n, record=START + 10)
                [r] = stylize_items(resolve, settings={
                    "server": server.target, "token_file": str(server.token_file),
                    "style": "filter:cartoon", "deflicker": "none", "placement": "track",
                    "output_dir": str(root / "media" / "out"), "transfer": transfer,
                    "result_format": fmt})
                assert r.ok, r.error
            return run

        def local(*out):
            counter = iter(range(10 ** 6))
            return lambda: frameloom(["stylize", clip, "--style", "filter:cartoon", "--no-deflicker",
                                      "--frames", f"2-{n + 1}", "--no-audio", *out[:-1],
                                      "-o", str(root / f"{out[-1]}{next(counter)}")])

        cases = [("frameloom stylize -> .mov", local("ref.mov")),
                 ("bridge headless -> .mov (server writes)", bridge("headless", "prores")),
                 ("frameloom stylize -> 16-bit TIFF", local("--codec", "tiff", "--bit-depth", "16",
                                                           "ref-tiff")),
                 ("bridge streamed -> 16-bit TIFF", bridge("stream", "tiff"))]
        for name, fn in cases:
            fn()   # warm: imports, first connection, page cache
            rows[name] = statistics.median(timed(fn) for _ in range(args.repeats))
    finally:
        server.stop()
    print(f"\n{n} frames {w}x{h}, filter:cartoon, no deflicker, median of {args.repeats} "
          f"({os.cpu_count()} CPUs)\n")
    print(f"{'case':44} {'seconds':>8} {'frames/s':>9} {'vs local':>9}")
    base = None
    for name, seconds in rows.items():
        base = seconds if name.startswith("frameloom") else base
        print(f"{name:44} {seconds:8.2f} {n / seconds:9.1f} {seconds / base:8.2f}x")


if __name__ == "__main__":
    main()
