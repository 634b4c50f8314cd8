"""JobSpec: loading from TOML/JSON, validation, and the keyframe schedule per frame.

The proto message ``frameloom.v1.JobSpec`` is the one job description. A job file is that message
written as a table, parsed with protobuf's own JSON mapping, so the file and the proto cannot drift
apart and an unknown key is an error that names it.
"""
from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import json_format

from frameloom_client.v1 import frameloom_pb2 as pb

from .errors import InputNotFound, UserError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

JobSpec = pb.JobSpec

DEFAULT_STRENGTH = 0.75
DEFAULT_GUIDANCE = 7.5


def spec_from_dict(data: dict) -> pb.JobSpec:
    """Build a JobSpec from a plain dict (a parsed TOML/JSON job file)."""
    spec = pb.JobSpec()
    try:
        json_format.ParseDict(data, spec, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise UserError(f"invalid job spec: {exc}") from None
    return spec


def load_spec(path: str | Path) -> pb.JobSpec:
    """Read a TOML (``.toml``) or JSON job file. Relative media paths resolve against its folder."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFound(f"job file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"cannot parse job file {path}: {exc}") from None
    spec = spec_from_dict(data)
    base = path.resolve().parent
    for attr in ("input", "output"):
        value = getattr(spec, attr)
        if value and not Path(value).is_absolute() and not value.startswith("builtin:"):
            setattr(spec, attr, str(base / value))
    return spec


def spec_to_dict(spec: pb.JobSpec) -> dict:
    return json_format.MessageToDict(spec, preserving_proto_field_name=True)


def spec_to_toml(spec: pb.JobSpec) -> str:
    """Write a JobSpec as a TOML job file (the inverse of :func:`load_spec`)."""
    return _toml_message(spec, prefix="").lstrip("\n")


def _toml_scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, bytes):
        raise UserError("a job with embedded image bytes cannot be written as TOML; use paths")
    return json.dumps(v)


def _toml_message(msg, prefix: str) -> str:
    scalars, tables = [], []
    for fd, value in msg.ListFields():
        name = f"{prefix}{fd.name}"
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            tables.append(f"\n[{name}]\n" + "".join(
                f"{json.dumps(str(k))} = {_toml_scalar(v)}\n" for k, v in sorted(value.items())))
        elif fd.message_type is not None and fd.is_repeated:
            tables.extend(f"\n[[{name}]]\n" + _toml_message(item, f"{name}.").lstrip("\n")
                          for item in value)
        elif fd.message_type is not None:
            tables.append(f"\n[{name}]\n" + _toml_message(value, f"{name}.").lstrip("\n"))
        elif fd.is_repeated:
            scalars.append(f"{fd.name} = [{', '.join(_toml_scalar(v) for v in value)}]\n")
        else:
            scalars.append(f"{fd.name} = {_toml_scalar(value)}\n")
    return "".join(scalars) + "".join(tables)


# ---------------------------------------------------------------------------------------------
# Keyframe schedule
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FrameSettings:
    """Settings in force at one frame, resolved from the job's keyframes.

    Numbers are interpolated linearly between keyframes. Prompts and seeds cannot be averaged as
    values, so the frame carries the prompt/seed of the keyframe before it, the one after it, and
    ``blend`` in [0, 1]: the diffusion engine interpolates the text embeddings (and the seeds'
    noise) by ``blend``, so a prompt change dissolves instead of jumping.
    """

    index: int
    prompt: str = ""
    negative_prompt: str = ""
    next_prompt: str = ""
    next_negative_prompt: str = ""
    blend: float = 0.0
    strength: float = DEFAULT_STRENGTH
    guidance: float = DEFAULT_GUIDANCE
    seed: int = 0
    next_seed: int = 0
    controlnet_scales: dict[str, float] = field(default_factory=dict)
    params: dict[str, float] = field(default_factory=dict)


class Schedule:
    """Per-frame settings of a job: base values from the spec, overridden by its keyframes."""

    def __init__(self, spec: pb.JobSpec):
        d = spec.style.diffusion
        self._base_prompt = d.prompt
        self._base_negative = d.negative_prompt
        self._base_seed = int(d.seed)
        self._base_numbers: dict[str, float] = {
            "strength": d.strength if d.HasField("strength") else DEFAULT_STRENGTH,
            "guidance": d.guidance if d.HasField("guidance") else DEFAULT_GUIDANCE,
        }
        for cn in d.controlnets:
            self._base_numbers[f"cn:{cn.kind}"] = cn.scale if cn.HasField("scale") else 1.0
        for name, value in spec.style.params.items():
            self._base_numbers[f"p:{name}"] = value
        keys = sorted(spec.keyframes, key=lambda k: k.frame)
        frames = [k.frame for k in keys]
        if len(set(frames)) != len(frames):
            raise UserError("two keyframes sit on the same frame")
        # One track per setting: the keyframes that set it, as (frame, value).
        self._tracks: dict[str, list[tuple[int, object]]] = {}
        for k in keys:
            for name in ("prompt", "negative_prompt", "seed", "strength", "guidance"):
                if k.HasField(name):
                    self._tracks.setdefault(name, []).append((k.frame, getattr(k, name)))
            for kind, scale in k.controlnet_scales.items():
                self._tracks.setdefault(f"cn:{kind}", []).append((k.frame, float(scale)))
            for name, value in k.params.items():
                self._tracks.setdefault(f"p:{name}", []).append((k.frame, float(value)))

    def _around(self, name: str, index: int, default):
        """(value before, value after, t) for a track at ``index``; holds at the ends."""
        track = self._tracks.get(name)
        if not track:
            return default, default, 0.0
        frames = [f for f, _ in track]
        pos = bisect.bisect_right(frames, index)
        if pos == 0:
            return track[0][1], track[0][1], 0.0
        if pos == len(track):
            return track[-1][1], track[-1][1], 0.0
        (f0, v0), (f1, v1) = track[pos - 1], track[pos]
        return v0, v1, (index - f0) / (f1 - f0)

    def _number(self, name: str, index: int, default: float) -> float:
        a, b, t = self._around(name, index, default)
        return float(a) + (float(b) - float(a)) * t

    def at(self, index: int) -> FrameSettings:
        prompt, next_prompt, tp = self._around("prompt", index, self._base_prompt)
        neg, next_neg, tn = self._around("negative_prompt", index, self._base_negative)
        seed, next_seed, ts = self._around("seed", index, self._base_seed)
        # One blend drives prompt and seed dissolves; tracks that do not change at this frame
        # have a == b, so the shared t is harmless for them.
        blend = max(tp if prompt != next_prompt else 0.0, tn if neg != next_neg else 0.0,
                    ts if seed != next_seed else 0.0)
        numbers = {n: self._number(n, index, v) for n, v in self._base_numbers.items()}
        for name in self._tracks:
            if name.startswith(("cn:", "p:")) and name not in numbers:
                numbers[name] = self._number(name, index, 0.0)
        return FrameSettings(
            index=index, prompt=prompt, negative_prompt=neg, next_prompt=next_prompt,
            next_negative_prompt=next_neg, blend=blend,
            strength=numbers["strength"], guidance=numbers["guidance"],
            seed=int(seed), next_seed=int(next_seed),
            controlnet_scales={n[3:]: v for n, v in numbers.items() if n.startswith("cn:")},
            params={n[2:]: v for n, v in numbers.items() if n.startswith("p:")},
        )


def validate(spec: pb.JobSpec) -> None:
    """Checks that need no media or models. Raises :class:`UserError` naming the field."""
    if spec.HasField("frames"):
        r = spec.frames
        if r.start < 0:
            raise UserError(f"frames.start must be >= 0, got {r.start}")
        if r.HasField("end") and r.end < r.start:
            raise UserError(f"frames.end ({r.end}) is before frames.start ({r.start})")
        if r.step < 0:
            raise UserError(f"frames.step must be >= 1, got {r.step}")
    d = spec.style.diffusion
    if d.HasField("strength") and not 0.0 <= d.strength <= 1.0:
        raise UserError(f"strength must be in [0, 1], got {d.strength}")
    if d.steps < 0 or d.steps > 1000:
        raise UserError(f"steps must be in 1..1000, got {d.steps}")
    for k in spec.keyframes:
        if k.frame < 0:
            raise UserError(f"keyframe frame must be >= 0, got {k.frame}")
        if k.HasField("strength") and not 0.0 <= k.strength <= 1.0:
            raise UserError(f"keyframe {k.frame}: strength must be in [0, 1], got {k.strength}")
    if spec.temporal.window < 0:
        raise UserError(f"temporal.window must be >= 0, got {spec.temporal.window}")
    if not all(math.isfinite(v) for v in spec.style.params.values()):
        raise UserError("style.params must be finite numbers")
