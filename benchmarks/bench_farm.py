"""A farm job's speed on Ray: 1 vs 2 workers, what the overlap costs, what the stitch costs.

    python benchmarks/bench_farm.py [--frames 96] [--size 96x128] [--chunk 24] [--overlap 8]
                                    [--repeats 3]

The job: ``filter:cartoon`` with the window deflicker (+-3) on a clip of a real photograph moved
by a camera path, a 16-bit PNG sequence. It is cut into chunks (``--chunk`` owned frames,
``--overlap`` handles each side) and rendered on a local Ray cluster (``ray.init(num_cpus=2)``)
by 1 worker of 1 CPU, then by 2 workers of 1 CPU each (the 1.6x target), and, for context, by 1
worker given both CPUs. Each run starts fresh workers (they import the engine in parallel), and
its time is the wall time from submitting the chunks to the last chunk on disk, and the
chunks-only time from the first chunk's start to the last one's end (workers warm). Then:

- overlap cost: frames rendered (owned + handles) / frames delivered;
- the stitch's wall time per delivered frame, into an 8-bit PNG sequence and into H.264 (.mp4),
  reading the chunks' 8-bit PNGs;
- an uninterrupted local render of the whole job (one process, one thread) as the baseline.

Medians over ``--repeats``. Others share this machine's cores: the load average is printed
before and after, and so is the *parallel ceiling*, what two plain CPU-bound processes gain over
one at that moment; two workers cannot beat it. Compare runs taken at a low load.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _burn(n: int) -> float:
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t


def parallel_ceiling(n: int = 10_000_000) -> float:
    """What two CPU-bound processes gain over one on this machine right now (2.0 on two idle
    cores): the most two workers can gain while others share the cores."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_burn, [1000, 1000])   # started
        t = time.perf_counter()
        pool.map(_burn, [n])
        one = time.perf_counter() - t
        t = time.perf_counter()
        pool.map(_burn, [n, n])
        two = time.perf_counter() - t
    return 2 * one / two


def make_source(folder: Path, frames: int, size: tuple[int, int]) -> str:
    from frameloom.frames import Frame
    from frameloom.media.sequence import SequenceSink
    from synthclips import make_clip

    sink = SequenceSink(str(folder / "shot"), bit_depth=16)
    for i, f in enumerate(make_clip(n_frames=frames, size=size, seed=1).frames):
        sink.write(Frame(i, i / 24, f))
    return str(folder / "shot")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--size", default="96x128", help="HxW")
    ap.add_argument("--chunk", type=int, default=24)
    ap.add_argument("--overlap", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.pop("FRAMELOOM_THREADS", None)   # each worker computes on the CPUs Ray gives it
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    h, w = (int(v) for v in args.size.lower().split("x"))

    import ray

    from frameloom import threads
    from frameloom.farm.plan import job_indices, plan_chunks
    from frameloom.farm.ray_executor import RayOptions, render_on_ray
    from frameloom.farm.stitch import stitch
    from frameloom.jobs.local import run_local
    from frameloom.spec import spec_from_dict

    threads.configure(1)
    print(f"load average before: {load()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_farm_"))
    try:
        source = make_source(tmp, args.frames, (h, w))

        def spec(output: Path):
            # 8-bit delivery (H.264, or 8-bit PNGs): the chunks hold 8-bit PNGs.
            return spec_from_dict({"input": source, "output": str(output),
                                   "style": {"kind": "filter:cartoon"},
                                   "temporal": {"mode": "window", "window": 3},
                                   "output_options": {"bit_depth": 8}})

        job = spec(tmp / "out.mp4")
        indices = job_indices(job)
        chunks = plan_chunks(indices, args.chunk, args.overlap)
        rendered = sum(sum(1 for i in indices if c.rendered[0] <= i <= c.rendered[1]) for c in chunks)

        t = time.perf_counter()
        run_local(spec(tmp / "single"), quiet=True)
        single = time.perf_counter() - t

        ceiling = [parallel_ceiling()]
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        rows = {}
        for name, options in (("1 worker x 1 CPU", RayOptions(workers=1)),
                              ("2 workers x 1 CPU", RayOptions(workers=2)),
                              ("1 worker x 2 CPUs", RayOptions(workers=1, cpus_per_worker=2))):
            times, steady = [], []
            for _ in range(args.repeats):
                root = tmp / "chunks"
                shutil.rmtree(root, ignore_errors=True)
                t = time.perf_counter()
                results = render_on_ray(job, chunks, root, options)
                times.append(time.perf_counter() - t)
                steady.append(max(r.ended for r in results) - min(r.started for r in results))
            rows[name] = (statistics.median(times), statistics.median(steady))
        ray.shutdown()
        ceiling.append(parallel_ceiling())

        stitch_times = {}
        for kind, out in (("PNG sequence", tmp / "stitched"), ("H.264 .mp4", tmp / "stitched.mp4")):
            job.output = str(out)
            stitch(job, chunks, tmp / "chunks", overlap=args.overlap)   # warm: codecs loaded
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                stitch(job, chunks, tmp / "chunks", overlap=args.overlap)
                times.append(time.perf_counter() - t)
            stitch_times[kind] = statistics.median(times)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n = args.frames
    print(f"\nfilter:cartoon + window deflicker +-3, {n} frames {w}x{h}, {len(chunks)} chunks of "
          f"{args.chunk} + {args.overlap} handles, medians of {args.repeats}\n")
    print("| run | wall s | delivered frames/s | vs 1 worker | chunks only s | vs 1 worker |")
    print("|---|---|---|---|---|---|")
    base, base_steady = rows["1 worker x 1 CPU"]
    for name, (s, st) in rows.items():
        print(f"| Ray, {name} | {s:.1f} | {n / s:.2f} | **{base / s:.2f}x** | {st:.1f} | "
              f"**{base_steady / st:.2f}x** |")
    print(f"| local, uninterrupted, 1 thread | {single:.1f} | {n / single:.2f} | {base / single:.2f}x "
          "| | |")
    print("\n(wall: from submitting the chunks to the last one on disk, fresh workers included; "
          "chunks only: from the first chunk's start to the last one's end, workers warm)")
    print(f"\nparallel ceiling (2 plain CPU-bound processes vs 1, before / after the Ray runs): "
          f"{ceiling[0]:.2f}x / {ceiling[1]:.2f}x (2.00x on two idle cores)")
    print(f"overlap cost: {rendered} frames rendered / {n} delivered = **{rendered / n:.3f}**")
    for kind, s in stitch_times.items():
        print(f"stitch into {kind}: {1000 * s / n:.1f} ms/frame ({s:.2f} s)")
    print(f"\nload average after: {load()}")


if __name__ == "__main__":
    main()
