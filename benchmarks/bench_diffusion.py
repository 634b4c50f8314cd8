"""Diffusion engine benchmark: the DiffSynth loop at full SD1.5 size, with the time split.

    python benchmarks/bench_diffusion.py                 # CUDA: 120 frames 512x512 (the issue's case)
    python benchmarks/bench_diffusion.py --frames 32     # shorter
    python benchmarks/bench_diffusion.py --smoke         # builtin:tiny on any device (what CPU runs)

Full size: an SD1.5 UNet, VAE and text encoder and two SD1.5 ControlNets (depth, softedge kinds)
built from the shipped configs with random weights (the arithmetic, and so the speed, is the same
as with real weights; the pictures are meaningless). 512x512, 20 steps at strength 0.75 (15 run),
classifier-free guidance, cross-frame attention (anchor + previous frame), in-loop deflicker at 4
steps, then the post-pass deflicker over the decoded clip. Frames go through the stylizer in
windows of ``--window`` frames, the way the runner feeds it.

Without CUDA the full-size run would take hours on a CPU, so the script runs a clearly labelled
tiny smoke run instead (builtin:tiny, 64x64); its numbers say nothing about GPU speed.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

from frameloom import allocator

if __name__ == "__main__":   # the allocator settings the frameloom command runs with
    allocator.reexec_with_tunables()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from frameloom.frames import Frame  # noqa: E402
from frameloom.spec import Schedule, spec_from_dict  # noqa: E402
from frameloom.stylize.diffusion import DiffusionStylizer  # noqa: E402
from frameloom.stylize.diffusion.models import (Components, _seeded_build, build_tiny,  # noqa: E402
                                                 build_tiny_controlnet, family_config)
from frameloom.stylize.diffusion.sampler import Timer  # noqa: E402
from frameloom.stylize.diffusion.tokenizer import tiny_tokenizer  # noqa: E402


def moving_photo(n: int, h: int, w: int) -> list[np.ndarray]:
    """A real photo (scikit-image's astronaut) panned and zoomed: content for the annotators."""
    from skimage import data

    img = data.astronaut().astype(np.float32) / 255.0
    frames = []
    for t in range(n):
        s = 1.0 + 0.003 * t
        m = np.array([[s, 0, -1.5 * t], [0, s, -0.7 * t]], np.float32)
        big = cv2.resize(img, (int(w * 1.3), int(h * 1.3)), interpolation=cv2.INTER_AREA)
        frames.append(cv2.warpAffine(big, m, (w, h), borderMode=cv2.BORDER_REFLECT))
    return frames


def sd15_random(device) -> Components:
    """Full-size SD1.5 + two ControlNets with random weights (no file needed)."""
    comps = Components(tokenizer=tiny_tokenizer(), text_encoder=_seeded_build("sd15", "text_encoder", 0),
                       unet=_seeded_build("sd15", "unet", 1), vae=_seeded_build("sd15", "vae", 2),
                       scheduler_config=family_config("sd15", "scheduler"), family="sd15")
    comps.controlnets = [(k, _seeded_build("sd15", "controlnet", 3 + i)) for i, k in enumerate(("depth", "softedge"))]
    return comps


def run(args, device) -> None:
    smoke = args.smoke or device.type != "cuda"
    n, size = (args.frames if not smoke else min(args.frames, 8)), (args.size if not smoke else 64)
    steps = args.steps if not smoke else 4
    window = args.window if not smoke else 4
    if smoke:
        comps = build_tiny()
        comps.controlnets = [("depth", build_tiny_controlnet(0)), ("softedge", build_tiny_controlnet(1))]
    else:
        comps = sd15_random(device)
    # Condition images: the frames themselves (kind "image"); annotator cost is not the engine's.
    spec = spec_from_dict({
        "style": {"kind": "diffusion", "diffusion": {
            "model": "builtin:tiny", "prompt": "an oil painting of an astronaut", "steps": steps,
            "strength": 0.75, "guidance": 7.5, "seed": 1, "window": window,
            "deflicker_steps": [2, 5, 8, 11] if not smoke else [1],
            "cross_frame": {"enabled": True, "first_frame": True, "previous_frames": 1},
            "compile": bool(args.compile),
            "controlnets": [{"kind": "image", "model": "builtin:tiny", "scale": 0.8},
                            {"kind": "image", "model": "builtin:tiny", "scale": 0.5}]}},
        "temporal": {"mode": "window", "window": 3}})
    timer = Timer(device)
    t_load = time.perf_counter()
    st = DiffusionStylizer(spec, components=comps, device=device, timer=timer)
    t_load = time.perf_counter() - t_load
    sched = Schedule(spec)
    frames = [Frame(i, i / 24, img) for i, img in enumerate(moving_photo(n, size, size))]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # Warm-up window (kernel selection, compile) on a throwaway stylizer state is not counted.
    if not smoke:
        warm = DiffusionStylizer(spec, components=st.comps, device=device, deflicker=False)
        warm.stylize(frames[:window], [sched.at(i) for i in range(window)])
        del warm
        timer.totals.clear()
    from frameloom.temporal.blend import StreamingDeflicker
    post = StreamingDeflicker(spec.temporal, device=device)
    t0 = time.perf_counter()
    outputs = []
    for start in range(0, n, window):
        chunk = frames[start:start + window]
        styled = st.stylize(chunk, [sched.at(f.index) for f in chunk])
        with timer("post-pass"):
            for f, s in zip(chunk, styled):
                outputs.extend(post.push(f.index, s, f.image))
    with timer("post-pass"):
        outputs.extend(post.flush())
    if device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    label = "SMOKE RUN (builtin:tiny; not a speed figure)" if smoke else "full-size SD1.5 (random weights)"
    dev = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({platform.processor() or 'cpu'}, {torch.get_num_threads()} threads)"
    print(f"\n## bench_diffusion: {label}")
    print(f"device: {dev}; torch {torch.__version__}; dtype {st.dtype}; compile={bool(args.compile)}")
    print(f"{n} frames {size}x{size}, {steps} steps @ strength 0.75, window {window}, 2 ControlNets, "
          f"CFG, cross-frame (anchor+prev), in-loop deflicker at {list(spec.style.diffusion.deflicker_steps)}, "
          f"post-pass window 3")
    print("\n| stage | seconds | share |\n|---|---|---|")
    other = total - sum(v for k, v in timer.totals.items())
    for k in ("unet", "controlnet", "vae", "deflicker", "post-pass"):
        v = timer.totals.get(k, 0.0)
        print(f"| {k} | {v:.2f} | {100 * v / total:.0f}% |")
    print(f"| other (text, annotations, copies) | {other:.2f} | {100 * other / total:.0f}% |")
    print(f"| **total** | **{total:.2f}** | {n / total:.2f} frames/s |")
    print(f"\nload {t_load:.1f} s; peak GPU memory {peak:.1f} GiB; outputs {len(outputs)}")
    if args.save:
        for i, img in outputs[:4]:
            cv2.imwrite(f"{args.save}_{i:03d}.png", (img[:, :, ::-1] * 255).astype(np.uint8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="builtin:tiny even on CUDA")
    ap.add_argument("--save", default="", help="write the first outputs as PNGs with this prefix")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    run(args, device)


if __name__ == "__main__":
    main()
