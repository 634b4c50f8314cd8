"""The deflicker test set: real photographs moved by known motion, stylized frame by frame with
one of frameloom's embedded filters, then given the flicker a per-frame stylizer makes.

Every kind of shot the deflicker meets is here: textured and smooth content (sky, a blurred
background), pans, a roll, slow push-ins and pull-outs (about 0.6 % scale per frame) and a
moving object over a background. The motion is exact (``synthclips.make_clip``), so the warp
error is too::

    case = make_case(SHOTS["sky-zoom-in-object"], size=(112, 112), n_frames=10)
    case.flickered            # what the deflicker gets: list of (H, W, 3) float32 in [0, 1]
    case.clip.frames          # the guide (the original footage)
    score(outputs, case)      # warp error and PSNR vs the clean stylization, before and after

The flicker (``FLICKER``) is :func:`synthclips.flicker` with large, soft brightness blotches
(a 3x3 grid, std 0.08) on top of its per-frame colour gain/offset and fine texture noise: the
kind of flicker that survives a deflicker when matching follows it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthclips import Clip, flicker, make_clip, psnr, warp_error

__all__ = ["Shot", "Case", "SHOTS", "FLICKER", "STYLE", "make_case", "stylize", "score"]

STYLE = "filter:detail"   # stable frame to frame on its own, so the flicker we add is the flicker
FLICKER = dict(blotch_cells=3, blotch=0.08, gray_blotches=True, noise=0.05)


@dataclass(frozen=True)
class Shot:
    name: str
    content: str        # "textured" or "smooth"
    motion: str
    params: dict        # make_clip keyword arguments


def _shot(name, content, motion, **params) -> Shot:
    params.setdefault("foreground", None)
    params.setdefault("pan", (0.0, 0.0))
    params.setdefault("zoom", 0.0)
    params.setdefault("rotation", 0.0)
    return Shot(name, content, motion, params)


SHOTS = {s.name: s for s in (
    _shot("coffee-pan", "textured", "pan", background="coffee", pan=(1.6, 0.9)),
    _shot("astronaut-pan-roll", "textured", "pan + roll 0.6 deg/frame", background="astronaut",
          pan=(1.5, 0.7), rotation=0.6),
    _shot("coffee-zoom-in", "textured", "zoom in +0.6 %/frame", background="coffee", zoom=0.006),
    _shot("astronaut-zoom-out", "textured", "zoom out -0.6 %/frame", background="astronaut",
          zoom=-0.006),
    _shot("sky-pan", "smooth", "pan", background="rocket", pan=(1.3, 0.4)),
    _shot("sky-zoom-in-object", "smooth", "zoom in +0.6 %/frame + moving object",
          background="rocket", foreground="coffee", zoom=0.006, object_speed=(-2.0, 1.0),
          object_spin=0.0),
    _shot("sky-zoom-out", "smooth", "zoom out -0.6 %/frame", background="rocket", zoom=-0.006),
    _shot("cat-zoom-in", "smooth", "zoom in +0.6 %/frame + slow pan", background="chelsea",
          pan=(0.3, 0.0), zoom=0.006),
    _shot("cat-object", "smooth", "static camera, moving object", background="chelsea",
          foreground="coffee", object_speed=(-2.5, 1.5), object_spin=-2.0),
)}


@dataclass
class Case:
    shot: Shot
    clip: Clip
    clean: list[np.ndarray]
    flickered: list[np.ndarray]


def stylize(frames: list[np.ndarray], style: str = STYLE) -> list[np.ndarray]:
    """Frame-by-frame stylization with one of frameloom's own stylizers (``style.kind``)."""
    from frameloom.frames import Frame
    from frameloom.stylize import make_stylizer
    from frameloom_client.schedule import FrameSettings
    from frameloom_client.v1 import frameloom_pb2 as pb

    stylizer = make_stylizer(pb.JobSpec(style=pb.StyleSpec(kind=style)))
    return stylizer.stylize([Frame(i, i / 24.0, f) for i, f in enumerate(frames)],
                            [FrameSettings(index=i) for i in range(len(frames))])


def make_case(shot: Shot, size: tuple[int, int] = (112, 112), n_frames: int = 10,
              seed: int = 1, style: str = STYLE) -> Case:
    clip = make_clip(n_frames=n_frames, size=size, seed=seed, **shot.params)
    clean = stylize(clip.frames, style)
    return Case(shot, clip, clean, flicker(clean, seed=seed + 1, **FLICKER))


def score(outputs: list[np.ndarray], case: Case) -> dict:
    """Warp error (Lai et al.) and PSNR against the clean stylization, of the flickered input and
    of ``outputs``; ``ratio`` = warp after / before, ``gain`` = PSNR after - before (dB)."""
    w_in, w_out = warp_error(case.flickered, case.clip), warp_error(outputs, case.clip)
    clean = np.stack(case.clean)
    p_in, p_out = psnr(np.stack(case.flickered), clean), psnr(np.stack(outputs), clean)
    return {"warp_in": w_in, "warp_out": w_out, "ratio": w_out / w_in,
            "psnr_in": p_in, "psnr_out": p_out, "gain": p_out - p_in}
