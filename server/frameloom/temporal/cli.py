"""``frameloom deflicker`` and ``frameloom propagate``: the temporal engine on its own.

Both build a JobSpec and go through the one runner, like every other command:

- deflicker: the STYLED clip is the runner's source (identity stylizer), and the temporal stage
  reads the ORIGINAL clip in lockstep as its guide;
- propagate: the ORIGINAL clip is the source and the ``propagate`` stylizer carries the keyframes.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..errors import UserError
from ..frames import Frame


def add_parsers(sub) -> None:
    from ..cli import add_media_args, add_temporal_args

    p = sub.add_parser("deflicker", help="remove flicker from a frame-by-frame stylized clip",
                       description="Deflicker STYLED (stylized frame by frame by any tool), guided "
                                   "by the ORIGINAL footage it was made from.")
    p.add_argument("styled", help="the stylized clip (video, folder or pattern)")
    p.add_argument("--guide", required=True, metavar="ORIGINAL",
                   help="the original clip the stylized one was made from (same frames)")
    add_media_args(p)
    add_temporal_args(p, default_on=False)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_deflicker)

    p = sub.add_parser("propagate", help="carry stylized keyframes across a clip",
                       description="Synthesise every frame of ORIGINAL from the nearest stylized "
                                   "keyframes (EbSynth-style), e.g. --keyframe 0=k0.png "
                                   "--keyframe 47=k47.png.")
    p.add_argument("input", metavar="ORIGINAL", help="the original clip (video, folder or pattern)")
    p.add_argument("--keyframe", action="append", required=True, metavar="FRAME=IMAGE",
                   help="a stylized image for a source frame index (repeatable)")
    add_media_args(p)
    p.add_argument("--guide-weight", type=float, help="weight of the original frames in matching")
    p.add_argument("--patch-size", type=int, default=0)
    p.add_argument("--iterations", type=int, default=0, help="PatchMatch iterations per level")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_propagate)


# ---------------------------------------------------------------------------------------------

def _base_dict(args, input_path: str) -> dict:
    from ..commands import _frames_dict, _output_dict

    data = {"input": input_path, "output": args.output, "output_options": _output_dict(args)}
    frames = _frames_dict(args.frames)
    if frames:
        data["frames"] = frames
    return data


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


def propagate_spec(args):
    from ..spec import spec_from_dict

    data = _base_dict(args, args.input)
    params = {}
    for key in ("patch_size", "iterations"):
        if getattr(args, key):
            params[key] = float(getattr(args, key))
    if args.guide_weight is not None:
        params["guide_weight"] = float(args.guide_weight)
    keyframes = [parse_keyframe(k) for k in args.keyframe]
    data["style"] = {"kind": "propagate", "params": params,
                     "keyframe_images": [{"frame": f, "path": p} for f, p in keyframes]}
    data["temporal"] = {"mode": "none", "seed": args.seed}
    return spec_from_dict(data)


def cmd_propagate(args) -> int:
    from ..jobs.local import run_local

    spec = propagate_spec(args)
    result = run_local(spec, fps=args.fps)
    print(f"wrote {result.frames_written} frames to {spec.output}", file=sys.stderr)
    return 0


class GuidedFilter:
    """The runner's temporal stage for ``deflicker``: the runner's source is the stylized clip,
    so the guide comes from the original clip, read in lockstep (one decoded frame held) and
    resized to the stylized frames' size when the two differ."""

    def __init__(self, inner, guide_source):
        self.inner = inner
        self._guide = guide_source
        self._frames: Iterator[Frame] = iter(guide_source)

    def _guide_at(self, index: int, size: tuple[int, int]) -> np.ndarray:
        for frame in self._frames:
            if frame.index == index:
                img = frame.image
                if img.shape[:2] != size:
                    img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
                return img
            if frame.index > index:
                break
        raise UserError(f"the guide clip has no frame {index}; STYLED and ORIGINAL must have the "
                        f"same frames")

    @property
    def context_frames(self) -> int:
        return self.inner.context_frames

    def push(self, index: int, styled: np.ndarray, _source: np.ndarray):
        return self.inner.push(index, styled, self._guide_at(index, styled.shape[:2]))

    def flush(self):
        return self.inner.flush()


def deflicker_spec(args):
    from ..commands import _temporal_dict
    from ..spec import spec_from_dict

    data = _base_dict(args, args.styled)
    data["style"] = {"kind": "identity"}
    data["temporal"] = {**_temporal_dict(args), "seed": args.seed}
    return spec_from_dict(data)


def cmd_deflicker(args) -> int:
    from tqdm import tqdm

    from ..jobs.local import open_job_media
    from ..jobs.runner import run_job
    from ..media import FrameSelection, check_output, open_source
    from ..stylize.filters import Identity
    from .blend import make_temporal_filter

    spec = deflicker_spec(args)
    check_output(args.output, [args.guide])
    source, sink = open_job_media(spec, fps=args.fps)
    selection = FrameSelection.from_proto(spec.frames) if spec.HasField("frames") else None
    guide = open_source(args.guide, selection, fps=args.fps)
    temporal = GuidedFilter(make_temporal_filter(spec.temporal), guide)
    indices = source.indices
    bar = tqdm(total=len(indices) if indices is not None else None, unit="frame", desc="deflicker",
               file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
    try:
        with source:
            result = run_job(spec, source, sink, stylizer=Identity(), temporal=temporal,
                             progress=lambda done, total, stage: bar.update(done - bar.n))
    finally:
        bar.close()
        guide.close()
    print(f"wrote {result.frames_written} frames to {spec.output}", file=sys.stderr)
    return 0

