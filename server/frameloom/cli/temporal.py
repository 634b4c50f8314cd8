"""``frameloom deflicker`` and ``frameloom propagate``: the temporal engine on its own.

Both are jobs like any other, built with ``build_spec`` and run by the one runner:

- deflicker: the STYLED clip is the job's input (style ``identity``) and ``temporal.guide`` names
  the ORIGINAL clip the deflicker matches on, so a server or a bridge runs the same job;
- propagate: the ORIGINAL clip is the input and the ``propagate`` stylizer carries the keyframes.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError
from .args import add_media_args, add_temporal_args, print_written, settings_from_args, spec_from_args


def add_parsers(sub) -> None:
    p = sub.add_parser("deflicker", help="remove flicker from a frame-by-frame stylized clip",
                       description="Deflicker STYLED (stylized frame by frame by any tool), guided "
                                   "by the ORIGINAL footage it was made from.")
    p.add_argument("styled", help="the stylized clip (video, folder or pattern)")
    p.add_argument("--guide", required=True, metavar="ORIGINAL",
                   help="the original clip the stylized one was made from (same frames)")
    add_media_args(p)
    add_temporal_args(p, default_on=False)
    p.add_argument("--seed", type=int, help="PatchMatch seed (default 0)")
    p.set_defaults(func=cmd_deflicker)

    p = sub.add_parser("propagate", help="carry stylized keyframes across a clip",
                       description="Synthesise every frame of ORIGINAL from the nearest stylized "
                                   "keyframes (EbSynth-style), e.g. --keyframe 0=k0.png "
                                   "--keyframe 47=k47.png.")
    p.add_argument("input", metavar="ORIGINAL", help="the original clip (video, folder or pattern)")
    p.add_argument("--keyframe", action="append", required=True, metavar="FRAME=IMAGE",
                   help="a stylized image for a source frame index (repeatable)")
    add_media_args(p)
    p.add_argument("--guide-weight", type=float,
                   help="weight of the original frames in matching (default 10)")
    p.add_argument("--patch-size", type=int, help="PatchMatch patch size, odd (default 5)")
    p.add_argument("--iterations", type=int, help="PatchMatch iterations per level (default 4)")
    p.add_argument("--seed", type=int, help="PatchMatch seed (default 0)")
    p.set_defaults(func=cmd_propagate)


def parse_keyframe(text: str) -> tuple[int, str]:
    frame, sep, path = text.partition("=")
    if not sep or not path:
        raise UserError(f"bad --keyframe {text!r}; expected FRAME=IMAGE, e.g. 0=k0.png")
    try:
        index = int(frame)
    except ValueError:
        raise UserError(f"bad --keyframe {text!r}: {frame!r} is not a frame number") from None
    if not Path(path).is_file():
        raise UserError(f"keyframe image not found: {path}")
    return index, str(Path(path).resolve())


def deflicker_spec(args):
    return spec_from_args(args, input=args.styled, style="identity", guide=args.guide,
                          temporal_seed=args.seed)


def propagate_spec(args):
    from frameloom_client.jobspec import build_spec

    # The propagate stylizer takes its matching settings as style parameters.
    params = {name: getattr(args, name) for name in ("patch_size", "iterations", "guide_weight")
              if getattr(args, name) is not None}
    settings = {k: v for k, v in settings_from_args(args).items() if k not in params}
    settings.update(style="propagate", params=params, deflicker="none", temporal_seed=args.seed,
                    keyframe_images=[parse_keyframe(k) for k in args.keyframe])
    return build_spec(settings, base_dir=os.getcwd())


def _run(spec, args) -> int:
    from ..jobs.local import run_local

    result = run_local(spec, fps=args.fps)
    print_written(result, args.output)
    return 0


def cmd_deflicker(args) -> int:
    return _run(deflicker_spec(args), args)


def cmd_propagate(args) -> int:
    return _run(propagate_spec(args), args)
