"""The core subcommands: stylize, render, info, demo."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import UserError
from .spec import load_spec, spec_from_dict, spec_to_toml

DIFFUSION_HINT = "diffusion"


def add_parsers(sub) -> None:
    from .cli import _key_value, add_media_args, add_temporal_args

    p = sub.add_parser("stylize", help="stylize a clip (deflickered by default)",
                       description="Stylize a video or image sequence, frame-accurately, keeping "
                                   "its rate, size and audio.")
    p.add_argument("input", help="video file, image-sequence folder, or pattern like shot_%%05d.png")
    p.add_argument("--style", default=None,
                   help="identity, filter:cartoon, filter:pencil, filter:oil, filter:detail, "
                        "diffusion (default: diffusion with --model, else filter:cartoon)")
    p.add_argument("--param", action="append", type=_key_value, default=[], metavar="KEY=VALUE",
                   help="stylizer parameter, e.g. --param levels=6 (repeatable)")
    add_media_args(p)
    add_temporal_args(p)
    g = p.add_argument_group("diffusion")
    g.add_argument("--model", help="SD1.5-family .safetensors file, diffusers folder, or builtin:tiny")
    g.add_argument("--controlnet", action="append", default=[], metavar="KIND=PATH[@SCALE]",
                   help="ControlNet: depth, softedge, canny, openpose, tile (repeatable)")
    g.add_argument("--annotator", action="append", default=[], type=_key_value, metavar="KIND=PATH",
                   help="annotator weights for a ControlNet kind (depth, softedge, openpose)")
    g.add_argument("--tokenizer", default="", metavar="PATH",
                   help="CLIP tokenizer for single-file checkpoints (folder with vocab.json + "
                        "merges.txt, or bpe_simple_vocab_16e6.txt.gz)")
    g.add_argument("--lora", action="append", default=[], metavar="PATH[@WEIGHT]")
    g.add_argument("--embedding", action="append", default=[], metavar="PATH",
                   help="textual-inversion embedding file")
    g.add_argument("--prompt", default="")
    g.add_argument("--negative-prompt", default="")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--steps", type=int, default=0, help="denoising steps (default 20)")
    g.add_argument("--strength", type=float, help="img2img strength (default 0.75)")
    g.add_argument("--guidance", type=float, help="guidance scale (default 7.5)")
    g.add_argument("--width", type=int, default=0, help="render width (default: source, /8)")
    g.add_argument("--height", type=int, default=0)
    g.add_argument("--scheduler", default="", choices=["", "ddim", "euler", "dpmpp"])
    g.add_argument("--deflicker-steps", default="", metavar="I,J,...",
                   help="denoising steps that run the in-loop deflicker")
    g.add_argument("--no-cross-frame", action="store_true", help="turn cross-frame attention off")
    g.add_argument("--dtype", default="", choices=["", "auto", "float16", "bfloat16", "float32"])
    g.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    g.add_argument("--batch-size", type=int, default=0)
    g.add_argument("--allow-pickle", action="store_true",
                   help="allow .ckpt/.pt/.bin pickle files (they can run code; trusted files only)")
    g.add_argument("--keyframes", metavar="FILE",
                   help="TOML/JSON file with [[keyframes]] (frame, prompt, strength, ...)")
    p.add_argument("--save-job", metavar="JOB.toml",
                   help="also write the job as a TOML file (for `frameloom render` or a farm)")
    p.add_argument("--dry-run", action="store_true", help="print the job as TOML and stop")
    p.set_defaults(func=cmd_stylize)

    p = sub.add_parser("render", help="run a TOML/JSON job file",
                       description="Run a job file: a frameloom.v1.JobSpec written as TOML.")
    p.add_argument("job", help="job file (.toml or .json)")
    p.add_argument("--frames", help="override the job's frame range (farm chunks)")
    p.add_argument("-o", "--output", help="override the job's output")
    p.add_argument("--fps", type=float, help="frame rate of image-sequence inputs")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("info", help="clip metadata, or this machine's devices and codecs")
    p.add_argument("input", nargs="?", help="a clip to describe")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="render the bundled sample clip and a before/after image")
    p.add_argument("outdir", help="folder for demo.mp4 and comparison.png")
    p.add_argument("--style", default="filter:cartoon")
    p.set_defaults(func=cmd_demo)


# ---------------------------------------------------------------------------------------------

def _split_scaled(text: str, sep: str = "@") -> tuple[str, float | None]:
    if sep in text:
        path, _, value = text.rpartition(sep)
        try:
            return path, float(value)
        except ValueError:
            raise UserError(f"bad scale in {text!r}; expected PATH{sep}NUMBER") from None
    return text, None


def _temporal_dict(args) -> dict:
    t = {"mode": "none" if getattr(args, "no_deflicker", False) else args.deflicker_mode}
    for key in ("window", "patch_size", "iterations"):
        if getattr(args, key):
            t[key] = getattr(args, key)
    if args.guide_weight is not None:
        t["guide_weight"] = args.guide_weight
    if args.compensate:
        t["compensate"] = True
    return t


def _output_dict(args) -> dict:
    return {k: v for k, v in {"codec": "" if args.codec == "auto" else args.codec, "crf": args.crf,
                              "no_audio": args.no_audio, "bit_depth": args.bit_depth or 0}.items() if v}


def _frames_dict(text: str | None) -> dict | None:
    if not text:
        return None
    from .media import parse_frame_range

    sel = parse_frame_range(text)
    d = {"start": sel.start, "step": sel.step}
    if sel.end is not None:
        d["end"] = sel.end
    return d


def spec_from_args(args) -> "object":
    style = args.style or ("diffusion" if args.model else "filter:cartoon")
    params = {}
    for key, value in args.param:
        try:
            params[key] = float(value)
        except ValueError:
            raise UserError(f"parameter {key} must be a number, got {value!r}") from None
    data: dict = {"input": args.input, "output": args.output,
                  "style": {"kind": style, "params": params},
                  "temporal": _temporal_dict(args), "output_options": _output_dict(args)}
    frames = _frames_dict(args.frames)
    if frames:
        data["frames"] = frames
    if style == "diffusion":
        if not args.model:
            raise UserError("--style diffusion needs --model (a .safetensors file, a diffusers "
                            "folder, or builtin:tiny)")
        annotators = dict(args.annotator)
        controlnets = []
        for item in args.controlnet:
            if "=" not in item:
                raise UserError(f"bad --controlnet {item!r}; expected KIND=PATH[@SCALE]")
            kind, rest = item.split("=", 1)
            path, scale = _split_scaled(rest)
            cn = {"kind": kind, "model": path}
            if scale is not None:
                cn["scale"] = scale
            if kind in annotators:
                cn["annotator"] = annotators[kind]
            controlnets.append(cn)
        loras = []
        for item in args.lora:
            path, weight = _split_scaled(item)
            loras.append({"path": path, **({"weight": weight} if weight is not None else {})})
        d = {"model": args.model, "prompt": args.prompt, "negative_prompt": args.negative_prompt,
             "seed": args.seed, "steps": args.steps, "width": args.width, "height": args.height,
             "scheduler": args.scheduler, "dtype": args.dtype, "compile": args.compile,
             "batch_size": args.batch_size, "allow_pickle": args.allow_pickle,
             "tokenizer": args.tokenizer,
             "controlnets": controlnets, "loras": loras, "embeddings": args.embedding,
             "cross_frame": {"enabled": not args.no_cross_frame, "first_frame": True,
                             "previous_frames": 1}}
        if args.strength is not None:
            d["strength"] = args.strength
        if args.guidance is not None:
            d["guidance"] = args.guidance
        if args.deflicker_steps:
            try:
                d["deflicker_steps"] = [int(x) for x in args.deflicker_steps.split(",") if x.strip()]
            except ValueError:
                raise UserError(f"bad --deflicker-steps {args.deflicker_steps!r}; e.g. 5,10,15") from None
        data["style"]["diffusion"] = {k: v for k, v in d.items() if v not in ("", 0, False, [], None)}
    elif args.model:
        raise UserError(f"--model only applies to --style diffusion, not {style}")
    if args.keyframes:
        kf = load_spec(args.keyframes) if args.keyframes.endswith((".toml", ".json")) else None
        if kf is None:
            raise UserError(f"--keyframes must be a .toml or .json file, got {args.keyframes}")
        data["keyframes"] = [json.loads(json.dumps(k)) for k in _keyframes_as_dicts(kf)]
    return spec_from_dict(data)


def _keyframes_as_dicts(spec) -> list[dict]:
    from google.protobuf import json_format

    return [json_format.MessageToDict(k, preserving_proto_field_name=True) for k in spec.keyframes]


def cmd_stylize(args) -> int:
    from .jobs.local import run_local

    spec = spec_from_args(args)
    if args.dry_run:
        sys.stdout.write(spec_to_toml(spec))
        return 0
    if args.save_job:
        Path(args.save_job).write_text(spec_to_toml(spec), encoding="utf-8")
    result = run_local(spec, fps=args.fps)
    print(f"wrote {result.frames_written} frames to {spec.output}", file=sys.stderr)
    return 0


def cmd_render(args) -> int:
    from fractions import Fraction

    from .jobs.local import run_local

    spec = load_spec(args.job)
    if args.output:
        spec.output = args.output
    if args.frames:
        spec.frames.CopyFrom(spec_from_dict({"frames": _frames_dict(args.frames)}).frames)
    result = run_local(spec, fps=Fraction(args.fps).limit_denominator(1001) if args.fps else None)
    print(f"wrote {result.frames_written} frames to {spec.output}", file=sys.stderr)
    return 0


def cmd_info(args) -> int:
    from .machine import machine_info

    out = {}
    if args.input:
        from .media import open_source

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
    from .demo import run_demo

    video, comparison = run_demo(args.outdir, style=args.style)
    print(f"wrote {video}\nwrote {comparison}", file=sys.stderr)
    return 0
