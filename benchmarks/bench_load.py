"""The server under load: N streaming clients for a while, beside M callers polling it.

    python benchmarks/bench_load.py                      # 8 streams + 8 pollers for 60 s
    python benchmarks/bench_load.py --seconds 10 --streams 2 --pollers 2   # smoke run

A real ``frameloom serve`` on loopback (its own process, default threads). Each streaming client
sends small clips again and again (half of them with a clip hash, so the server's cache answers
their repeats), a quarter of its calls are abandoned half-way (a client that disconnects), and
every frame that comes back is checked against the expected frame: a result that arrives
but differs is "wrong", a call that fails is "failed". Pollers call GetCapabilities, ListJobs
and GetJob in a loop. Prints the counts and latency percentiles; the target is 0 failed and 0
wrong.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from frameloom_client import FrameloomClient, FrameloomError
from frameloom_client.jobspec import build_spec


def clip(seed: int, n: int, h: int, w: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return [np.roll(base, 3 * i, axis=1) for i in range(n)]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))]


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = self.failed = self.wrong = self.abandoned = 0
        self.errors: dict[str, int] = {}
        self.stream_s: list[float] = []
        self.first_frame_s: list[float] = []
        self.unary_s: list[float] = []

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            self.failed += 1
            key = f"{getattr(exc, 'code', type(exc).__name__)}: {str(exc)[:80]}"
            self.errors[key] = self.errors.get(key, 0) + 1


def streamer(target: str, k: int, stop: float, tally: Tally, n: int, h: int, w: int) -> None:
    spec = build_spec(style="identity", deflicker="none")
    hashed = k % 2 == 0
    clips = [clip(100 * k + j, n, h, w) for j in range(3)]
    calls = 0
    with FrameloomClient(target, timeout=60) as client:
        while time.monotonic() < stop:
            frames = clips[calls % len(clips)]
            calls += 1
            abandon = calls % 4 == 0
            t0 = time.monotonic()
            first = None
            try:
                call = client.stylize(spec, frames, cache=hashed)
                got = {}
                for index, image in call:
                    if first is None:
                        first = time.monotonic() - t0
                    got[index] = image
                    if abandon and len(got) >= n // 2:
                        call.cancel()
                        break
                if abandon:
                    with tally.lock:
                        tally.abandoned += 1
                    continue
                bad = len(got) != n or any(not np.array_equal(got[i], frames[i]) for i in range(n))
                with tally.lock:
                    if bad:
                        tally.wrong += 1
                    else:
                        tally.ok += 1
                        tally.stream_s.append(time.monotonic() - t0)
                        tally.first_frame_s.append(first)
            except FrameloomError as exc:
                if not abandon:
                    tally.fail(exc)


def poller(target: str, stop: float, tally: Tally) -> None:
    with FrameloomClient(target, timeout=30) as client:
        while time.monotonic() < stop:
            for fn in (client.capabilities, lambda: client.list_jobs(limit=20)):
                t0 = time.monotonic()
                try:
                    jobs = fn()
                    if isinstance(jobs, list) and jobs:
                        client.get_job(jobs[0].id)
                    with tally.lock:
                        tally.unary_s.append(time.monotonic() - t0)
                except FrameloomError as exc:
                    tally.fail(exc)
            time.sleep(0.05)


def start_server(folder: Path, *extra: str, prelude: str = "",
                 env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """A ``frameloom serve`` process on a free loopback port with its store in ``folder``,
    ready; ``prelude``: Python run in it before the CLI. Returns (process, target)."""
    port_file = folder / f"port_{time.monotonic_ns()}"
    code = prelude + "import sys; from frameloom.cli import main; sys.exit(main(sys.argv[1:]))"
    server = subprocess.Popen([sys.executable, "-c", code, "serve", "--port", "0", "--port-file",
                               str(port_file), "--store", str(folder / f"store_{port_file.name}"),
                               "--log-level", "warning", *extra], env=env)
    while not port_file.exists():
        if server.poll() is not None:
            raise SystemExit("the server did not start")
        time.sleep(0.1)
    target = f"127.0.0.1:{port_file.read_text().strip()}"
    with FrameloomClient(target) as c:
        c.wait_ready(60)
    return server, target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--pollers", type=int, default=8)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--size", default="320x180")
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory() as d:
        server, target = start_server(Path(d))
        try:
            tally = Tally()
            stop = time.monotonic() + args.seconds
            workers = [threading.Thread(target=streamer, args=(target, k, stop, tally, args.frames, h, w))
                       for k in range(args.streams)]
            workers += [threading.Thread(target=poller, args=(target, stop, tally))
                        for _ in range(args.pollers)]
            t0 = time.monotonic()
            for t in workers:
                t.start()
            for t in workers:
                t.join()
            wall = time.monotonic() - t0
            alive = server.poll() is None
        finally:
            server.terminate()
            server.wait(30)
    calls = tally.ok + tally.wrong + tally.failed
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.streams} streaming "
          f"clients ({args.frames} frames of {w}x{h} per call) + {args.pollers} pollers, {wall:.0f} s")
    print("\n| measure | value |\n|---|---|")
    print(f"| stream calls completed | {tally.ok} |")
    print(f"| abandoned on purpose (client disconnects) | {tally.abandoned} |")
    print(f"| **failed** | **{tally.failed}** |")
    print(f"| **wrong frames** | **{tally.wrong}** |")
    print(f"| unary calls | {len(tally.unary_s)} |")
    for name, values in (("stream call", tally.stream_s), ("first frame", tally.first_frame_s),
                         ("unary call", tally.unary_s)):
        print(f"| {name} latency p50 / p95 / p99 | {1000 * pct(values, 50):.0f} / "
              f"{1000 * pct(values, 95):.0f} / {1000 * pct(values, 99):.0f} ms |")
    print(f"| server alive at the end | {'yes' if alive else 'NO'} |")
    if tally.errors:
        print("\nerrors:")
        for key, count in sorted(tally.errors.items(), key=lambda kv: -kv[1]):
            print(f"  {count:4d}  {key}")
    if calls and statistics.mean([tally.failed, tally.wrong]) > 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
