"""The core subcommands: stylize, render, info, demo."""
from __future__ import annotations

import json
import os
import sys

from frameloom_client.jobspec import relative_paths, save_spec, spec_to_toml

from ..errors import UserError
from .args import (add_media_args, add_report_arg, add_temporal_args, fps_arg, key_value,
                   print_written, spec_from_args)


def add_parsers(sub) -> None:
    p = sub.add_parser("stylize", help="stylize a clip (deflickered by default)",
                       description="Stylize a video or image sequence, frame-accurately, keeping "
                                   "its rate, size and audio.")
    p.add_argument("input", help="video file, image-sequence folder, or pattern like shot_%%05d.png")
    p.add_argument("--style", default=None,
                   help="identity, filter:cartoon, filter:pencil, filter:oil, filter:detail, "
                        "diffusion (default: diffusion with --model, else filter:cartoon)")
    p.add_argument("--param", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                   help="stylizer parameter, e.g. --param levels=6 (repeatable)")
    add_media_args(p)
    add_temporal_args(p)
    g = p.add_argument_group("diffusion")
    g.add_argument("--model", help="SD1.5-family .safetensors file, diffusers folder, or builtin:tiny")
    g.add_argument("--controlnet", action="append", default=[], metavar="KIND=PATH[@SCALE]",
                   help="ControlNet: depth, softedge, canny, openpose, tile (repeatable)")
    g.add_argument("--annotator", action="append", default=[], type=key_value, metavar="KIND=PATH",
                   help="annotator weights for a ControlNet kind (depth, softedge, openpose)")
    g.add_argument("--tokenizer", metavar="PATH",
                   help="CLIP tokenizer for single-file checkpoints (folder with vocab.json + "
                        "merges.txt, or bpe_simple_vocab_16e6.txt.gz)")
    g.add_argument("--lora", action="append", default=[], metavar="PATH[@WEIGHT]")
    g.add_argument("--embedding", action="append", default=[], metavar="PATH",
                   help="textual-inversion embedding file")
    g.add_argument("--prompt")
    g.add_argument("--negative-prompt")
    g.add_argument("--seed", type=int, help="noise seed (default 0)")
    g.add_argument("--steps", type=int, help="denoising steps (default 20)")
    g.add_argument("--strength", type=float, help="img2img strength (default 0.75)")
    g.add_argument("--guidance", type=float, help="guidance scale (default 7.5)")
    g.add_argument("--width", type=int, help="render width (default: the source's, rounded to /8)")
    g.add_argument("--height", type=int, help="render height (default: the source's, rounded to /8)")
    g.add_argument("--scheduler", choices=["ddim", "euler", "dpmpp"], help="default ddim")
    g.add_argument("--deflicker-steps", metavar="I,J,...",
                   help="denoising steps that run the in-loop deflicker (default: a set spread "
                        "over the schedule)")
    g.add_argument("--no-cross-frame", action="store_true", help="turn cross-frame attention off")
    g.add_argument("--dtype", choices=["auto", "float16", "bfloat16", "float32"],
                   help="default auto: float16 on CUDA, float32 on the CPU")
    g.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    g.add_argument("--batch-size", type=int, help="frames per UNet batch (default: automatic)")
    g.add_argument("--allow-pickle", action="store_true",
                   help="allow .ckpt/.pt/.bin pickle files (they can run code; trusted files only)")
    g.add_argument("--keyframes", metavar="FILE",
                   help="TOML/JSON file with [[keyframes]] (frame, prompt, strength, ...)")
    p.add_argument("--save-job", metavar="JOB.toml",
                   help="also write the job as a TOML file, its paths relative to it (for "
                        "`frameloom render` or a farm)")
    p.add_argument("--dry-run", action="store_true", help="print the job as TOML and stop")
    p.set_defaults(func=cmd_stylize)

    p = sub.add_parser("render", help="run a TOML/JSON job file",
                       description="Run a job file: a frameloom.v1.JobSpec written as TOML. Its "
                                   "paths are relative to the job file.")
    p.add_argument("job", help="job file (.toml or .json)")
    p.add_argument("--frames", metavar="START-END",
                   help="render only these of the job's frames, as the whole job would make them "
                        "(a farm task; with --overlap, into its own chunk folder)")
    p.add_argument("-o", "--output", help="override the job's output")
    p.add_argument("--fps", type=fps_arg, help="frame rate of image-sequence inputs")
    add_report_arg(p)
    g = p.add_argument_group("render farm (see `frameloom plan`)")
    g.add_argument("--overlap", type=int, metavar="H",
                   help="handle frames rendered on each side of --frames, into the chunk folder "
                        "the stitch joins (default with --chunk: 8)")
    g.add_argument("--chunk", type=int, metavar="N",
                   help="cut the job into chunks of N frames, render them all and stitch; with "
                        "--frames: the plan the task belongs to (for --stitch)")
    g.add_argument("--chunks-dir", metavar="DIR",
                   help="where chunk folders go (default: beside the output, <output>.chunks)")
    g.add_argument("--stitch", action="store_true",
                   help="with --frames: stitch the output when this task finds every chunk done")
    g.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the chunks on a Ray cluster: no address starts a local one, 'auto' "
                        "joins the one `ray start` made here, or HOST:PORT (needs frameloom[ray])")
    g.add_argument("--workers", type=int, metavar="N",
                   help="Ray workers (default: one per GPU of the cluster, else one per CPU)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("info", help="clip metadata, or this machine's devices and codecs")
    p.add_argument("input", nargs="?", help="a clip to describe")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="render the bundled sample clip, a before/after image and "
                                    "a flicker report")
    p.add_argument("outdir", help="folder for demo.mp4, comparison.png and report.html")
    p.add_argument("--style", default="filter:cartoon")
    p.set_defaults(func=cmd_demo)


def cmd_stylize(args) -> int:
    from ..jobs.local import run_local

    spec = spec_from_args(args)
    if args.dry_run:
        sys.stdout.write(spec_to_toml(relative_paths(spec, os.getcwd())))
        return 0
    if args.save_job:
        save_spec(spec, args.save_job)
    result = run_local(spec, fps=args.fps)
    print_written(result, args.output)
    return 0


def cmd_render(args) -> int:
    from ..jobs.local import run_local
    from .farm import load_job, owned_range, render_chunked, render_task

    spec = load_job(args)
    if args.ray is not None or (args.chunk and not args.frames):
        return render_chunked(args, spec)
    if args.overlap is not None or args.stitch:
        if not args.frames:
            raise UserError("--overlap/--stitch render one farm task: give its --frames (or "
                            "--chunk N to render the whole job as chunks)")
        return render_task(args, spec)
    span = None
    if args.frames:
        from ..farm.plan import chunk_of, job_indices

        indices = job_indices(spec, fps=args.fps)
        span = chunk_of(indices, *owned_range(spec, args.frames, indices), 0).owned
    if args.report:
        spec.output_options.report = True
    result = run_local(spec, fps=args.fps, span=span)
    print_written(result, args.output or spec.output)
    return 0


def cmd_info(args) -> int:
    from ..machine import machine_info

    out = {}
    if args.input:
        from ..media import open_source

        with open_source(args.input) as src:
            out["clip"] = src.info.describe()
    else:
        out["machine"] = machine_info()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for section, values in out.items():
            print(f"[{section}]")
            for key, value in values.items():
                print(f"  {key:16} {value}")
    return 0


def cmd_demo(args) -> int:
    from ..demo import run_demo

    video, comparison, report = run_demo(args.outdir, style=args.style)
    print(f"wrote {video}\nwrote {comparison}\nwrote {report}", file=sys.stderr)
    return 0
