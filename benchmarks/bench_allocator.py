"""What the allocator settings save per call: full-size SD1.5 UNet and VAE, glibc defaults vs
frameloom's tunables, each in a fresh process.

    python benchmarks/bench_allocator.py [--size 256] [--repeats 6]

Prints seconds per call (median), minor page faults per call and peak RSS for: a batch-8 UNet
forward (a window of 4 frames with guidance), a one-frame VAE decode and encode. Random weights
(the arithmetic is that of real ones). See :mod:`frameloom.allocator`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))


def child(size: int, repeats: int) -> None:
    import torch

    from bench_diffusion import sd15_random

    torch.manual_seed(0)
    comps = sd15_random(torch.device("cpu"))
    vae = comps.vae.eval().requires_grad_(False).to(memory_format=torch.channels_last)
    unet = comps.unet.eval().requires_grad_(False)
    h = size // 8
    z = torch.randn(1, 4, h, h)
    x = torch.rand(1, 3, size, size).contiguous(memory_format=torch.channels_last) * 2 - 1
    xu, emb, t = torch.randn(8, 4, h, h), torch.randn(8, 77, 768), torch.tensor(500)
    calls = {"UNet forward, batch 8": lambda: unet(xu, t, encoder_hidden_states=emb),
             "VAE decode, 1 frame": lambda: vae.decode(z).sample,
             "VAE encode, 1 frame": lambda: vae.encode(x).latent_dist.mean}
    out = {}
    with torch.no_grad():
        for name, fn in calls.items():
            fn()
            times = []
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / repeats
            out[name] = (statistics.median(times), faults)
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 2**20
    print(json.dumps({"calls": out, "peak_gib": peak}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.size, args.repeats)
        return
    from frameloom import allocator

    base = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", allocator.ENV)}
    runs = {"glibc defaults": base, "frameloom's tunables": dict(base, GLIBC_TUNABLES=allocator.TUNABLES)}
    res = {}
    for name, env in runs.items():
        cmd = [sys.executable, __file__, "--child", "--size", str(args.size), "--repeats", str(args.repeats)]
        res[name] = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True,
                                              check=True).stdout.strip().splitlines()[-1])
    a, b = res["glibc defaults"], res["frameloom's tunables"]
    print(f"## allocator settings, full SD1.5 at {args.size}x{args.size}, median of {args.repeats}, "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print("| call | glibc defaults | frameloom's tunables | ratio | minor faults per call |\n|---|---|---|---|---|")
    for call, (ta, fa) in a["calls"].items():
        tb, fb = b["calls"][call]
        print(f"| {call} | {ta:.3f} s | {tb:.3f} s | {tb / ta:.2f}x | {fa:,.0f} -> {fb:,.0f} |")
    print(f"| peak RSS | {a['peak_gib']:.2f} GiB | {b['peak_gib']:.2f} GiB | "
          f"{b['peak_gib'] / a['peak_gib']:.2f}x | |")


if __name__ == "__main__":
    main()
