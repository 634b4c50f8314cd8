"""What temporal consistency costs: frameloom beside diffusers at full SD1.5 size, one run.

    python benchmarks/bench_vs_diffusers.py                      # CPU: 6 frames 256x256, 4 steps
    python benchmarks/bench_vs_diffusers.py --frames 120 --size 512 --steps 20 --dtype float16 \\
        --compile                                                # the GPU case

The anchor is what users who would not pick frameloom run: diffusers'
``StableDiffusionControlNetImg2ImgPipeline``, frame by frame. Every run uses the same full-size
SD1.5 UNet, VAE, text encoder and two ControlNets built from their configs with random weights
(the arithmetic, and so the time, is that of real weights), the same frames (a real photo moving),
size, steps, strength 0.75, guidance 7.5 and control images (the frames). Runs:

- ``diffusers``: the pipeline, one frame per call (its own progress bar off);
- ``frameloom, consistency off``: no cross-frame attention, no in-loop or post-pass deflicker;
- ``frameloom DiffSynth``: cross-frame attention (first + previous frame) with the anchor keys and
  values cached, the in-loop deflicker at its default steps, the post-pass deflicker;
- ``... anchors recomputed``: the same, but the anchor and previous frames are run through the
  UNet again in every forward (as reference items), the way the paper's code gets them.

Each run's time is split by module (forward hooks on the same modules for every run), peak
memory is read for 8 and 32 frames of the DiffSynth run (RSS on CPU, max_memory_allocated on
CUDA, each in its own process). Medians over ``--repeats``, runs interleaved so a busy machine
hurts them alike; the load average is printed. The benchmark re-runs itself with the allocator
settings the ``frameloom`` command starts with (:mod:`frameloom.allocator`), so every row, the
diffusers anchor included, runs with them; ``FRAMELOOM_MALLOC=system`` runs all rows without.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from frameloom import allocator

if __name__ == "__main__":   # the allocator settings the frameloom command runs with, for every row
    allocator.reexec_with_tunables()

import numpy as np  # noqa: E402
import torch  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

from bench_diffusion import moving_photo, sd15_random  # noqa: E402
from frameloom.frames import Frame  # noqa: E402
from frameloom.stylize.diffusion import DiffusionStylizer  # noqa: E402
from frameloom.stylize.diffusion.sampler import Timer  # noqa: E402
from frameloom_client.jobspec import Schedule, build_spec  # noqa: E402

RUNS = ("diffusers", "frameloom, consistency off", "frameloom DiffSynth",
        "frameloom DiffSynth, anchors recomputed")
TARGETS = {"diffusers": "1.00x (the anchor)", "frameloom, consistency off": "<= 1.05x",
           "frameloom DiffSynth": "<= 1.35x", "frameloom DiffSynth, anchors recomputed": "reported"}


class ModuleClock:
    """Seconds spent in each module's forward (and the VAE's encode/decode), by category."""

    def __init__(self, comps, device):
        self.timer = Timer(device)
        self._undo = []
        self._wrap(comps.unet, "forward", "unet")
        for _, cn in comps.controlnets:
            self._wrap(cn, "forward", "controlnet")
        self._wrap(comps.vae, "encode", "vae")
        self._wrap(comps.vae, "decode", "vae")
        self._wrap(comps.text_encoder, "forward", "text")

    def _wrap(self, module, method: str, name: str) -> None:
        inner = getattr(module, method)
        clock = self.timer

        def timed(*a, **k):
            with clock(name):
                return inner(*a, **k)
        setattr(module, method, timed)
        self._undo.append((module, method))

    def restore(self) -> None:
        for module, method in self._undo:
            if method in vars(module):
                delattr(module, method)

    @property
    def totals(self) -> dict[str, float]:
        return self.timer.totals


def spec_for(run: str, steps: int, window: int, dtype: str, compile_: bool, frames: int):
    consistent = run != "frameloom, consistency off"
    settings = dict(style="diffusion", model="builtin:tiny", prompt="an oil painting of a cat",
                    steps=steps, strength=0.75, guidance=7.5, seed=1, diffusion_window=window,
                    dtype=dtype, compile=compile_, deflicker="window" if consistent else "none",
                    controlnets=[{"kind": "image", "model": "builtin:tiny", "scale": 0.8},
                                 {"kind": "image", "model": "builtin:tiny", "scale": 0.5}])
    if run == "frameloom DiffSynth":
        settings["cross_frame"] = {"enabled": True, "first_frame": True, "previous_frames": 1}
    elif run.endswith("recomputed"):
        settings["cross_frame"] = True     # then RecomputedAnchors turns the cached banks off
    else:
        settings["cross_frame"] = False
    return build_spec(settings)


class RecomputedAnchors(DiffusionStylizer):
    """DiffSynth without the cached anchor keys/values: the anchor and the previous frame come
    back in every forward as reference items, run through the UNet and ControlNets again."""

    anchors: torch.Tensor | None = None

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.denoiser.anchor, self.denoiser.previous = False, 0

    def _reference_images(self, h: int, w: int):
        return self.anchors


def run_frameloom(run: str, comps, frames, args, device) -> tuple[float, dict, list]:
    from frameloom.temporal.blend import StreamingDeflicker

    spec = spec_for(run, args.steps, args.window, args.dtype, args.compile, len(frames))
    clock = ModuleClock(comps, device)
    inner = Timer(device)
    recompute = run.endswith("recomputed")
    st = (RecomputedAnchors if recompute else DiffusionStylizer)(spec, components=comps, device=device,
                                                                  timer=inner)
    schedule = Schedule(spec)
    post = StreamingDeflicker(spec.temporal, device=device) if spec.temporal.mode != "none" else None
    outputs = []
    t0 = time.perf_counter()
    for start in range(0, len(frames), args.window):
        chunk = frames[start:start + args.window]
        if recompute:   # this window's anchor and previous frame
            anchors = [frames[0].image] + ([frames[start - 1].image] if start else [])
            st.anchors = torch.from_numpy(np.stack(anchors)).permute(0, 3, 1, 2).float()
        styled = st.stylize(chunk, [schedule.at(f.index) for f in chunk])
        if post is None:
            outputs.extend(zip((f.index for f in chunk), styled))
            continue
        with clock.timer("post-pass"):
            for f, s in zip(chunk, styled):
                outputs.extend(post.push(f.index, s, f.image))
    if post is not None:
        with clock.timer("post-pass"):
            outputs.extend(post.flush())
    if device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    clock.restore()
    split = dict(clock.totals)
    split["in-loop deflicker"] = inner.totals.get("deflicker", 0.0)
    st.close()
    return total, split, outputs


def run_diffusers(comps, frames, args, device) -> tuple[float, dict, list]:
    from diffusers import DDIMScheduler, StableDiffusionControlNetImg2ImgPipeline
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

    dtype = {"auto": torch.float16 if device.type == "cuda" else torch.float32, "float32": torch.float32,
             "float16": torch.float16, "bfloat16": torch.bfloat16}[args.dtype]
    # diffusers as users run it: the modules in PyTorch's default layout (frameloom's stylizer
    # made the shared VAE channels-last).
    for module in comps.modules():
        module.to(memory_format=torch.contiguous_format)
    pipe = StableDiffusionControlNetImg2ImgPipeline(
        vae=comps.vae, text_encoder=comps.text_encoder, tokenizer=comps.tokenizer, unet=comps.unet,
        controlnet=MultiControlNetModel([cn for _, cn in comps.controlnets]),
        scheduler=DDIMScheduler.from_config(comps.scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False).to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    if args.compile:
        pipe.unet = torch.compile(pipe.unet)
    clock = ModuleClock(comps, device)
    outputs = []
    t0 = time.perf_counter()
    for f in frames:
        image = torch.from_numpy(f.image).permute(2, 0, 1)[None]
        out = pipe(prompt="an oil painting of a cat", image=image, control_image=[image, image],
                   strength=0.75, num_inference_steps=args.steps, guidance_scale=7.5,
                   controlnet_conditioning_scale=[0.8, 0.5],
                   generator=torch.Generator("cpu").manual_seed(1), output_type="np").images[0]
        outputs.append((f.index, out))
    if device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    clock.restore()
    return total, dict(clock.totals), outputs


def peak_memory(n: int, args) -> float:
    """Peak memory (GiB) of the DiffSynth run over ``n`` frames, in a fresh process."""
    cmd = [sys.executable, __file__, "--memory-child", str(n), "--size", str(args.mem_size),
           "--steps", str(args.steps), "--window", str(args.window), "--dtype", args.dtype]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_gib"]


def memory_child(n: int, args, device) -> None:
    comps = sd15_random(device)
    frames = [Frame(i, i / 24, img) for i, img in enumerate(moving_photo(n, args.size, args.size))]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    run_frameloom("frameloom DiffSynth", comps, frames, args, device)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        with open("/proc/self/status") as f:
            peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 2**20
    print(json.dumps({"peak_gib": peak}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--window", type=int, default=4)
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"])
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--mem-size", type=int, default=128, help="frame size of the memory runs")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--runs", default="all",
                    help="comma-separated run numbers to time (1-4, in the table's order; default all)")
    ap.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    runs = RUNS if args.runs == "all" else tuple(RUNS[int(i) - 1] for i in args.runs.split(","))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.memory_child:
        memory_child(args.memory_child, args, device)
        return
    comps = sd15_random(device)
    for m in comps.modules():
        m.to(device)
    frames = [Frame(i, i / 24, img) for i, img in enumerate(moving_photo(args.frames, args.size, args.size))]
    # Warm-up (allocator, kernel choice, compile): one frame through each path, not counted.
    if "diffusers" in runs:
        run_diffusers(comps, frames[:1], args, device)
    run_frameloom("frameloom DiffSynth", comps, frames[:2], args, device)
    times = {r: [] for r in runs}
    splits = {r: {} for r in runs}
    for _ in range(args.repeats):
        for run in runs:
            fn = (lambda: run_diffusers(comps, frames, args, device)) if run == "diffusers" else \
                (lambda: run_frameloom(run, comps, frames, args, device))  # noqa: B023
            total, split, outputs = fn()
            assert len(outputs) == len(frames), (run, len(outputs))
            times[run].append(total)
            for k, v in split.items():
                splits[run].setdefault(k, []).append(v)
    dev = torch.cuda.get_device_name() if device.type == "cuda" else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    print(f"## frameloom vs diffusers: full-size SD1.5 (random weights), {dev}")
    print(f"torch {torch.__version__}; {args.frames} frames {args.size}x{args.size}, {args.steps} steps "
          f"x 0.75, guidance 7.5, 2 ControlNets, window {args.window}, dtype {args.dtype}, "
          f"compile={args.compile}; median of {args.repeats}; load average {os.getloadavg()[0]:.2f}")
    print(f"allocator (every row): {allocator.describe()}")
    base = statistics.median(times["diffusers"]) if "diffusers" in times else None
    print("\n| run | seconds | s/frame | vs diffusers | target |\n|---|---|---|---|---|")
    for run in runs:
        t = statistics.median(times[run])
        ratio = f"{t / base:.2f}x" if base else "(not run)"
        print(f"| {run} | {t:.1f} | {t / args.frames:.2f} | {ratio} | {TARGETS[run]} |")
    cats = ("unet", "controlnet", "vae", "text", "in-loop deflicker", "post-pass")
    print("\n| run | " + " | ".join(cats) + " | other |\n|---|" + "---|" * (len(cats) + 1))
    for run in runs:
        t = statistics.median(times[run])
        vals = [statistics.median(splits[run].get(c, [0.0])) for c in cats]
        # The in-loop deflicker's VAE work is inside "vae"; its own share is the PatchMatch.
        print(f"| {run} | " + " | ".join(f"{v:.1f}" for v in vals) + f" | {t - sum(vals):.1f} |")
    if not args.no_memory:
        m8, m32 = peak_memory(8, args), peak_memory(32, args)
        what = "max_memory_allocated" if device.type == "cuda" else "peak RSS"
        print(f"\nDiffSynth run, {args.mem_size}x{args.mem_size}: {what} 8 frames {m8:.2f} GiB, "
              f"32 frames {m32:.2f} GiB (ratio {m32 / m8:.2f})")


if __name__ == "__main__":
    main()
