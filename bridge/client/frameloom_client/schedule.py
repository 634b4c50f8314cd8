"""The keyframe schedule: the settings in force at each source frame of a job.

Numbers (strength, guidance, ControlNet scales, stylizer parameters) are interpolated linearly
between keyframes and hold their value before the first and after the last. Prompts and seeds
cannot be averaged as values, so a frame carries the prompt/seed of the keyframe before it, the
one after it, and ``blend`` in [0, 1]: the diffusion engine interpolates the text embeddings (and
the seeds' noise) by ``blend``, so a prompt change dissolves instead of jumping.

Examples:
    >>> from frameloom_client.jobspec import build_spec
    >>> spec = build_spec(style="filter:cartoon", params={"levels": 4},
    ...                   keyframes=[{"frame": 0, "params": {"levels": 2}},
    ...                              {"frame": 10, "params": {"levels": 12}}])
    >>> Schedule(spec).at(5).params["levels"]
    7.0
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from .errors import UserError
from .v1 import frameloom_pb2 as pb

DEFAULT_STRENGTH = 0.75
DEFAULT_GUIDANCE = 7.5


@dataclass(frozen=True)
class FrameSettings:
    """Settings in force at one frame, resolved from the job's keyframes (see the module)."""

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
        kinds = [cn.kind for cn in d.controlnets]
        for cn in d.controlnets:
            # Keyframes name a ControlNet by its kind; two of one kind keep their own base
            # scales (the stylizer's), and a keyframe for that kind sets both.
            if kinds.count(cn.kind) == 1:
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
