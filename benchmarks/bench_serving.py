"""Do a server's gRPC threads keep answering while its engine computes a CPU job?

    python benchmarks/bench_serving.py                 # 384x384 cartoon + deflicker, 24 frames
    python benchmarks/bench_serving.py --frames 8      # shorter

A real ``frameloom serve`` on loopback (default threads). A client calls GetCapabilities and
GetJob in a loop (every 20 ms) and streams a small identity clip now and then, first with the
server idle, then while the server renders a headless ``filter:cartoon`` job with the deflicker.
Two servers are measured in the same run: the default (the engine's CPU worker runs at a lower
priority than the serving threads) and ``engine at the same priority`` (that lowering undone),
to show what it buys. Prints latency percentiles and the headless job's time per frame.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_load import pct, start_server as serve  # noqa: E402
from bench_threads import make_media  # noqa: E402
from frameloom_client import FrameloomClient  # noqa: E402
from frameloom_client.jobspec import build_spec  # noqa: E402

SERVERS = {
    "default": "",
    "engine at the same priority": "import frameloom.threads as t; t.ENGINE_NICE = 0; ",
}


def start_server(folder: Path, prelude: str) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "FRAMELOOM_THREADS", "MKL_NUM_THREADS")}
    return serve(folder, "--media-root", str(folder), prelude=prelude, env=env)


def probe(target: str, stop: threading.Event, unary: list, streams: list, job_id: list) -> None:
    small = [np.full((64, 64, 3), i * 20, np.uint8) for i in range(4)]
    spec = build_spec(style="identity", deflicker="none")
    calls = 0
    with FrameloomClient(target, timeout=60) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            client.capabilities()
            if job_id:
                client.get_job(job_id[0])
            unary.append(time.perf_counter() - t0)
            calls += 1
            if calls % 25 == 0:
                t0 = time.perf_counter()
                client.stylize_all(spec, small)
                streams.append(time.perf_counter() - t0)
            time.sleep(0.02)


def measure(target: str, media: dict, out: Path, busy: bool, seconds: float) -> dict:
    unary, streams, job_id = [], [], []
    stop = threading.Event()
    t = threading.Thread(target=probe, args=(target, stop, unary, streams, job_id))
    per_frame = float("nan")
    t.start()
    try:
        if busy:
            spec = build_spec(style="filter:cartoon", input=media["clip"], output=str(out), window=2)
            with FrameloomClient(target) as client:
                t0 = time.perf_counter()
                job = client.submit(spec)
                job_id.append(job.id)
                client.wait(job.id)
                per_frame = (time.perf_counter() - t0) / media["frames"]
        else:
            time.sleep(seconds)
    finally:
        stop.set()
        t.join()
    return {"unary": unary, "streams": streams, "per_frame": per_frame}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--idle-seconds", type=float, default=5)
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; headless job: "
          f"filter:cartoon + deflicker, {args.size}x{args.size}, {args.frames} frames")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        media = make_media(folder, args.size, args.frames)
        for name, prelude in SERVERS.items():
            proc, target = start_server(folder, prelude)
            try:
                for busy in (False, True):
                    r = measure(target, media, folder / f"out_{len(rows)}", busy, args.idle_seconds)
                    rows.append((name, "computing a job" if busy else "idle", r))
            finally:
                proc.terminate()
                proc.wait(30)
    print("\n| server | while | unary calls | unary p50 / p95 / p99 ms | stream (4 frames) p50 / max ms "
          "| job s/frame |")
    print("|---|---|---|---|---|---|")
    for name, state, r in rows:
        u, s = r["unary"], r["streams"]
        print(f"| {name} | {state} | {len(u)} | {1000 * pct(u, 50):.1f} / {1000 * pct(u, 95):.1f} / "
              f"{1000 * pct(u, 99):.1f} | {1000 * pct(s, 50):.0f} / {1000 * max(s or [float('nan')]):.0f} "
              f"| {r['per_frame']:.2f} |")


if __name__ == "__main__":
    main()
