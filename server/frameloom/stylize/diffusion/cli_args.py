"""Filling a JobSpec's diffusion fields from command-line values (for ``frameloom stylize``).

Only values the user gave are written, so a job file's settings survive unless overridden::

    fill_diffusion_spec(spec, model="models/dreamshaper_8.safetensors",
                        controlnets=["depth=models/cn_depth.safetensors", "softedge=cn_soft:0.6"],
                        prompt="an oil painting", seed=3, steps=20, keyframes="keys.toml")
"""
from __future__ import annotations

import json
from pathlib import Path

from google.protobuf import json_format

from ...errors import InputNotFound, UserError


def parse_controlnet(text: str) -> dict:
    """``KIND=PATH[:SCALE][@ANNOTATOR]`` -> a ControlNetSpec dict (``depth=cn.safetensors:0.8@dpt/``).

    PATH may be ``builtin:tiny``; SCALE is only taken when the text after the last colon is a number
    (so Windows drive letters and ``builtin:tiny`` survive)."""
    if "=" not in text:
        raise UserError(f"--controlnet {text!r}: expected KIND=PATH (e.g. depth=models/control_depth.safetensors)")
    kind, rest = text.split("=", 1)
    annotator = ""
    if "@" in rest:
        rest, annotator = rest.rsplit("@", 1)
    out = {"kind": kind.strip()}
    head, _, tail = rest.rpartition(":")
    try:
        if head:
            out["scale"] = float(tail)
            rest = head
    except ValueError:
        pass
    out["model"] = rest
    if annotator:
        out["annotator"] = annotator
    return out


def load_keyframes(path: str | Path) -> list[dict]:
    """Keyframes from a TOML (``[[keyframes]]`` tables) or JSON (a list, or ``{"keyframes": [...]}``) file."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFound(f"keyframes file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import tomllib
            data = tomllib.loads(text)
    except ValueError as exc:
        raise UserError(f"cannot parse keyframes file {path}: {exc}") from None
    keys = data.get("keyframes") if isinstance(data, dict) else data
    if not isinstance(keys, list):
        raise UserError(f"{path}: expected a list of keyframes ([[keyframes]] tables in TOML)")
    return keys


def fill_diffusion_spec(spec, *, model: str | None = None, controlnets: list[str] | None = None,
                        loras: list[str] | None = None, embeddings: list[str] | None = None,
                        prompt: str | None = None, negative_prompt: str | None = None,
                        seed: int | None = None, steps: int | None = None, strength: float | None = None,
                        guidance: float | None = None, width: int | None = None, height: int | None = None,
                        scheduler: str | None = None, keyframes: str | None = None,
                        cross_frame: bool | None = None, allow_pickle: bool | None = None):
    """Write the given values into ``spec.style`` (kind "diffusion") and ``spec.keyframes``."""
    from frameloom_client.v1 import frameloom_pb2 as pb

    spec.style.kind = "diffusion"
    d = spec.style.diffusion
    for name, value in (("model", model), ("prompt", prompt), ("negative_prompt", negative_prompt),
                        ("seed", seed), ("steps", steps), ("strength", strength), ("guidance", guidance),
                        ("width", width), ("height", height), ("scheduler", scheduler),
                        ("allow_pickle", allow_pickle)):
        if value is not None:
            setattr(d, name, value)
    if controlnets:
        del d.controlnets[:]
        for text in controlnets:
            json_format.ParseDict(parse_controlnet(text), d.controlnets.add())
    if loras:
        del d.loras[:]
        for text in loras:
            path, _, w = text.partition(":") if not Path(text).exists() else (text, "", "")
            lora = d.loras.add(path=path)
            if w:
                lora.weight = float(w)
    if embeddings:
        d.embeddings[:] = list(embeddings)
    if cross_frame is not None:   # unset: the stylizer's default (on)
        d.cross_frame.enabled = cross_frame
    if keyframes:
        del spec.keyframes[:]
        for k in load_keyframes(keyframes):
            try:
                json_format.ParseDict(k, spec.keyframes.add())
            except json_format.ParseError as exc:
                raise UserError(f"keyframes file {keyframes}: {exc}") from None
    return spec
